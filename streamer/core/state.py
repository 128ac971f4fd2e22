"""Per-borrower state: what one borrower's events have told us so far, and how it serializes.

Money flows are kept as event-time decayed sums (half-lives of 30 and 90 days) so that
"income over the last month" needs no window of raw events and does not depend on the
order in which late events arrive. Each sum is stored scaled to a per-borrower reference
time ``t0``: adding an amount at time t adds ``v * 2**((t - t0) / half_life)``, reading
at time t multiplies by ``2**(-(t - t0) / half_life)``.

Income variability is River's running `stats.Var`; the coverage of the last installments
is a small array of their paid-to-due ratios and the worst DPD a number (River's `Rolling`
and `Max` objects would weigh 2.7 KB of every cached borrower's ~5 KB).

>>> s = BorrowerState.new()
>>> day = 86_400.0
>>> s.add(INCOME, 9_000.0, 0.0)
>>> s.add(INCOME, 9_000.0, 30 * day)
>>> round(s.flow(INCOME, SHORT, 30 * day))   # the older salary counts half after 30 days
13500
>>> restored = BorrowerState.loads(s.dumps())
>>> restored.flow(INCOME, SHORT, 30 * day) == s.flow(INCOME, SHORT, 30 * day)
True
"""

from __future__ import annotations

import hashlib
from array import array
from operator import attrgetter
from sys import byteorder, intern

import msgspec
from river import stats

DAY = 86_400.0
HALF_LIVES = (30 * DAY, 90 * DAY)
SHORT, LONG = 0, 1

# Flow channels (each kept at both half-lives).
(INCOME, OTHER_IN, ESSENTIAL, DISCRETIONARY, GAMBLING, CASH, OTHER_LOANS, TRANSFER_OUT,
 DRAWN, DRAWS, MISSED, PARTIAL, HARSH, PAID, DUE) = range(15)
N_CHANNELS = 15

CATEGORY_CHANNEL = {
    "salary": INCOME, "business_income": INCOME, "transfer_in": OTHER_IN,
    "groceries": ESSENTIAL, "rent": ESSENTIAL, "utilities": ESSENTIAL,
    "dining": DISCRETIONARY, "luxury": DISCRETIONARY, "other": DISCRETIONARY,
    "gambling": GAMBLING, "cash_withdrawal": CASH, "other_loan_repayment": OTHER_LOANS,
    "transfer_out": TRANSFER_OUT,
}

TIERS = ("none", "watch", "high", "critical")
COVERAGE_WINDOW = 6  # installments
RECENT_IDS = 32  # event ids remembered for dedupe (a few weeks of one borrower's events)
_REBASE_AT = 256.0  # half-lives since t0 before rescaling (2**256 is far from overflow)


def event_hash(event_id: str) -> int:
    """A stable 63-bit digest of an event id (Python's hash() differs per process)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big") >> 1


class Loan:
    """One loan's servicing status as the borrower's events describe it."""

    __slots__ = ("outstanding", "dpd", "status_ts", "due_no", "due_amount", "paid_to_due",
                 "monthly")

    def __init__(self, outstanding: float = 0.0, dpd: int = 0, status_ts: float = 0.0,
                 due_no: int = 0, due_amount: float = 0.0, paid_to_due: float = 0.0,
                 monthly: float = 0.0) -> None:
        self.outstanding = outstanding
        self.dpd = dpd
        self.status_ts = status_ts
        self.due_no = due_no
        self.due_amount = due_amount
        self.paid_to_due = paid_to_due
        self.monthly = monthly  # what the loan costs a month, from its terms at the draw

    def as_tuple(self) -> tuple:
        return (self.outstanding, self.dpd, self.status_ts, self.due_no, self.due_amount,
                self.paid_to_due, self.monthly)


_DPD, _OUTSTANDING = attrgetter("dpd"), attrgetter("outstanding")


def _holds(ring: array, h: int) -> bool:
    """`h in ring` for an array of 64-bit hashes, searched as bytes: `in` would make an
    int of each of the 32 entries, at three times the cost. A match must start on an
    entry's boundary.

    >>> ring = array("Q", [1 << 56, 0, 7])  # little-endian, 1's bytes start at byte 7
    >>> _holds(ring, 7), _holds(ring, 1 << 56), _holds(ring, 0), _holds(ring, 1)
    (True, True, True, False)
    """
    data, needle = ring.tobytes(), h.to_bytes(8, byteorder)
    i = data.find(needle)
    while i > 0 and i % 8:
        i = data.find(needle, i + 1)
    return i >= 0


class Pending(msgspec.Struct, array_like=True):
    """A feature snapshot waiting for its 90-day outcome."""

    label: int  # outcomes seen so far, bits of labels.DEFAULTED / DELINQUENT (-1: none, old)
    ts: float
    score: float
    model_version: int
    vector: bytes  # float16 features in `features.FEATURES` order (features.to_vector)


class BorrowerState:
    """Everything the service keeps about one borrower."""

    __slots__ = (
        "segment", "industry", "region", "credit_limit", "credit_score", "prior_delinquencies",
        "opened_at", "last_ts", "t0", "flows", "last_income_ts", "income_var", "coverage",
        "dpd_worst", "loans", "episodes", "grace_until", "plan_active", "tier", "tier_since",
        "score", "recent", "pending", "last_snapshot_ts", "defaulted_at", "spell_start",
        "last_overdue_ts", "last_gambling_ts", "early_raised_at",
    )

    def __init__(self) -> None:
        self.segment = ""
        self.industry = ""
        self.region = ""
        self.credit_limit = 0.0
        self.credit_score = 0  # 0: unknown
        self.prior_delinquencies = 0
        self.opened_at = 0.0
        self.last_ts = 0.0  # newest event time seen
        self.t0: float | None = None  # reference time of `flows`, set by the first add
        self.flows = array("d", bytes(8 * 2 * N_CHANNELS))
        self.last_income_ts = 0.0
        self.last_gambling_ts = 0.0
        # when the early score last raised the borrower and the alert budget counted it
        # (core/pacing.py); 0: never
        self.early_raised_at = 0.0
        self.income_var = stats.Var()
        self.coverage = array("d")  # paid-to-due of the last COVERAGE_WINDOW installments
        self.dpd_worst = 0
        self.loans: dict[str, Loan] = {}
        self.episodes = 0  # times a loan went from current to overdue
        self.grace_until = 0.0
        self.plan_active = False
        self.tier = "none"
        self.tier_since = 0.0
        self.score = 0.0
        self.recent = array("Q")  # ring of 64-bit event-id hashes, newest last
        self.pending: list[Pending] = []
        self.last_snapshot_ts = 0.0
        self.defaulted_at = 0.0  # 0 unless a loan is at 90+ DPD now
        # the delinquency spell (labels.py): when its first miss was seen, and when the
        # borrower was last seen overdue (a spell closes after SPELL_GAP days current)
        self.spell_start = 0.0
        self.last_overdue_ts = 0.0

    @classmethod
    def new(cls) -> BorrowerState:
        return cls()

    # -- decayed flows ---------------------------------------------------------------
    def add(self, channel: int, value: float, ts: float) -> None:
        """Add `value` to a flow at event time `ts` (any order)."""
        if self.t0 is None:
            self.t0 = ts
        elif (ts - self.t0) / HALF_LIVES[SHORT] > _REBASE_AT:
            self._rebase(ts)
        flows = self.flows
        flows[channel] += value * 2.0 ** ((ts - self.t0) / HALF_LIVES[SHORT])
        flows[N_CHANNELS + channel] += value * 2.0 ** ((ts - self.t0) / HALF_LIVES[LONG])

    def flow(self, channel: int, horizon: int, now: float) -> float:
        """The decayed sum of a channel as of `now`."""
        if self.t0 is None:
            return 0.0
        return self.flows[horizon * N_CHANNELS + channel] * 2.0 ** (
            (self.t0 - now) / HALF_LIVES[horizon])

    def _rebase(self, ts: float) -> None:
        for h, half_life in enumerate(HALF_LIVES):
            factor = 2.0 ** ((self.t0 - ts) / half_life)
            for c in range(h * N_CHANNELS, (h + 1) * N_CHANNELS):
                self.flows[c] *= factor
        self.t0 = ts

    # -- loans and delinquency ------------------------------------------------------
    # (map over an attrgetter: the engine reads both on every event, twice for dpd_now)
    @property
    def dpd_now(self) -> int:
        return max(map(_DPD, self.loans.values()), default=0)

    @property
    def outstanding(self) -> float:
        return sum(map(_OUTSTANDING, self.loans.values()))

    @property
    def monthly_cost(self) -> float:
        """What the running loans cost a month (a loan drawn before we saw it: its due)."""
        return sum(loan.monthly or loan.due_amount for loan in self.loans.values())

    def add_coverage(self, ratio: float) -> None:
        """Record one installment's paid-to-due ratio (the last COVERAGE_WINDOW count)."""
        self.coverage.append(ratio)
        if len(self.coverage) > COVERAGE_WINDOW:
            del self.coverage[0]

    # -- dedupe ---------------------------------------------------------------------
    def seen(self, event_id: str) -> bool:
        """True if this event id was seen recently; otherwise remember it."""
        h = event_hash(event_id)
        if _holds(self.recent, h):
            return True
        self.recent.append(h)
        if len(self.recent) > RECENT_IDS:
            del self.recent[0]
        return False

    # -- serialization ----------------------------------------------------------------
    def dumps(self) -> bytes:
        """Compact, exact bytes (msgpack): what the changelog carries."""
        var = self.income_var
        return _encoder.encode((
            5,  # layout version (3: the delinquency spell; 4: loans' monthly cost, gambling;
            #                  5: the early raise the budget counted)
            self.segment, self.industry, self.region, self.credit_limit, self.credit_score,
            self.prior_delinquencies, self.opened_at, self.last_ts, self.t0,
            self.flows.tobytes(), self.last_income_ts,
            (var.mean.n, var.mean._mean, var._S),
            self.coverage.tobytes(),
            self.dpd_worst,
            {k: loan.as_tuple() for k, loan in self.loans.items()},
            self.episodes, self.grace_until, self.plan_active, self.tier, self.tier_since,
            self.score, self.recent.tobytes(), self.pending, self.last_snapshot_ts,
            self.defaulted_at, self.spell_start, self.last_overdue_ts, self.last_gambling_ts,
            self.early_raised_at,
        ))

    @classmethod
    def loads(cls, data: bytes) -> BorrowerState:
        fields = _decoder.decode(data)
        layout = fields[0]
        if layout == 2:  # before the delinquency spell was kept: none known
            fields = (*fields, 0.0, 0.0, 0.0, 0.0)
        elif layout == 3:  # before gambling's time was kept (loans' costs: 0, unknown)
            fields = (*fields, 0.0, 0.0)
        elif layout == 4:  # before the early raise was kept: none counted
            fields = (*fields, 0.0)
        elif layout != 5:
            raise ValueError(f"unknown borrower state layout {layout}")
        (layout, segment, industry, region, credit_limit, credit_score, prior, opened_at,
         last_ts, t0, flows, last_income_ts, var, coverage, dpd_worst, loans, episodes,
         grace_until, plan_active, tier, tier_since, score, recent, pending,
         last_snapshot_ts, defaulted_at, spell_start, last_overdue_ts, last_gambling_ts,
         early_raised_at) = fields
        s = cls()
        # interned: a few distinct values shared by every cached borrower
        s.segment, s.industry, s.region = intern(segment), intern(industry), intern(region)
        s.credit_limit, s.credit_score, s.prior_delinquencies = credit_limit, credit_score, prior
        s.opened_at, s.last_ts, s.t0 = opened_at, last_ts, t0
        s.flows = array("d")
        s.flows.frombytes(flows)
        s.last_income_ts = last_income_ts
        s.income_var.mean.n, s.income_var.mean._mean, s.income_var._S = var
        s.coverage.frombytes(coverage)
        s.dpd_worst = dpd_worst
        s.loans = {k: Loan(*v) for k, v in loans.items()}
        s.episodes, s.grace_until, s.plan_active = episodes, grace_until, plan_active
        s.tier, s.tier_since, s.score = intern(tier), tier_since, score
        s.recent.frombytes(recent)
        s.pending = [Pending(*p) for p in pending]
        s.last_snapshot_ts, s.defaulted_at = last_snapshot_ts, defaulted_at
        s.spell_start, s.last_overdue_ts = spell_start, last_overdue_ts
        s.last_gambling_ts, s.early_raised_at = last_gambling_ts, early_raised_at
        return s

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BorrowerState) and self.dumps() == other.dumps()

    __hash__ = None  # type: ignore[assignment]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder()
