"""The pipeline without Kafka: the engine, the trainer, the model snapshots they exchange,
and where each effect of a message goes. `streamer replay` and the Faust worker both drive
it, so that a file and a topic give the same alerts.

::

    message ──► Pipeline.process ──► Effects ──► Pipeline.outputs ──► (topic, key, value)
                     │ (engine)                      (ROUTES)
    risk.training ──► Pipeline.learn ──► snapshot ──► Pipeline.load_snapshot ──► engine

Adding an output topic is one entry in :data:`ROUTES` (and its record in the contract).

>>> from streamer.settings import Settings
>>> p = Pipeline(Settings())
>>> fx = p.process(b'{"event_id":"e1","type":"overdue_status","borrower_id":"b1",'
...     b'"ts":"2026-02-20T23:59:00Z","v":1,"loan_id":"L1","days_past_due":35,'
...     b'"overdue_amount":1100}', "credit.repayments", 0, 7)
>>> [(topic, key) for topic, key, _ in p.outputs(fx, b"b1")]
[('risk.alerts', b'b1'), ('risk.scores', b'b1')]
>>> [topic for topic, _, _ in p.outputs(p.process(b"{", "credit.repayments", 0, 8), b"b1")]
['risk.deadletter']
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any

from streamer.contract import ALERTS, DEADLETTER, SCORES, TRAINING
from streamer.core.engine import Effects, Engine
from streamer.core.outputs import TrainingExample, encode
from streamer.core.privacy import dead_letter
from streamer.core.state import BorrowerState
from streamer.core.trainer import Trainer
from streamer.settings import Settings

log = logging.getLogger("streamer.pipeline")

#: output topic -> the records of an effect that go there (keyed by their borrower_id)
ROUTES: tuple[tuple[str, Callable[[Effects], Iterable[Any]]], ...] = (
    (ALERTS, lambda fx: () if fx.alert is None else (fx.alert,)),
    (SCORES, lambda fx: () if fx.score is None else (fx.score,)),
    (TRAINING, lambda fx: fx.examples),
)

Output = tuple[str, "bytes | None", bytes]  # contract topic name, key, value


class Pipeline:
    """One engine, its trainer, and the newest verified model snapshot."""

    def __init__(self, settings: Settings,
                 states: MutableMapping[str, BorrowerState] | None = None,
                 engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine or Engine(settings, states=states)
        self.trainer: Trainer | None = None  # created at the first example (see learn)
        self.champion: bytes | None = None  # the newest verified snapshot
        self.snapshots_loaded = 0

    # -- messages -----------------------------------------------------------------------
    def process(self, raw: bytes | None, topic: str, partition: int, offset: int) -> Effects:
        """The effects of one message; an unexpected error in the engine becomes a dead
        letter too (a bug must not stop the stream)."""
        try:
            return self.engine.process_raw(raw, topic, partition, offset)
        except Exception as exc:  # noqa: BLE001
            log.exception("processing %s[%d]@%d failed", topic, partition, offset)
            return failed(topic, partition, offset, raw, exc)

    @staticmethod
    def outputs(fx: Effects, key: bytes | None) -> list[Output]:
        """The records an effect sends: a dead letter (under the message's own key), or
        the alert, score update and training examples (under the borrower's id)."""
        if fx.deadletter is not None:
            return [(DEADLETTER, key, encode(fx.deadletter))]
        out = []
        for topic, records in ROUTES:
            for record in records(fx):
                out.append((topic, record.borrower_id.encode(), encode(record)))
        return out

    # -- the model ------------------------------------------------------------------------
    def learn(self, example: TrainingExample) -> bytes | None:
        """Learn one labeled example; returns a signed snapshot when one is due."""
        return self.training().learn_example(example)

    def training(self) -> Trainer:
        """The trainer: resumed from the newest verified snapshot, or a fresh model, the
        first time it is needed (and again after `stop_training`)."""
        if self.trainer is None:
            self.trainer = self._restore_trainer()
        return self.trainer

    def _restore_trainer(self) -> Trainer:
        settings = self.settings
        if self.champion is None:
            return Trainer(settings.model_key_bytes, settings.publish_every,
                           settings.early_budget, settings.early_min_history_days)
        trainer = Trainer.restore(self.champion, settings.model_key_bytes)
        trainer.publish_every = settings.publish_every  # this run's, not the snapshot's
        trainer.set_budget(settings.early_budget)
        trainer.early_min_history_days = settings.early_min_history_days
        log.info("trainer resumes from model v%d (%d examples)", trainer.version,
                 trainer.examples)
        return trainer

    def load_snapshot(self, blob: bytes) -> bool:
        """Verify a snapshot and score with it if it is newer; False: refused (counted)."""
        engine = self.engine
        before = engine.scorer.version
        if not engine.load_snapshot(blob):
            return False
        if engine.scorer.version > before:
            self.champion = blob
            self.snapshots_loaded += 1
            log.info("scoring with model v%d", engine.scorer.version)
        if self.trainer is not None and engine.scorer.version > self.trainer.version:
            self.trainer = None  # someone trained further: resume from their snapshot
        return True

    def stop_training(self) -> None:
        """Another worker trains now (its partition went): it resumes from the snapshot."""
        self.trainer = None


def failed(topic: str, partition: int, offset: int, raw: bytes | None, exc: BaseException,
           what: str = "processing failed") -> Effects:
    """The effects of a message the engine could not handle: one dead letter."""
    fx = Effects("invalid")
    fx.deadletter = dead_letter(topic, partition, offset, raw,
                                f"{what}: {type(exc).__name__}: {exc}")
    return fx
