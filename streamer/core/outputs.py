"""What the service writes: alerts, score updates, dead letters and training examples.

Like `events.py`, these types are the contract: `topics/schemas/` is generated from them.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import msgspec
from msgspec import Meta, Struct

Tier = Literal["none", "watch", "high", "critical"]
Kind = Literal["raised", "escalated", "de_escalated", "resolved"]
Action = Literal["none", "reminder", "grace_period", "installment_plan", "escalate"]
Probability = Annotated[float, Meta(ge=0, le=1)]
EarlyScore = Annotated[
    Optional[Probability],
    Meta(description="P(a payment missed within 90 days opens a delinquency spell that ends "
                     "in 90+ DPD) as learned from borrowers who were current, the "
                     "early-warning score (labels.py); null until a model has learned it "
                     "and in an account's first STREAMER_EARLY_MIN_HISTORY_DAYS (30: of its "
                     "events, for an account opened before go-live)"),
]


DecidedBy = Literal["dpd_floor", "default_score", "early_score"]


class Reason(Struct, frozen=True):
    """One fact behind a tier: the model's feature and value, and the same in words."""

    feature: str
    value: Annotated[float, Meta(description="the feature as the model reads it (unit-free)")]
    contribution: Annotated[float, Meta(description="signed: > 0 raises the risk")]
    natural_value: Annotated[
        Optional[float], Meta(description="the value in `unit` (e.g. 15 days past due)")] = None
    unit: Annotated[str, Meta(description="days, CNY, %, x, count, points or yes/no")] = ""
    text: Annotated[str, Meta(description="the fact in words, e.g. 'no income for 63 days'")] = ""
    direction: Annotated[
        Literal["raises", "lowers"],
        Meta(description="whether this fact pushes the borrower's risk up or down")] = "raises"


class Alert(Struct, frozen=True, kw_only=True):
    """A change of a borrower's tier; `alert_id` is the same on every redelivery."""

    alert_id: str
    borrower_id: str
    ts: Annotated[str, Meta(description="event time of the trigger, RFC 3339")]
    emitted_at: Annotated[str, Meta(description="wall clock, RFC 3339")]
    kind: Kind
    tier: Tier
    previous_tier: Tier
    score: Annotated[Probability, Meta(description="P(90+ DPD within 90 days)")]
    model_version: int
    reasons: list[Reason]
    recommended_action: Action
    trigger_event_id: str
    early_score: EarlyScore = None
    decided_by: Annotated[
        Optional[DecidedBy],
        Meta(description="what set the new tier: a hard rule on days past due (dpd_floor), "
                         "the default score, or the early-warning score (both of model "
                         "`model_version`)")] = None


class ScoreUpdate(Struct, frozen=True, kw_only=True):
    """The latest score of a borrower (compacted topic `risk.scores`)."""

    borrower_id: str
    ts: str
    score: Probability
    tier: Tier
    model_version: int
    early_score: EarlyScore = None


class DeadLetter(Struct, frozen=True, kw_only=True):
    """A message that could not be decoded or validated, with why."""

    topic: str
    partition: int
    offset: int
    raw: Annotated[str, Meta(description="the message value, base64 (masked, see README)")]
    error: str


class TrainingExample(Struct, frozen=True, kw_only=True):
    """A feature snapshot whose 90-day outcome is now known (`risk.training`)."""

    borrower_id: str
    ts: Annotated[str, Meta(description="event time of the snapshot")]
    label: Annotated[Literal[0, 1], Meta(description="reached 90+ DPD within 90 days")]
    score: Annotated[Probability, Meta(description="the score given at snapshot time")]
    model_version: int
    features: dict[str, float]
    early_label: Annotated[
        Optional[Literal[0, 1]],
        Meta(description="missed a payment within 90 days and that miss's delinquency "
                         "spell ended in 90+ DPD, for a snapshot taken while the "
                         "borrower was current (the early-warning target); null otherwise"),
    ] = None


OUTPUT_TYPES: dict[str, type[Struct]] = {
    "alert": Alert,
    "score": ScoreUpdate,
    "deadletter": DeadLetter,
    "training_example": TrainingExample,
}

encode = msgspec.json.Encoder().encode
