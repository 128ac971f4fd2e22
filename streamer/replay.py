"""`streamer replay`: the engine over a JSONL file, learning online as it goes.

Each line is one contract-v1 event, processed in file order exactly as the worker
processes a message: decode, state, features, score, policy. Labeled examples go to a
trainer whose snapshots the engine loads as they are published, as the workers do.

A line may hold any bytes: one that is not a valid event (not UTF-8, not JSON, nested too
deep, over the size limit; the line ending is not part of the message) is counted as
invalid and reported on stderr as ``FILE:LINE: reason`` (the first MAX_REPORTED of them),
as a worker dead-letters it, and the replay goes on: it exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from streamer.contract import ALERTS, SCORES, TRAINING
from streamer.core.engine import Engine
from streamer.core.outputs import encode
from streamer.core.trainer import QUALITY_WINDOW, Trainer
from streamer.pipeline import ROUTES, Pipeline
from streamer.settings import Settings

PROGRESS_EVERY = 200_000  # lines
MAX_REPORTED = 20  # invalid lines printed one by one; the rest are counted


@dataclass
class Summary:
    events: int = 0
    invalid: int = 0
    duplicates: int = 0
    late: int = 0
    examples: int = 0
    alerts: dict[str, int] = field(default_factory=dict)
    model_version: int = 0
    seconds: float = 0.0
    borrowers: int = 0

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        tiers = ", ".join(f"{k} {v}" for k, v in sorted(self.alerts.items())) or "none"
        return (f"{self.events} events ({self.invalid} invalid, {self.duplicates} duplicate, "
                f"{self.late} late), {self.borrowers} borrowers, alerts by tier: {tiers}; "
                f"{self.examples} training examples, model v{self.model_version}; "
                f"{self.seconds:.1f} s, {self.rate:,.0f} events/s")


def replay(events_path: Path, alerts: BinaryIO | None = None, scores: BinaryIO | None = None,
           examples: BinaryIO | None = None, settings: Settings | None = None,
           model: bytes | None = None, learn: bool = True, progress: BinaryIO | None = None,
           errors=None, engine: Engine | None = None) -> tuple[Summary, Engine, Trainer | None]:
    """Run the pipeline over a file; write outputs to the given binary streams.

    Returns the summary, the engine (its states and counts) and, when learning, the
    trainer. `engine` replaces the pipeline's own (a benchmark's frozen one).
    """
    settings = settings or Settings()
    pipeline = Pipeline(settings, engine=engine)
    if model is not None and not pipeline.load_snapshot(model):
        raise ValueError("--model: the snapshot's signature does not match STREAMER_MODEL_KEY")
    sinks = {topic: sink for topic, sink in ((ALERTS, alerts), (SCORES, scores),
                                             (TRAINING, examples)) if sink is not None}
    routes = [(records, sinks[topic]) for topic, records in ROUTES if topic in sinks]
    summary = Summary()
    started = time.perf_counter()
    process, learn_one, swap = pipeline.process, pipeline.learn, pipeline.load_snapshot
    name = str(events_path)
    with open(events_path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            value = line.rstrip(b"\r\n")  # the message is the line without its ending
            if not value or value.isspace():
                continue
            fx = process(value, name, 0, lineno)
            summary.events += 1
            outcome = fx.outcome
            if outcome != "ok":
                if outcome == "invalid":
                    summary.invalid += 1
                    if errors is not None and summary.invalid <= MAX_REPORTED:
                        print(f"{name}:{lineno}: {fx.deadletter.error}", file=errors)
                    continue
                if outcome == "duplicate":
                    summary.duplicates += 1
                    continue
                summary.late += 1
            for records, sink in routes:
                for record in records(fx):
                    sink.write(encode(record) + b"\n")
            summary.examples += len(fx.examples)
            if learn:
                for example in fx.examples:
                    blob = learn_one(example)
                    if blob is not None:
                        swap(blob)  # as a worker loads a published snapshot
            if progress is not None and lineno % PROGRESS_EVERY == 0:
                elapsed = time.perf_counter() - started
                progress.write(f"\r{lineno:,} lines, {lineno / elapsed:,.0f}/s, "
                               f"model v{pipeline.engine.scorer.version}   ".encode())
                progress.flush()
    if progress is not None:
        progress.write(b"\n")
    engine = pipeline.engine
    summary.seconds = time.perf_counter() - started
    summary.model_version = engine.scorer.version
    summary.borrowers = len(engine.states)
    for (tier, _kind), n in engine.alerts.items():
        summary.alerts[tier] = summary.alerts.get(tier, 0) + n
    if errors is not None and summary.invalid > MAX_REPORTED:
        print(f"... and {summary.invalid - MAX_REPORTED} more invalid lines", file=errors)
    return summary, engine, pipeline.training() if learn else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("events", type=Path, help="JSONL file of contract-v1 events")
    parser.add_argument("--alerts", type=Path, help="write alerts here (JSONL)")
    parser.add_argument("--scores", type=Path, help="write one score update per event (JSONL)")
    parser.add_argument("--examples", type=Path,
                        help="write the labeled training examples (JSONL; evaluate's reference)")
    parser.add_argument("--model", type=Path, help="start from this signed model snapshot")
    parser.add_argument("--save-model", type=Path, help="write the final signed snapshot here")
    parser.add_argument("--freeze", action="store_true",
                        help="do not learn: score every event with --model as it is")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


def run(args: argparse.Namespace) -> int:
    if not args.events.is_file():
        print(f"streamer replay: {args.events}: no such file", file=sys.stderr)
        return 2
    if args.freeze and args.model is None:
        print("streamer replay: --freeze needs --model SNAPSHOT", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    model = args.model.read_bytes() if args.model else None
    with ExitStack() as stack:
        def out(path: Path | None) -> BinaryIO | None:
            if path is None:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            return stack.enter_context(open(path, "wb", buffering=1 << 20))

        summary, engine, trainer = replay(
            args.events, out(args.alerts), out(args.scores), out(args.examples), settings,
            model=model, learn=not args.freeze,
            progress=None if args.quiet else sys.stderr.buffer, errors=sys.stderr)
    if args.save_model:
        if trainer is None:
            print("streamer replay: --save-model needs learning (drop --freeze)", file=sys.stderr)
            return 2
        args.save_model.write_bytes(trainer.publish())
    print(summary.line())
    if trainer is not None:
        rolling = [f"{name} {q.auc:.3f}" for name, q in trainer.quality.items() if q.n]
        if rolling:
            print(f"rolling ROC AUC, last {QUALITY_WINDOW:,} examples, scored before learning: "
                  + ", ".join(rolling))
    return 0
