"""Alert policy: a calibrated score becomes a tier; a change of tier becomes an alert.

- Tiers `watch` / `high` / `critical` are entered at a score threshold and left only
  when the score falls below a lower one (hysteresis), and no sooner than `cooldown_days`
  of event time after the last day something (a score, a DPD floor) would have raised the
  borrower to the tier (`deserved`): a borrower does not flap with every event, and one
  who is 15 days late every month and pays each time stays `watch`, not raised and
  resolved month after month.
- The early-warning score (P(a miss within 90 days whose spell ends in default), `labels.py`) raises a borrower to
  `high` at its own threshold, and to nothing else: it is what warns before the first
  missed payment, when the default score cannot yet know. (A `watch` of its own doubled
  the alerts on borrowers who never default and flagged no defaulter sooner.) It raises
  only a borrower who is current: its model learned from current borrowers' snapshots,
  and once a payment is missed the DPD floors and the default score speak. A tier it
  raised is kept through a miss as long as the early score stays above its band. Its
  threshold is set by the alert budget (`threshold.py`) once the model has one, and paced
  on the live book (`pacing.py`). Nor does
  it raise a borrower who missed a payment recently (`early_may_raise`): such a borrower
  is already in the collections team's view (the DPD floors, the default score), and the
  early score, which rates a recent miss high, spent most of its budget on them (below). A
  borrower has no early score in the account's first `STREAMER_EARLY_MIN_HISTORY_DAYS`
  (the engine's rule): in a first month, one gambling or cash transaction is the whole
  of the spending, and on simulated books nine in ten of the good borrowers the early
  score raised were in that month.
- Why no early alert after a recent miss: on the 8,000-borrower books (2026-12-07) the
  early score alerted 8.6% (baseline) and 7.9% (industry_downturn) of the good borrowers
  `high` in the year against a budget of 5%, and three in five (baseline) and three in
  four of them only after a missed payment they had cured. Those late alerts added 4 and
  6 points to the 25% and 20% of defaulters caught before the miss that opened their
  default. With the rule, and the budget counting only the snapshots the early score may
  raise, 5.4% and 4.4% of good borrowers were alerted, and 23% and 22% of defaulters
  caught (README, "Simulate, replay, evaluate").
- The default score raises no tier in an account's first `STREAMER_MODEL_MIN_HISTORY_DAYS`
  (the engine's rule, `ready` is false then): at opening it knows only the application.
- Hard rules set a floor whatever the model says: 15+ DPD is at least `watch`, 30+ DPD
  at least `high`, 60+ DPD `critical`. (A payment a few days late is common and mostly
  cured by itself: alerting on it would bury the real cases.)
- The recommended action fits the cause: a temporary shock (income, industry, region)
  gets an offer (grace period, installment plan), over-borrowing a plan, and only deep,
  chronic delinquency is escalated.

>>> p = Policy()
>>> p.decide("none", 0.0, score=0.30, dpd=0, now=0.0, ready=True)
Decision(tier='high', kind='raised', early=False, rule=False)
>>> p.decide("none", 0.0, score=0.02, dpd=0, now=0.0, ready=True, early=0.9)  # early score
Decision(tier='high', kind='raised', early=True, rule=False)
>>> p.decide("none", 0.0, score=0.02, dpd=5, now=0.0, ready=True, early=0.9) is None  # overdue
True
>>> p.decide("none", 0.0, score=0.02, dpd=0, now=0.0, ready=True, early=0.9,
...          recent_miss=True) is None          # current again, but a payment missed lately
True
>>> p.decide("high", 0.0, score=0.18, dpd=0, now=86_400.0, ready=True) is None  # hysteresis
True
>>> p.decide("high", 0.0, score=0.01, dpd=0, now=86_400.0, ready=True) is None  # cooldown
True
>>> p.decide("high", 0.0, score=0.01, dpd=0, now=30 * 86_400.0, ready=True)
Decision(tier='none', kind='resolved', early=False, rule=False)
>>> p.decide("watch", 0.0, score=0.01, dpd=35, now=0.0, ready=False)   # hard rule
Decision(tier='high', kind='escalated', early=False, rule=True)
"""

from __future__ import annotations

import hashlib
import uuid
from typing import NamedTuple

TIERS = ("none", "watch", "high", "critical")
RANK = {t: i for i, t in enumerate(TIERS)}

# What a feature says about *why* a borrower slides, for choosing the action.
CAUSES: dict[str, str] = {
    **dict.fromkeys(("income_log", "income_trend", "days_since_income", "income_cv",
                     "industry_orders", "industry_raw_prices", "region_stress",
                     "region_unemployment", "industry_delinquency", "region_delinquency",
                     "essential_to_income"), "shock"),
    **dict.fromkeys(("utilization", "draws_30d", "drawn_to_income", "active_loans",
                     "other_loans_share", "spend_to_income", "installments_to_income",
                     "drawn_to_limit", "net_flow"), "over_borrowing"),
    **dict.fromkeys(("gambling_share", "cash_share", "discretionary_share",
                     "prior_delinquencies", "partial_90d", "credit_score",
                     "credit_score_missing", "cash_to_income", "days_since_gambling"),
                    "habits"),
}


# A borrower's missed payments of recent months (the feature `missed_90d`: each miss counts
# 1, halved every 90 days) at or above this keep the early score from raising them: one
# miss in about the last 90 days, or two in about the last half year.
EARLY_RECENT_MISSED = 0.5


def early_may_raise(missed_90d: float) -> bool:
    """Whether the early score may raise a (current) borrower with these recent misses;
    the trainer's alert budget counts only the snapshots it may raise (`threshold.py`).

    >>> early_may_raise(0.0), early_may_raise(0.6), early_may_raise(0.4)
    (True, False, True)
    """
    return missed_90d < EARLY_RECENT_MISSED


class PolicyConfig(NamedTuple):
    watch: float = 0.10
    high: float = 0.25
    critical: float = 0.50
    early_high: float = 0.11  # the early-warning score's threshold (it only makes `high`)
    hysteresis: float = 0.7  # a tier is left below hysteresis x its entry threshold
    # The early score moves more (a new loan, a model update), and a borrower it raised
    # was otherwise resolved and raised again within days: a wider band for it.
    early_hysteresis: float = 0.5
    cooldown_days: float = 30.0  # a payment cycle (settings.py)
    watch_dpd: int = 15
    high_dpd: int = 30
    critical_dpd: int = 60
    n_reasons: int = 3


class Decision(NamedTuple):
    tier: str
    kind: str
    early: bool = False  # the early-warning score, not the default score, raised the tier
    rule: bool = False  # the hard rule on days past due set the tier (whatever the scores)

    @property
    def decided_by(self) -> str:
        return "dpd_floor" if self.rule else "early_score" if self.early else "default_score"


def _checked(c: PolicyConfig) -> PolicyConfig:
    if not 0 < c.watch < c.high < c.critical < 1:
        raise ValueError("alert thresholds must satisfy 0 < watch < high < critical < 1")
    if not 0 < c.early_high < 1:
        raise ValueError("the early-warning threshold must satisfy 0 < high < 1")
    return c


class Policy:
    def __init__(self, config: PolicyConfig | None = None) -> None:
        self.config = c = _checked(config or PolicyConfig())
        self._enter = (0.0, c.watch, c.high, c.critical)
        self._cooldown = c.cooldown_days * 86_400.0

    def set_early_high(self, threshold: float) -> None:
        """The early-warning threshold a model snapshot brings (the alert budget's)."""
        self.config = _checked(self.config._replace(early_high=threshold))

    def floor(self, dpd: int) -> int:
        c = self.config
        if dpd >= c.critical_dpd:
            return 3
        return 2 if dpd >= c.high_dpd else 1 if dpd >= c.watch_dpd else 0

    def _ranks(self, score: float, early: float | None, ready: bool,
               factor: float = 1.0, early_factor: float = 1.0) -> tuple[int, int]:
        """The tiers (ranks) the default score and the early score reach."""
        by_score = by_early = 0
        if ready:  # the highest tier whose threshold the score reaches (on every event)
            enter = self._enter
            by_score = (3 if score >= enter[3] * factor else 2 if score >= enter[2] * factor
                        else 1 if score >= enter[1] * factor else 0)
        if early is not None:
            by_early = RANK["high"] if early >= self.config.early_high * early_factor else 0
        return by_score, by_early

    def decide(self, tier: str, since: float, score: float, dpd: int, now: float,
               ready: bool, early: float | None = None,
               recent_miss: bool = False) -> Decision | None:
        """The new tier and the alert kind, or None when the tier stays.

        `ready`: the default score means something yet; `early`: the early-warning score,
        None until its model is ready or while the account is too young; `recent_miss`:
        not `early_may_raise` (the early score raises no tier, but still keeps one)."""
        current = RANK[tier]
        floor = self.floor(dpd)
        by_score, by_early = self._ranks(score, self._raising(early, dpd, recent_miss), ready)
        target = max(floor, by_score, by_early)
        if target > current:
            return Decision(TIERS[target], "raised" if current == 0 else "escalated",
                            by_early > max(floor, by_score), floor >= target)
        if target == current:
            return None
        # Going down: only below the hysteresis band and after the cooldown.
        c = self.config
        if current > floor and max(
                self._ranks(score, early, ready, c.hysteresis, c.early_hysteresis)) >= current:
            return None
        if now - since < self._cooldown:
            return None
        return Decision(TIERS[target], "resolved" if target == 0 else "de_escalated",
                        rule=floor >= target > 0)

    def deserved(self, tier: str, score: float, dpd: int, ready: bool,
                 early: float | None = None, recent_miss: bool = False) -> bool:
        """Whether what the borrower shows now would raise them to `tier`: the quiet
        spell a tier needs before it is left (`cooldown_days`) starts again."""
        rank = RANK[tier]
        if not rank:  # most events: a borrower under no tier (no second look at the scores)
            return False
        return max(self.floor(dpd), *self._ranks(
            score, self._raising(early, dpd, recent_miss), ready)) >= rank

    @staticmethod
    def _raising(early: float | None, dpd: int, recent_miss: bool) -> float | None:
        """The early score where it may raise a tier: a current borrower's with no recent
        miss (elsewhere it only keeps a tier it raised)."""
        return early if dpd == 0 and not recent_miss else None

    def reasons(self, contributions: list[tuple[str, float, float]], kind: str
                ) -> list[tuple[str, float, float]]:
        """Top contributions: risk-raising ones for a rise, risk-lowering ones for a fall."""
        n = self.config.n_reasons
        if kind in ("raised", "escalated"):
            return contributions[:n]
        return contributions[::-1][:n]

    def action(self, tier: str, reasons: list[tuple[str, float, float]], dpd: int,
               offer_active: bool) -> str:
        """The humane next step for the collections team."""
        if tier == "none":
            return "none"
        if tier == "watch":
            return "reminder"
        deep = tier == "critical" and dpd >= self.config.critical_dpd
        if offer_active:  # a grace period or plan is already running: let it work
            return "escalate" if deep else "reminder"
        causes = [CAUSES.get(f, "delinquency") for f, _, c in reasons if c > 0]
        cause = next((c for c in causes if c != "delinquency"), "delinquency")
        if cause == "shock":
            return "grace_period" if dpd < self.config.high_dpd else "installment_plan"
        if cause == "over_borrowing":
            return "installment_plan"
        if cause == "habits":
            return "escalate" if deep else "reminder"
        return "escalate" if deep else "installment_plan"


def alert_id(borrower_id: str, trigger_event_id: str, kind: str, tier: str) -> str:
    """Deterministic: the same trigger gives the same id on every (re)delivery."""
    digest = hashlib.blake2b(
        f"{borrower_id}\x1f{trigger_event_id}\x1f{kind}\x1f{tier}".encode(), digest_size=16
    ).digest()
    return str(uuid.UUID(bytes=digest))
