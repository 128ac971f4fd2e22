"""Replay-core throughput: the engine alone over a pre-generated file, one core.

    .venv/bin/python benchmarks/replay_core.py [--borrowers 8000] [--runs 3]

Generates a baseline portfolio once (cached under out/bench/), then replays it `--runs`
times with online learning (as `streamer replay` does) and `--runs` times frozen (scoring
only; also timed in CPU seconds, the steadier figure on a shared machine),
and splits the time per event into decode, state, features, model, policy, the rest
of scoring (labels, outputs) and learning.
Prints the figures and writes out/bench/replay_core.json and .md.
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

from streamer.core import events as ev
from streamer.core import features
from streamer.core.context import Context
from streamer.core.engine import Engine
from streamer.core.policy import early_may_raise
from streamer.core.state import BorrowerState
from streamer.core.update import apply
from streamer.replay import replay

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"  # generated input (large)
RESULTS = Path(__file__).resolve().parent / "results"
STAGES = ("decode_us", "state_us", "features_us", "model_us", "policy_us", "other_us",
          "learning_us")


def stage_split(path: Path, engine: Engine, limit: int = 300_000,
                scored: int = 50_000) -> dict[str, float]:
    """Microseconds per event of each stage, measured stage by stage on the same lines.

    Model and policy use `engine`'s trained models on the first `scored` borrower events
    (their feature dicts are kept in memory for it); every figure is per event of the
    `limit` lines (macro readings included), as the throughput is.
    """
    lines = []
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i >= limit:
                break
            lines.append(line)
    t = time.perf_counter()
    decoded = [ev.decode(line) for line in lines]
    decode = time.perf_counter() - t
    borrower = [(e, e.epoch) for e in decoded if not isinstance(e, ev.MacroIndicator)]
    states: dict[str, BorrowerState] = {}
    t = time.perf_counter()
    for e, ts in borrower:
        s = states.get(e.borrower_id)
        if s is None:
            s = states[e.borrower_id] = BorrowerState.new()
        s.seen(e.event_id)
        apply(s, e, ts)
    state = time.perf_counter() - t
    ctx = Context()
    t = time.perf_counter()
    for e, ts in borrower:
        s = states[e.borrower_id]
        features.compute_row(s, ctx, ts, s.dpd_now, s.outstanding)
    feats = time.perf_counter() - t
    sample = [(features.compute(states[e.borrower_id], ctx, ts), ts) for e, ts in borrower[:scored]]
    rows = [list(x.values()) for x, _ in sample]  # as the engine reads them
    champion, early = engine.scorer, engine.early
    scores = []
    t = time.perf_counter()
    for row in rows:
        scores.append((champion.score_row(row), early.score_row(row) if early.ready else None))
    model = time.perf_counter() - t
    policy, tier, since = engine.policy, "none", 0.0
    t = time.perf_counter()
    for (x, ts), (score, early_score) in zip(sample, scores):
        decision = policy.decide(tier, since, score, int(x["dpd_now"] * 30), ts, True,
                                 early_score, not early_may_raise(x["missed_90d"]))
        if decision is not None:
            tier, since = decision.tier, ts
    decide = time.perf_counter() - t
    n, share = len(lines), len(borrower) / len(lines)  # per event of the whole stream
    return {"decode_us": decode / n * 1e6, "state_us": state / n * 1e6,
            "features_us": feats / n * 1e6, "model_us": model / len(sample) * share * 1e6,
            "policy_us": decide / len(sample) * share * 1e6, "events": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=8000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    events = OUT / f"baseline-{args.borrowers}.jsonl"
    if not events.exists():
        subprocess.run([sys.executable, "-m", "streamer.cli", "simulate", "--scenario",
                        "baseline", "--borrowers", str(args.borrowers), "--seed", "7",
                        "--out", str(events), "--truth", str(OUT / "truth.jsonl")], check=True)
    learning = []
    for _ in range(args.runs):
        summary, engine, _ = replay(events)
        learning.append(summary.rate)
        print(summary.line(), flush=True)
    # scoring only, with the models the last learning run ended with (trained, as in a worker)
    scoring, cpu = [], []
    for _ in range(args.runs):
        frozen_engine = Engine(scorer=engine.scorer)
        frozen_engine.early = engine.early
        started = time.process_time()
        frozen, _, _ = replay(events, learn=False, engine=frozen_engine)
        cpu.append((time.process_time() - started) / frozen.events * 1e6)
        scoring.append(frozen.rate)
    rate = statistics.median(scoring)
    sizes = [len(s.dumps()) for s in engine.states.values()]
    split = stage_split(events, engine)
    # the rest of scoring (labels, outputs, bookkeeping) and learning, by difference
    split["learning_us"] = 1e6 / statistics.median(learning) - 1e6 / rate
    split["other_us"] = 1e6 / rate - sum(split[k] for k in (
        "decode_us", "state_us", "features_us", "model_us", "policy_us"))
    result = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                   f"python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "events": summary.events,
        "borrowers": summary.borrowers,
        "training_examples": summary.examples,
        "events_per_s_learning": {"median": statistics.median(learning),
                                  "min": min(learning), "max": max(learning),
                                  "runs": learning},
        "events_per_s_scoring_only": {"median": rate, "min": min(scoring),
                                      "max": max(scoring), "runs": scoring},
        "cpu_us_per_event_scoring_only": {"median": statistics.median(cpu), "runs": cpu},
        "us_per_event": split,
        "state_bytes_per_borrower": {"median": statistics.median(sizes),
                                     "p95": sorted(sizes)[int(0.95 * len(sizes))]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "replay_core.json").write_text(json.dumps(result, indent=2) + "\n")
    md = (f"| replay core ({result['events']:,} events, {result['borrowers']:,} borrowers) "
          f"| value |\n|---|---|\n"
          f"| events/s with online learning (median of {args.runs}) "
          f"| {result['events_per_s_learning']['median']:,.0f} "
          f"({min(learning):,.0f}–{max(learning):,.0f}) |\n"
          f"| events/s scoring only (no learning, median of {args.runs}) | {rate:,.0f} "
          f"({min(scoring):,.0f}–{max(scoring):,.0f}); "
          f"{statistics.median(cpu):.1f} µs of CPU per event |\n"
          f"| µs/event decode / state / features / model / policy / other / learning "
          f"| {' / '.join(f'{split[k]:.1f}' for k in STAGES)} |\n"
          f"| serialized state per borrower (median, p95) "
          f"| {result['state_bytes_per_borrower']['median']:.0f} B, "
          f"{result['state_bytes_per_borrower']['p95']} B |\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
