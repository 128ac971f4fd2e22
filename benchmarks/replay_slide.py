"""Is the replay core's rate flat over a long stream? The engine's rate slice by slice.

    .venv/bin/python benchmarks/replay_slide.py [--borrowers 21000] [--days 1095]
        [--slices 10] [--learn] [--model SNAPSHOT | --history 3000]

Generates a baseline book of `--borrowers` over `--days` once (cached under out/bench/;
21,000 borrowers over three years is about 10 M events), then feeds it through the
pipeline as `streamer replay` does (learning online with `--learn`, else scoring as it is
with `--model`, or with a model learned from a `--history` book of another seed) and
times each tenth of the events in CPU seconds. Beside each slice's rate it counts what
the state holds: pending snapshots (labels.py) and borrowers, the two things a borrower's
event can loop over, and the work a young book does not do yet: events with an early
score (none in an account's first 30 days) and labelled examples released (none in the
first 90 days). The figure the issue asks for is the ratio of the slowest slice to the
first. Writes benchmarks/results/replay_slide.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from streamer.pipeline import Pipeline
from streamer.settings import Settings

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"  # generated input (large)
RESULTS = Path(__file__).resolve().parent / "results"


def history_model(borrowers: int) -> Path:
    """A model learned from a year of another book (seed 1001), cached under out/bench/."""
    model = OUT / f"history-{borrowers}.model"
    if not model.exists():
        events = OUT / f"history-{borrowers}.jsonl"
        cli = [sys.executable, "-m", "streamer.cli"]
        subprocess.run([*cli, "simulate", "--scenario", "baseline", "--borrowers",
                        str(borrowers), "--seed", "1001", "--out", str(events), "--truth",
                        str(OUT / "history-truth.jsonl")], check=True)
        subprocess.run([*cli, "replay", str(events), "--save-model", str(model), "--quiet"],
                       check=True)
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=21_000)
    parser.add_argument("--days", type=int, default=1095)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--learn", action="store_true", help="learn online as replay does")
    parser.add_argument("--model", type=Path,
                        help="a signed snapshot to score with (default: one learned from a "
                             "--history book, as quality.sh's)")
    parser.add_argument("--history", type=int, default=3000,
                        help="borrowers of the history book the default model learns (0: "
                             "score with the prior)")
    parser.add_argument("--out", type=Path, default=RESULTS / "replay_slide.json")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    events = OUT / f"baseline-{args.borrowers}-{args.days}d.jsonl"
    if not events.exists():
        subprocess.run([sys.executable, "-m", "streamer.cli", "simulate", "--scenario",
                        "baseline", "--borrowers", str(args.borrowers), "--days",
                        str(args.days), "--seed", "11", "--out", str(events), "--truth",
                        str(OUT / "slide-truth.jsonl")], check=True)
    with open(events, "rb") as f:
        total = sum(1 for _ in f)
    per = -(-total // args.slices)

    if args.model is None and args.history:
        args.model = history_model(args.history)
    pipeline = Pipeline(Settings())
    if args.model and not pipeline.load_snapshot(args.model.read_bytes()):
        raise SystemExit("--model: the snapshot's signature does not match STREAMER_MODEL_KEY")
    engine, process, learn, swap = (pipeline.engine, pipeline.process, pipeline.learn,
                                    pipeline.load_snapshot)
    slices = []
    name = str(events)
    with open(events, "rb") as f:
        for k in range(args.slices):
            lines = [line.rstrip(b"\n") for _, line in zip(range(per), f)]
            if not lines:
                break
            examples = early = 0
            cpu = time.process_time()
            for offset, value in enumerate(lines, k * per):
                fx = process(value, name, 0, offset)
                if fx.score is not None and fx.score.early_score is not None:
                    early += 1
                if args.learn:
                    for example in fx.examples:
                        blob = learn(example)
                        if blob is not None:
                            swap(blob)
                examples += len(fx.examples)
            cpu = time.process_time() - cpu
            pending = [len(s.pending) for s in engine.states.values()]
            slices.append({"events": len(lines), "cpu_s": round(cpu, 3),
                           "events_per_cpu_s": round(len(lines) / cpu),
                           "examples": examples, "early_scored": early,
                           "borrowers": len(pending),
                           "pending_snapshots": sum(pending),
                           "pending_max": max(pending, default=0)})
            s = slices[-1]
            print(f"slice {k + 1:2d}: {s['events']:>9,} events {s['events_per_cpu_s']:>8,}/CPU s"
                  f"  early-scored {early / len(lines):4.0%}  examples {examples:>7,}"
                  f"  borrowers {s['borrowers']:>7,}  pending {s['pending_snapshots']:>9,}"
                  f" (max {s['pending_max']})", flush=True)
    rates = [s["events_per_cpu_s"] for s in slices]
    result = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                   f"python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                 text=True, cwd=Path(__file__).parent).stdout.strip(),
        "events": sum(s["events"] for s in slices), "learning": args.learn,
        "model": str(args.model) if args.model else None,
        "slowest_to_first": round(min(rates) / rates[0], 3),
        "last_to_first": round(rates[-1] / rates[0], 3),
        "median_events_per_cpu_s": statistics.median(rates),
        "slices": slices,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['events']:,} events: slowest slice / first {result['slowest_to_first']:.2f},"
          f" last / first {result['last_to_first']:.2f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
