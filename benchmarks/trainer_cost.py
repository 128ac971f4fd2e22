"""What the trainer spends per labeled example, stage by stage.

    .venv/bin/python benchmarks/trainer_cost.py EXAMPLES.jsonl [--model SNAPSHOT]
        [--skip 0] [--limit 20000] [--runs 3] [--negative-every champion=1,early=4]

Reads `risk.training` examples (the `--examples` file of `streamer replay`), resumes a
trainer from `--model` (a signed snapshot, e.g. a history model: mature models, the early
model's knots fixed) or starts a fresh one, and times `Trainer.learn_example` on the
examples `--skip` to `--skip + --limit`, `--runs` times from the same starting trainer.

Each run is timed twice: plain (the total per example, as a replay pays it) and with
every stage wrapped in a timer (the split; the wrappers add a little, so the split's sum
is a bit above the plain total). A stage's time excludes the stages it calls:

- champion / early: their pipelines (spline expansion, scaler, logistic regression)
- calibrators: both Platt calibrators (transform and learn)
- challenger: the Hoeffding tree's predict and learn
- budget: the alert budget's sample (`BudgetThreshold.add`)
- publish: a snapshot every `publish_every` examples (its threshold and pickling)
- rest: the checks, rolling quality figures, drift detector

Times are the process's CPU time (`time.process_time`), steadier than wall time on a
shared machine. Prints medians (and min-max) in microseconds per example and writes
benchmarks/results/trainer_cost.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from streamer.core.model import Calibrator, RiskModel
from streamer.core.outputs import TrainingExample
from streamer.core.threshold import BudgetThreshold
from streamer.core.trainer import Trainer
from streamer.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("champion", "early", "calibrators", "challenger", "budget", "publish", "rest")


def load(path: Path, skip: int, limit: int) -> list[TrainingExample]:
    dec = msgspec.json.Decoder(TrainingExample)
    out = []
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            if len(out) >= limit:
                break
            out.append(dec.decode(line))
    return out


class Clock:
    """Exclusive time per stage: a stage called inside another is taken out of it."""

    def __init__(self) -> None:
        self.spent = dict.fromkeys(STAGES, 0.0)
        self._stack: list[list] = []  # [stage, started, time of the stages inside]

    def wrap(self, stage: str, fn: Callable) -> Callable:
        spent, stack, now = self.spent, self._stack, time.process_time

        def timed(*args, **kwargs):
            frame = [stage, now(), 0.0]
            stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                stack.pop()
                took = now() - frame[1]
                spent[stage] += took - frame[2]
                if stack:
                    stack[-1][2] += took

        return timed


@contextlib.contextmanager
def instrument(trainer: Trainer, clock: Clock):
    """Wrap the stages' methods on their classes while the block runs (instance
    attributes would be pickled into the snapshots the trainer publishes)."""
    early = trainer.early
    patches = [
        (RiskModel, "score_then_learn",
         lambda fn: _by_owner(clock, fn, lambda m: "early" if m is early else "champion")),
        (Calibrator, "learn_one", lambda fn: clock.wrap("calibrators", fn)),
        (Calibrator, "transform", lambda fn: clock.wrap("calibrators", fn)),
        (type(trainer.challenger), "predict_proba_one", lambda fn: clock.wrap("challenger", fn)),
        (type(trainer.challenger), "learn_one", lambda fn: clock.wrap("challenger", fn)),
        (BudgetThreshold, "add", lambda fn: clock.wrap("budget", fn)),
        (Trainer, "publish", lambda fn: clock.wrap("publish", fn)),
    ]
    saved = [(cls, name, cls.__dict__[name]) for cls, name, _ in patches]
    try:
        for cls, name, make in patches:
            setattr(cls, name, make(getattr(cls, name)))
        yield
    finally:
        for cls, name, fn in saved:
            setattr(cls, name, fn)


def _by_owner(clock: Clock, fn: Callable, stage_of: Callable) -> Callable:
    wrapped = {s: clock.wrap(s, fn) for s in ("champion", "early")}

    def timed(self, *args, **kwargs):
        return wrapped[stage_of(self)](self, *args, **kwargs)

    return timed


def fresh(start: Trainer) -> Trainer:
    """A copy of the starting trainer (its key travels apart from its state)."""
    trainer = copy.deepcopy(start)
    trainer.key = start.key
    return trainer


def one_run(start: Trainer, examples: list[TrainingExample]) -> dict[str, float]:
    """µs per example: the plain total, then each stage from an instrumented pass."""
    n = len(examples)
    trainer = fresh(start)
    learn, now = trainer.learn_example, time.process_time
    t = now()
    for ex in examples:
        learn(ex)
    total = now() - t
    trainer = fresh(start)
    clock = Clock()
    learn = clock.wrap("rest", trainer.learn_example)
    with instrument(trainer, clock):
        t = now()
        for ex in examples:
            learn(ex)
        wrapped = now() - t
    out = {"total": total / n * 1e6, "instrumented_total": wrapped / n * 1e6}
    out.update({s: v / n * 1e6 for s, v in clock.spent.items()})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("examples", type=Path)
    parser.add_argument("--model", type=Path, help="resume the trainer from this snapshot")
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--negative-every", metavar="MODEL=K,...",
                        help="the models' 1-in-k samples of negatives, e.g. "
                             "champion=1,challenger=4,early=4 (default: the trainer's own)")
    parser.add_argument("--out", type=Path, default=RESULTS / "trainer_cost.json")
    args = parser.parse_args()
    settings = Settings.from_env()
    key = settings.model_key_bytes
    if args.model:
        start = Trainer.restore(args.model.read_bytes(), key)
        start.publish_every = settings.publish_every
        start.set_budget(settings.early_budget)
        start.early_min_history_days = settings.early_min_history_days
    else:
        start = Trainer(key, settings.publish_every, settings.early_budget,
                        settings.early_min_history_days)
    if args.negative_every:
        every = dict(start.negative_every)
        for part in args.negative_every.split(","):
            name, _, k = part.partition("=")
            every[name] = int(k)
        start.negative_every = every
    examples = load(args.examples, args.skip, args.limit)
    runs = [one_run(start, examples) for _ in range(args.runs)]
    keys = ("total", "instrumented_total", *STAGES)
    result = {
        "examples": len(examples),
        "early_labelled": sum(ex.early_label is not None for ex in examples),
        "positives": sum(ex.label for ex in examples),
        "runs": args.runs,
        "negative_every": getattr(start, "negative_every", None),
        "source": str(args.examples), "model": str(args.model) if args.model else None,
        "python": platform.python_version(),
        "us_per_example": {k: round(statistics.median(r[k] for r in runs), 1) for k in keys},
        "min_max": {k: [round(min(r[k] for r in runs), 1), round(max(r[k] for r in runs), 1)]
                    for k in keys},
    }
    med, mm = result["us_per_example"], result["min_max"]
    print(f"{len(examples):,} examples ({result['early_labelled']:,} with an early label, "
          f"{result['positives']:,} positive), medians of {args.runs}, µs per example:")
    for k in keys:
        print(f"  {k:<19} {med[k]:8.1f}   ({mm[k][0]:.1f}-{mm[k][1]:.1f})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
