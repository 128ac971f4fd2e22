"""The functional core: one event in, everything it causes out. No Kafka in here.

`Engine.process_raw` takes a message value as it comes off a topic (or a line of a JSONL
file) and returns an :class:`Effects`: the outcome (ok, invalid, duplicate, late), the
alert if the borrower's tier changed, the score update, the training examples whose
outcome is now known, and a dead letter for a message that does not decode. Both
`streamer replay` and the Faust worker drive this one object.

>>> engine = Engine()
>>> fx = engine.process_raw(b'{"event_id":"e1","type":"overdue_status","borrower_id":"b1",'
...     b'"ts":"2026-02-20T23:59:00Z","v":1,"loan_id":"L1","days_past_due":35,'
...     b'"overdue_amount":1100}')
>>> fx.outcome, fx.alert.tier, fx.alert.kind, fx.score.tier
('ok', 'high', 'raised', 'high')
>>> engine.process_raw(b'{"event_id": "e1"', topic="credit.repayments", offset=7).deadletter.error
'not valid JSON: Input data was truncated'
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from typing import MutableMapping

from streamer.core import events as ev
from streamer.core import features
from streamer.core.context import DELINQUENT_DPD, Context
from streamer.core.labels import Labeler
from streamer.core.model import Scorer, SnapshotRefused, load_snapshot
from streamer.core.outputs import Alert, DeadLetter, Reason, ScoreUpdate, TrainingExample
from streamer.core.pacing import TOP_SHARE, YEAR, LiveBook, Pacer
from streamer.core.policy import Decision, Policy, alert_id, early_may_raise
from streamer.core.privacy import dead_letter
from streamer.core.reasons import explain
from streamer.core.state import DAY, BorrowerState
from streamer.core.update import MOVES_DPD, apply
from streamer.settings import Settings

_UTC = dt.timezone.utc
_MISSED_90D = features.FEATURES.index("missed_90d")


def iso(epoch: float) -> str:
    """Epoch seconds -> RFC 3339 (UTC)."""
    return dt.datetime.fromtimestamp(epoch, _UTC).isoformat().replace("+00:00", "Z")


class Effects:
    """What one message caused."""

    __slots__ = ("outcome", "event_type", "alert", "score", "examples", "deadletter",
                 "delinquency", "exposure")

    def __init__(self, outcome: str, event_type: str = "unknown") -> None:
        self.outcome = outcome  # ok | invalid | duplicate | late
        self.event_type = event_type
        self.alert: Alert | None = None
        self.score: ScoreUpdate | None = None
        self.examples: list[TrainingExample] = []
        self.deadletter: DeadLetter | None = None
        # (DPD before, DPD after) for the portfolio delinquency metrics
        self.delinquency: tuple[int, int] | None = None
        self.exposure: float = 0.0  # outstanding after the event (CNY)


class Engine:
    """Per-borrower state, context, the current scorer and the alert policy."""

    def __init__(self, settings: Settings | None = None,
                 states: MutableMapping[str, BorrowerState] | None = None,
                 context: Context | None = None, scorer: Scorer | None = None) -> None:
        self.settings = settings = settings or Settings()
        self.states: MutableMapping[str, BorrowerState] = {} if states is None else states
        self.context = context or Context()
        self.scorer = scorer or Scorer.prior()
        self.early = Scorer.prior()  # the early-warning model (labels.py); not ready until learned
        self.policy = Policy(settings.policy())
        # the early threshold the trainer's budget (or the settings) gives; the level the
        # live book's early scores set, and the pacing of the budget on it (pacing.py)
        self.early_base = self.policy.config.early_high
        budget = settings.early_budget
        self.pacer = Pacer(budget) if budget else None
        self.live = LiveBook(budget * TOP_SHARE) if budget else None
        self.early_level: float | None = None  # the live book's, once its sample has enough
        self._min_history = settings.early_min_history_days * DAY
        self._model_min_history = settings.model_min_history_days * DAY
        self.labeler = Labeler(settings.snapshot_interval_days, settings.label_horizon_days)
        self.counts: Counter[tuple[str, str]] = Counter()  # (event type, outcome)
        self.alerts: Counter[tuple[str, str]] = Counter()  # (tier, kind)
        self.snapshots_refused = 0
        self.watermark = 0.0  # newest event time accepted
        self._clock = time.time

    # -- model ---------------------------------------------------------------------------
    def load_snapshot(self, blob: bytes) -> bool:
        """Swap to a newer signed snapshot; refuse (and count) anything unverified."""
        try:
            version, contents = load_snapshot(blob, self.settings.model_key_bytes)
        except SnapshotRefused:
            self.snapshots_refused += 1
            return False
        if version > self.scorer.version:
            scorer = Scorer.from_model(contents["model"], version)
            # the mean of recent versions (model.Average); before it, the early model
            # itself; before that, no early model at all
            early = contents.get("early_scorer")
            if early is None:
                model = contents.get("early")
                early = Scorer.from_model(model, version) if model else Scorer.prior()
            if not (scorer.inputs() | early.inputs()) <= features.KNOWN:
                # a model that wants a feature no event gives would fail every event
                self.snapshots_refused += 1
                return False
            self.scorer, self.early = scorer, early
            early_high = contents.get("early_high")  # the alert budget's (threshold.py)
            if early_high is not None and self.pacer is not None:
                self.early_base = early_high
                self._pace()
        return True

    def _pace(self) -> None:
        """Set the early threshold: the level (the live book's, else the trainer's), moved
        by the pacer."""
        if self.pacer is not None:
            level = self.early_base if self.early_level is None else self.early_level
            self.policy.set_early_high(self.pacer.threshold(level))

    # -- events ----------------------------------------------------------------------------
    def process_raw(self, raw: bytes | None, topic: str = "", partition: int = 0,
                    offset: int = 0) -> Effects:
        """Decode and process one message value; a bad one becomes a dead letter.

        Whatever the bytes, the decoding ends in an event or in one dead letter: `decode`
        raises only InvalidEvent, and `dead_letter` raises nothing.
        """
        try:
            event = ev.decode(raw)
            ts = event.epoch
            horizon = max(self.watermark, self._clock()) + self.settings.max_future_s
            if ts > horizon:
                raise ev.InvalidEvent(
                    f"ts {event.ts.isoformat()} is more than {self.settings.max_future_s:.0f} s "
                    "ahead of the stream and the clock")
        except ev.InvalidEvent as exc:
            reason = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in decoding must not stop the stream
            reason = f"decoding failed: {type(exc).__name__}: {exc}"
        else:
            return self.process(event, ts)
        fx = Effects("invalid")
        # masked: dead letters carry no free text or digit runs in clear (privacy.py)
        fx.deadletter = dead_letter(topic, partition, offset, raw, reason)
        self.counts[("unknown", "invalid")] += 1
        return fx

    def process(self, event: ev.AnyEvent, ts: float | None = None) -> Effects:
        """Process one decoded event."""
        if ts is None:
            ts = event.epoch
        if ts > self.watermark:
            self.watermark = ts
        etype = event.__struct_config__.tag
        if type(event) is ev.MacroIndicator:
            self.context.apply_macro(event.scope, event.scope_id, event.name, event.value, ts)
            self.counts[(etype, "ok")] += 1
            return Effects("ok", etype)
        return self._borrower_event(event, ts, etype)  # type: ignore[arg-type]

    def _borrower_event(self, event: ev.BorrowerEvent, ts: float, etype: str) -> Effects:
        bid = event.borrower_id
        s = self.states.get(bid)
        if s is None:
            s = BorrowerState.new()
        if s.seen(event.event_id):
            self.counts[(etype, "duplicate")] += 1
            return Effects("duplicate", etype)
        late = ts < s.last_ts - self.settings.allowed_lateness_s
        fx = Effects("late" if late else "ok", etype)
        self.counts[(etype, fx.outcome)] += 1

        dpd_before, counted_before = s.dpd_now, bool(s.segment)
        apply(s, event, ts)
        dpd = s.dpd_now if type(event) is MOVES_DPD else dpd_before
        self._count_portfolio(s, counted_before, dpd_before, dpd)
        if dpd != dpd_before:
            fx.delinquency = (dpd_before, dpd)
        fx.exposure = outstanding = s.outstanding

        now = s.last_ts  # a late event is judged as of the borrower's newest time
        defaulted = s.defaulted_at
        if self.pacer is not None and self.pacer.due(self.watermark):
            self.pacer.advance(self.watermark, self.context.borrowers())
            self.early_level = self.live.level(self.watermark)  # type: ignore[union-attr]
            self._pace()
        for m in self.labeler.mature(s, now, dpd):
            fx.examples.append(TrainingExample(
                borrower_id=bid, ts=iso(m.ts), label=m.label, score=m.score,
                model_version=m.model_version, features=features.from_vector(m.vector),
                early_label=m.early))
        if not defaulted and s.defaulted_at and s.early_raised_at:
            self._refund(s, now)

        row = features.compute_row(s, self.context, now, dpd, outstanding)
        scorer = self.scorer
        score = scorer.score_row(row)
        # no early score before its model is ready, nor in an account's first days (its
        # spending is a transaction or two); an account opened before we saw it has the
        # history of its flows we have seen
        seen_since = s.opened_at or s.t0
        history = now - seen_since if seen_since is not None else 0.0
        early = (self.early.score_row(row) if self.early.ready and history >= self._min_history
                 else None)
        s.score = score
        # the default score raises no tier while the account is young (hard rules do)
        young = history < self._model_min_history
        # nor does the early score raise a borrower who missed a payment lately (policy.py)
        recent_miss = not early_may_raise(row[_MISSED_90D])
        if self.live is not None:
            self.live.update(bid, early if dpd == 0 and not recent_miss else None, now)
        decision = self.policy.decide(s.tier, s.tier_since, score, dpd, now,
                                      scorer.ready and not young, early, recent_miss)
        if decision is not None:
            fx.alert = self._alert(s, bid, event, dict(zip(features.FEATURES, row)), score,
                                   early, decision, dpd)
            if decision.early:
                self._count_raise(s, now)
            s.tier, s.tier_since = decision.tier, now
        elif self.policy.deserved(s.tier, score, dpd, scorer.ready and not young, early,
                                  recent_miss):
            s.tier_since = now  # the cooldown counts from the last day the tier was earned
        if self.labeler.due(s, now):
            self.labeler.maybe_snapshot(s, now, score, scorer.version,
                                        features.row_to_vector(row), dpd)
        self.states[bid] = s  # write back: a table store persists on assignment

        fx.score = ScoreUpdate(borrower_id=bid, ts=event.ts.isoformat(), score=score,
                               tier=s.tier, model_version=scorer.version, early_score=early)
        return fx

    def _count_raise(self, s: BorrowerState, now: float) -> None:
        """The alert budget counts a good borrower once a year (pacing.py)."""
        if self.pacer is not None and now - s.early_raised_at >= YEAR:
            s.early_raised_at = now
            self.pacer.raised()
            self._pace()

    def _refund(self, s: BorrowerState, now: float) -> None:
        """A borrower the budget counted defaulted: the raise was no good borrower's."""
        if self.pacer is not None and now - s.early_raised_at < YEAR:
            self.pacer.refund()
            self._pace()
        s.early_raised_at = 0.0

    def _count_portfolio(self, s: BorrowerState, counted_before: bool, dpd_before: int,
                         dpd: int) -> None:
        if not s.segment:
            return  # the account is not open yet: not part of the book's denominators
        ctx = self.context
        was_bad = counted_before and dpd_before >= DELINQUENT_DPD
        if not counted_before:
            ctx.count_borrower(s.industry, s.region, 1)
        is_bad = dpd >= DELINQUENT_DPD
        if is_bad != was_bad:
            ctx.count_delinquent(s.industry, s.region, 1 if is_bad else -1)

    def _alert(self, s: BorrowerState, bid: str, event: ev.BorrowerEvent,
               x: dict[str, float], score: float, early: float | None, decision: Decision,
               dpd: int) -> Alert:
        policy = self.policy
        tier, kind = decision.tier, decision.kind
        # the reasons are those of the model that moved the tier
        model = self.early if decision.early else self.scorer
        reasons = policy.reasons(model.contributions(x), kind)
        if kind in ("raised", "escalated") and decision.rule:
            # A hard rule decided the tier: say so first.
            dpd_reason = next((r for r in reasons if r[0] == "dpd_now"),
                              ("dpd_now", x["dpd_now"], 0.0))
            others = [r for r in reasons if r[0] != "dpd_now"]
            reasons = [dpd_reason, *others[:policy.config.n_reasons - 1]]
        action = policy.action(tier, reasons, dpd, bool(x["in_grace"] or x["plan_active"]))
        self.alerts[(tier, kind)] += 1
        return Alert(
            alert_id=alert_id(bid, event.event_id, kind, tier), borrower_id=bid,
            ts=event.ts.isoformat(), emitted_at=iso(self._clock()), kind=kind, tier=tier,
            previous_tier=s.tier, score=score, model_version=self.scorer.version,
            reasons=[_reason(f, v, c, kind, s) for f, v, c in reasons],
            recommended_action=action, trigger_event_id=event.event_id, early_score=early,
            decided_by=decision.decided_by)


def _reason(feature: str, value: float, contribution: float, kind: str,
            s: BorrowerState) -> Reason:
    natural, unit, text = explain(feature, value, s.industry, s.region)
    # a hard rule's fact (contribution 0) points the way the tier moved
    up = contribution > 0 or (contribution == 0 and kind in ("raised", "escalated"))
    return Reason(feature, round(value, 6), round(contribution, 6), natural, unit, text,
                  "raises" if up else "lowers")
