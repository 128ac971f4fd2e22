"""The engine: dedupe, lateness, labels, tiers, reasons, actions, snapshots, dead letters."""

from __future__ import annotations

import base64

import pytest

from streamer.core.engine import Engine
from streamer.core.features import FEATURES
from streamer.core.model import RiskModel, Scorer, sign
from streamer.settings import Settings
from tests.conftest import event, opened, raw, ts_at

KEY = Settings().model_key_bytes


def stress_scorer(version: int = 5) -> Scorer:
    """A hand-made linear scorer: falling industry orders and high utilization are risky."""
    coef = {"industry_orders": -8.0, "utilization": 3.0}
    means = {"industry_orders": 0.0, "utilization": 0.0}
    return Scorer(version, coef, means, intercept=-4.0)


def feed(engine: Engine, *events_: dict):
    return [engine.process_raw(raw(e)) for e in events_]


def test_duplicate_event_id_is_skipped_and_changes_nothing():
    engine = Engine()
    e = event("overdue_status", 5, loan_id="L1", days_past_due=35, overdue_amount=100)
    first, second = feed(engine, e, e)
    assert first.outcome == "ok" and first.alert is not None
    assert second.outcome == "duplicate" and second.alert is None and second.score is None
    assert engine.counts[("overdue_status", "duplicate")] == 1
    assert engine.states["b1"].episodes == 1


def test_late_event_is_counted_late_and_still_applied():
    engine = Engine(Settings(allowed_lateness_s=3600))
    fx = feed(engine,
              event("transaction", 10, amount=100, direction="in", category="salary"),
              event("transaction", 9, amount=50, direction="in", category="salary"))
    assert [f.outcome for f in fx] == ["ok", "late"]
    assert engine.states["b1"].income_var.mean.n == 2


def test_hard_rule_raises_then_escalates_then_resolves_after_cooldown():
    engine = Engine(Settings(cooldown_days=14))
    fx = feed(engine,
              opened(),
              event("overdue_status", 1, loan_id="L1", days_past_due=3, overdue_amount=10),
              event("overdue_status", 14, loan_id="L1", days_past_due=16, overdue_amount=10),
              event("overdue_status", 26, loan_id="L1", days_past_due=30, overdue_amount=10),
              event("overdue_status", 27, loan_id="L1", days_past_due=31, overdue_amount=10),
              event("overdue_status", 30, loan_id="L1", days_past_due=0, overdue_amount=0),
              event("transaction", 35, amount=5, direction="out", category="groceries"),
              event("transaction", 41, amount=5, direction="out", category="groceries"))
    kinds = [(f.alert.kind, f.alert.tier) if f.alert else None for f in fx]
    # a few days late: no alert; 15+ DPD: watch; 30+: high; cured: resolved after cooldown
    assert kinds == [None, None, ("raised", "watch"), ("escalated", "high"), None, None, None,
                     ("resolved", "none")]
    resolved = fx[-1].alert
    assert resolved.previous_tier == "high" and resolved.recommended_action == "none"
    assert fx[3].alert.reasons[0].feature == "dpd_now"
    # in words and units: a collections agent reads the rule and the fact behind it
    dpd = fx[3].alert.reasons[0]
    assert (dpd.natural_value, dpd.unit, dpd.text, dpd.direction) == (
        30.0, "days", "30 days past due", "raises")
    assert [f.alert.decided_by for f in fx if f.alert] == ["dpd_floor", "dpd_floor",
                                                          "default_score"]


def test_a_borrower_late_every_month_is_alerted_once_not_every_month():
    """The cooldown counts from the last day the tier was earned, not from when it was
    entered: a borrower 16 days late every month stays `watch` (one alert), and is
    resolved only after a quiet spell as long as the cooldown."""
    engine = Engine(Settings(cooldown_days=30))
    month = [event("overdue_status", d, loan_id="L1", days_past_due=dpd,
                   overdue_amount=10 * (dpd > 0))
             for start in (14, 44, 74) for d, dpd in ((start, 16), (start + 6, 0))]
    quiet = [event("transaction", d, amount=5, direction="out", category="groceries")
             for d in (100, 105)]
    fx = feed(engine, opened(), *month, *quiet)
    alerts = [(f.alert.kind, f.alert.tier) for f in fx if f.alert]
    # 30 quiet days after the last 16-DPD day (74) is day 104: resolved at the first event
    # after it, and not on day 100
    assert alerts == [("raised", "watch"), ("resolved", "none")]
    assert fx[-1].alert is not None and fx[-2].alert is None


def test_score_tiers_have_hysteresis():
    engine = Engine(Settings(cooldown_days=14, model_min_history_days=0), scorer=stress_scorer())
    macro = lambda d, v: event("macro_indicator", d, borrower=None, scope="industry",  # noqa: E731
                               scope_id="manufacturing", name="orders_index", value=v)
    touch = lambda d: event("transaction", d, amount=5, direction="out", category="groceries")  # noqa: E731
    fx = feed(engine, macro(0, 100), opened(industry="manufacturing"), macro(1, 55), touch(2))
    assert (fx[-1].alert.kind, fx[-1].alert.tier) == ("raised", "high")
    # Orders recover a little: the score falls below `high`'s entry (0.25) but stays
    # inside its hysteresis band (0.7 x 0.25): no alert, even after the cooldown.
    fx = feed(engine, macro(40, 63), touch(41))
    s = engine.states["b1"]
    assert 0.175 <= s.score < 0.25 and fx[-1].alert is None and s.tier == "high"
    # A real recovery leaves the tier.
    fx = feed(engine, macro(80, 95), touch(81))
    assert (fx[-1].alert.kind, fx[-1].alert.tier) == ("resolved", "none")


def test_reasons_are_the_signed_top_contributions_and_the_action_fits_the_cause():
    engine = Engine(Settings(model_min_history_days=0), scorer=stress_scorer())
    fx = feed(engine,
              event("macro_indicator", 0, borrower=None, scope="industry",
                    scope_id="manufacturing", name="orders_index", value=100),
              opened(industry="manufacturing", credit_limit=10000),
              event("macro_indicator", 1, borrower=None, scope="industry",
                    scope_id="manufacturing", name="orders_index", value=50),
              event("transaction", 2, amount=5, direction="out", category="groceries"))
    alert = fx[-1].alert
    top = alert.reasons[0]
    assert top.feature == "industry_orders" and top.value < 0 and top.contribution > 0
    assert top.text == "manufacturing orders -50% against their usual level"
    assert (top.natural_value, top.unit, top.direction) == (-50.0, "%", "raises")
    assert alert.decided_by == "default_score"
    contributions = [r.contribution for r in alert.reasons]
    assert contributions == sorted(contributions, reverse=True)
    assert alert.recommended_action == "grace_period"  # a shock, not yet overdue: an offer
    assert alert.model_version == 5


def test_alert_ids_are_deterministic_across_engines():
    evs = [opened(), event("overdue_status", 3, loan_id="L1", days_past_due=31,
                           overdue_amount=9, event_id="fixed-1")]
    a = feed(Engine(), *evs)[-1].alert
    b = feed(Engine(), *evs)[-1].alert
    assert a.alert_id == b.alert_id
    assert a.alert_id != feed(Engine(), opened(), event(
        "overdue_status", 3, loan_id="L1", days_past_due=31, overdue_amount=9,
        event_id="fixed-2"))[-1].alert.alert_id


def test_labels_mature_negative_after_horizon_and_positive_on_default():
    engine = Engine(Settings(snapshot_interval_days=7, label_horizon_days=90))
    fx = feed(engine, opened(),
              *[event("transaction", d, amount=100, direction="in", category="salary")
                for d in range(0, 130, 10)])
    negatives = [x for f in fx for x in f.examples]
    assert negatives and all(x.label == 0 for x in negatives)
    assert negatives[0].ts == "2026-01-01T00:00:00Z"
    assert set(negatives[0].features) == set(FEATURES)
    pending_before = len(engine.states["b1"].pending)
    fx = feed(engine, event("overdue_status", 120, loan_id="L1", days_past_due=90,
                            overdue_amount=500))
    assert fx[0].examples == []  # labeled now, released when each horizon has passed
    # While at 90+ DPD no new snapshot is taken.
    fx = feed(engine, event("overdue_status", 140, loan_id="L1", days_past_due=110,
                            overdue_amount=500),
              event("overdue_status", 215, loan_id="L1", days_past_due=185,
                    overdue_amount=500))
    positives = [x for f in fx for x in f.examples]
    assert len(positives) == pending_before and all(x.label == 1 for x in positives)
    assert engine.states["b1"].pending == []


def test_forged_or_unsigned_snapshots_are_refused_and_the_model_kept():
    engine = Engine(scorer=stress_scorer(version=5))
    model = RiskModel()
    good = sign(model.dumps(version=9), KEY)
    forged = sign(model.dumps(version=10), b"not-the-key-" * 3)
    assert not engine.load_snapshot(forged)
    assert not engine.load_snapshot(model.dumps(version=11))  # unsigned pickle
    assert not engine.load_snapshot(good[:-3] + b"evil")
    assert engine.snapshots_refused == 3 and engine.scorer.version == 5
    assert engine.load_snapshot(good) and engine.scorer.version == 9
    assert engine.load_snapshot(sign(model.dumps(version=7), KEY))  # older: verified, ignored
    assert engine.scorer.version == 9


def test_bad_message_becomes_a_dead_letter_and_the_stream_goes_on():
    engine = Engine()
    bad = b'{"event_id":"x","type":"payment","borrower_id":"b1"}'
    fx = engine.process_raw(bad, "credit.repayments", 2, 41)
    dl = fx.deadletter
    assert fx.outcome == "invalid"
    assert (dl.topic, dl.partition, dl.offset) == ("credit.repayments", 2, 41)
    assert base64.b64decode(dl.raw) == bad and "missing required field" in dl.error
    ok = engine.process_raw(raw(opened()))
    assert ok.outcome == "ok" and engine.counts[("unknown", "invalid")] == 1


def test_events_far_in_the_future_are_refused():
    engine = Engine()
    engine._clock = lambda: 1_767_225_600.0  # 2026-01-01
    fx = engine.process_raw(raw({**opened(), "ts": "2036-01-01T00:00:00Z"}))
    assert fx.outcome == "invalid" and "ahead of the stream" in fx.deadletter.error
    assert engine.process_raw(raw(opened())).outcome == "ok"


def test_portfolio_delinquency_rate_follows_borrowers():
    engine = Engine()
    before = engine.context.delinquency_rate("industry", "retail")
    feed(engine, *[opened(f"b{i}") for i in range(20)],
         *[event("overdue_status", 40, borrower=f"b{i}", loan_id="L", days_past_due=31,
                 overdue_amount=1) for i in range(10)])
    during = engine.context.delinquency_rate("industry", "retail")
    feed(engine, *[event("overdue_status", 50, borrower=f"b{i}", loan_id="L", days_past_due=0,
                         overdue_amount=0) for i in range(10)])
    after = engine.context.delinquency_rate("industry", "retail")
    assert during > 0.1 > before and after < during
    assert engine.context.portfolio[("industry", "retail")] == [20, 0]


def test_a_hard_rule_alert_names_dpd_first_even_when_the_model_ranks_it_lower():
    scorer = Scorer(5, {"industry_orders": -8.0, "dpd_now": 0.1},
                    {"industry_orders": 0.0, "dpd_now": 0.0}, intercept=-9.0)
    engine = Engine(scorer=scorer)
    fx = feed(engine,
              event("macro_indicator", 0, borrower=None, scope="industry",
                    scope_id="retail", name="orders_index", value=100),
              opened(),
              event("macro_indicator", 1, borrower=None, scope="industry",
                    scope_id="retail", name="orders_index", value=60),
              event("overdue_status", 20, loan_id="L1", days_past_due=16, overdue_amount=10))
    alert = fx[-1].alert
    assert (alert.kind, alert.tier) == ("raised", "watch") and alert.score < 0.1
    assert [r.feature for r in alert.reasons][:2] == ["dpd_now", "industry_orders"]
    assert alert.reasons[0].contribution > 0  # the model's own term, not a placeholder



def test_early_label_is_a_miss_whose_spell_ends_in_default_and_a_cured_one_is_not():
    engine = Engine(Settings(snapshot_interval_days=7, label_horizon_days=90))
    salary = lambda d: event("transaction", d, amount=100, direction="in", category="salary")  # noqa: E731
    # Snapshots on days 0, 10, ..., 40, then one at 35 DPD on day 55; cured on day 60,
    # never 90+ DPD; then a year of salaries.
    fx = feed(engine, opened(), *[salary(d) for d in range(0, 50, 10)],
              event("overdue_status", 55, loan_id="L1", days_past_due=35, overdue_amount=9),
              event("overdue_status", 60, loan_id="L1", days_past_due=0, overdue_amount=0),
              *[salary(d) for d in range(70, 400, 10)])
    ex = [x for f in fx for x in f.examples]
    assert ex and all(x.label == 0 for x in ex)  # nobody reached 90+ DPD
    assert ex[5].ts == ts_at(55) and ex[5].early_label is None  # taken while overdue
    # the spell was cured: its miss does not make an early positive
    assert all(x.early_label == 0 for i, x in enumerate(ex) if i != 5)
    # the snapshots that saw the miss waited for the spell to close (60 days current)
    released = [(x.ts, d) for d, f in zip([None] * 7 + list(range(70, 400, 10)), fx)
                for x in f.examples]
    assert dict(released)[ts_at(0)] == 130  # horizon passed on day 90; spell closed day 120+


def test_early_label_waits_for_the_spell_and_counts_only_its_misses():
    from streamer.core.labels import Labeler
    from streamer.core.state import BorrowerState

    lab, day = Labeler(interval_days=7, horizon_days=90), 86_400.0
    s = BorrowerState.new()
    for d in (0, 50, 150):
        lab.maybe_snapshot(s, now=d * day, score=0.1, model_version=1, vector=b"", dpd=0)
    # an early spell (days 10-12) cured and closed for good by day 73
    assert lab.mature(s, 10 * day, dpd=1) == [] and lab.mature(s, 12 * day, dpd=0) == []
    # day 0 saw that spell's miss: a negative once its horizon passed and the spell closed
    assert [(m.ts, m.early) for m in lab.mature(s, 100 * day, dpd=0)] == [(0.0, 0)]
    # the spell that defaults: first miss on day 170, 90 DPD on day 259
    out = []
    for d in range(170, 259):
        out += lab.mature(s, d * day, dpd=d - 169)
    # day 50's window (to day 140) held no miss: a negative, released after its horizon;
    # day 150's holds the spell's first miss: past its horizon (day 240) it waits
    assert [(m.ts / day, m.label, m.early) for m in out] == [(50.0, 0, 0)]
    out = lab.mature(s, 259 * day, dpd=90)
    # 90+ DPD after its horizon: not a default within 90 days, but an early positive
    assert [(m.ts / day, m.label, m.early) for m in out] == [(150.0, 0, 1)]
    assert s.pending == []
    # a spell never resolved is a negative MAX_WAIT_DAYS after the horizon
    s = BorrowerState.new()
    lab.maybe_snapshot(s, now=0.0, score=0.1, model_version=1, vector=b"", dpd=0)
    released = {}
    for d in range(30, 271, 5):  # overdue all along, never 90 DPD (part-payments)
        if d == 40:  # a snapshot of the spell itself (overdue): no early label
            lab.maybe_snapshot(s, now=d * day, score=0.1, model_version=1, vector=b"", dpd=40)
        released.update({m.ts / day: (d, m.early) for m in lab.mature(s, d * day, dpd=40)})
    # the waiting snapshot does not hold back the later one: released at its horizon
    assert released == {40.0: (135, None)}
    assert [(m.label, m.early) for m in lab.mature(s, 271 * day, dpd=40)] == [(0, 0)]


def test_states_written_before_the_early_target_read_the_same():
    from streamer.core.labels import Labeler
    from streamer.core.state import BorrowerState, Pending

    s = BorrowerState.new()
    s.pending = [Pending(-1, 0.0, 0.1, 1, b""), Pending(1, 86_400.0, 0.2, 1, b"")]
    done = Labeler(horizon_days=90).mature(s, now=200 * 86_400.0, dpd=0)
    assert [(m.label, m.early) for m in done] == [(0, 0), (1, 1)]


def test_an_alert_the_early_score_raised_gives_its_score_and_its_reasons():
    engine = Engine(scorer=stress_scorer())
    # the early model watches utilization only; industry orders stay steady (low score)
    engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
    fx = feed(engine, opened(credit_limit=10000),
              event("loan_drawn", 31, loan_id="L1", principal=9000, term_months=6,
                    daily_rate=0.0005, method="equal_installment"))
    alert, score = fx[-1].alert, fx[-1].score
    assert (alert.kind, alert.tier) == ("raised", "high")
    assert alert.score < 0.25 <= 0.4 <= alert.early_score
    assert alert.reasons[0].feature == "utilization" and alert.reasons[0].contribution > 0
    assert alert.reasons[0].text == "90% of the credit limit in use"
    assert alert.decided_by == "early_score"
    assert score.early_score == alert.early_score
    # without a ready early model only the default score speaks (0.21: `watch`)
    quiet = Engine(scorer=stress_scorer())
    fx = feed(quiet, opened(credit_limit=10000), event(
        "loan_drawn", 31, loan_id="L1", principal=9000, term_months=6, daily_rate=0.0005,
        method="equal_installment"))
    assert fx[-1].alert.tier == "watch" and fx[-1].alert.early_score is None
    assert fx[-1].score.early_score is None


def test_an_account_has_no_early_score_in_its_first_month():
    """STREAMER_EARLY_MIN_HISTORY_DAYS (30): the same draw a day after opening is only
    the default score's `watch`, and no early score is published; with 0 days it is."""
    for min_days, tier in ((30.0, "watch"), (0.0, "high")):
        engine = Engine(Settings(early_min_history_days=min_days, model_min_history_days=0),
                        scorer=stress_scorer())
        engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
        fx = feed(engine, opened(credit_limit=10000), event(
            "loan_drawn", 1, loan_id="L1", principal=9000, term_months=6, daily_rate=0.0005,
            method="equal_installment"))
        assert fx[-1].alert.tier == tier
        assert (fx[-1].score.early_score is None) == (min_days == 30.0)
    # an account whose opening was never seen: its history starts with its first flow
    engine = Engine(scorer=stress_scorer())
    engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
    fx = feed(engine, event("limit_changed", 40, credit_limit=10000),
              event("loan_drawn", 41, loan_id="L1", principal=9000, term_months=6,
                    daily_rate=0.0005, method="equal_installment"))
    assert all(f.alert is None or f.alert.tier != "high" for f in fx)
    assert fx[-1].score.early_score is None
    fx = feed(engine, event("transaction", 72, amount=5, direction="out", category="groceries"))
    assert fx[-1].score.early_score is not None and fx[-1].alert.tier == "high"


def test_the_default_score_raises_no_tier_in_an_accounts_first_month():
    """STREAMER_MODEL_MIN_HISTORY_DAYS (30): at opening the model knows only the
    application. Its score is published; its tier waits. Hard rules do not."""
    draw = dict(loan_id="L1", principal=9000, term_months=6, daily_rate=0.0005,
                method="equal_installment")
    engine = Engine(scorer=stress_scorer())
    fx = feed(engine, opened(credit_limit=10000), event("loan_drawn", 1, **draw))
    assert fx[-1].alert is None and fx[-1].score.score > 0.10  # `watch`'s score, no tier
    fx = feed(engine, event("transaction", 31, amount=5, direction="out", category="groceries"))
    assert (fx[-1].alert.tier, fx[-1].alert.decided_by) == ("watch", "default_score")
    young = Engine(scorer=stress_scorer())
    fx = feed(young, opened(credit_limit=10000),
              event("overdue_status", 5, loan_id="L1", days_past_due=31, overdue_amount=9))
    assert (fx[-1].alert.tier, fx[-1].alert.decided_by) == ("high", "dpd_floor")
    # an account opened before go-live (its opening never seen): the history we have seen
    old = Engine(scorer=stress_scorer())
    fx = feed(old, event("limit_changed", 0, credit_limit=10000), event("loan_drawn", 1, **draw),
              event("transaction", 20, amount=5, direction="out", category="groceries"))
    assert all(f.alert is None for f in fx)
    fx = feed(old, event("transaction", 31, amount=5, direction="out", category="groceries"))
    assert fx[-1].alert.tier == "watch"


def test_the_early_score_raises_no_borrower_who_missed_a_payment_lately():
    """A borrower who missed an installment and paid it is current again, but the early
    score does not raise them (`policy.early_may_raise`): the same draw raises a borrower
    with no recent miss to `high`, and, a half year after the miss, this one too."""
    def book(miss: bool, draw_day: int):
        engine = Engine(scorer=stress_scorer())
        engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
        late = [event("overdue_status", 35, loan_id="L0", days_past_due=3, overdue_amount=50),
                event("overdue_status", 38, loan_id="L0", days_past_due=0,
                      overdue_amount=0)] if miss else []
        return feed(engine, opened(credit_limit=10000), *late, event(
            "loan_drawn", draw_day, loan_id="L1", principal=9000, term_months=6,
            daily_rate=0.0005, method="equal_installment"))[-1]

    assert (book(False, 40).alert.tier, book(False, 40).alert.decided_by) == ("high",
                                                                              "early_score")
    lately = book(True, 40)
    assert lately.alert.tier == "watch" and lately.score.early_score >= 0.4  # scored, not raised
    assert book(True, 220).alert.tier == "high"  # the miss is half a year old


def test_early_raises_ahead_of_the_budgets_pace_raise_the_early_threshold():
    """A thousand borrowers draw 90% of their limits on one day: with a 5% budget the
    pacer lifts the early threshold after a few dozen raises, and a quiet year brings
    it back below the trainer's level (pacing.py); without a budget every one is raised."""
    def burst(budget: float) -> tuple[Engine, int]:
        engine = Engine(Settings(early_budget=budget), scorer=stress_scorer())
        engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
        feed(engine, *(opened(f"b{i}", credit_limit=10000) for i in range(1000)))
        fx = feed(engine, *(event("loan_drawn", 31, f"b{i}", loan_id="L1", principal=9000,
                                  term_months=6, daily_rate=0.0005, method="equal_installment")
                            for i in range(1000)))
        return engine, sum(f.alert is not None and f.alert.decided_by == "early_score"
                           for f in fx)

    engine, raised = burst(0.05)
    assert 20 < raised < 200
    base = engine.early_base
    after = engine.policy.config.early_high
    assert after > 0.9 > base
    offset = engine.pacer.offset
    feed(engine, event("transaction", 31 + 300, "b0", amount=5, direction="out",
                       category="groceries"))
    # 300 days at the pace of a year's budget (`gain` logits a year) pay part of it back
    assert engine.pacer.offset == pytest.approx(offset - engine.pacer.gain * 300 / 365)
    assert after > engine.policy.config.early_high > base
    assert burst(0.0)[1] == 1000


def test_the_budget_gives_back_the_raise_of_a_borrower_who_defaults():
    """The pacer counts what the budget counts: good borrowers. A raise is counted once
    (its time kept in the borrower's state) and given back when the borrower defaults."""
    engine = Engine(Settings(early_budget=0.05), scorer=stress_scorer())
    engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
    feed(engine, *(opened(f"b{i}", credit_limit=10000) for i in range(1000)))
    fx = feed(engine, event("loan_drawn", 31, "b0", loan_id="L1", principal=9000,
                            term_months=6, daily_rate=0.0005, method="equal_installment"))
    assert fx[-1].alert.decided_by == "early_score"
    step = engine.pacer.gain / (0.05 * 1000)  # the year's budget is 50 borrowers
    assert engine.pacer.offset == pytest.approx(step)
    assert engine.states["b0"].early_raised_at == engine.watermark
    feed(engine, event("overdue_status", 31.5, "b0", loan_id="L1", days_past_due=95,
                       overdue_amount=1500))
    assert engine.pacer.offset == pytest.approx(0.0)
    assert engine.states["b0"].early_raised_at == 0.0


def test_the_early_threshold_follows_the_level_the_top_of_the_live_book_reaches():
    """On a book large enough, the early threshold is the score the top eighth of the
    budget's share reaches now (pacing.py), not the trainer's: 25 of 4,000 borrowers at
    a 5% budget, and the next early raise is judged against it."""
    engine = Engine(Settings(early_budget=0.05, tier_early_high=0.95), scorer=stress_scorer())
    engine.early = Scorer(5, {"utilization": 6.0}, {"utilization": 0.0}, intercept=-3.0)
    n = 4000
    feed(engine, *(opened(f"b{i}", credit_limit=10000) for i in range(n)))
    fx = feed(engine, *(event("loan_drawn", 31, f"b{i}", loan_id="L1", principal=1000 + i,
                              term_months=6, daily_rate=0.0005, method="equal_installment")
                        for i in range(n)))
    assert not any(f.alert for f in fx)  # under the trainer's threshold of 0.95
    assert engine.early_level is None
    early = sorted(f.score.early_score for f in fx)
    spent = [event("transaction", 32.5, f"b{i}", amount=1, direction="out",
                   category="groceries") for i in (n - 1, n - 30)]
    top, below = feed(engine, *spent)  # the first event of a new day sets the level
    assert engine.early_level == pytest.approx(early[-25], abs=1e-9)
    assert engine.policy.config.early_high == pytest.approx(
        engine.pacer.threshold(engine.early_level))
    assert top.alert is not None and top.alert.decided_by == "early_score"
    assert below.alert is None
