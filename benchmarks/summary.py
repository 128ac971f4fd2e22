"""The benchmarks' results against issue 6's targets, as Markdown (benchmarks/results/summary.md).

Reads what the other benchmarks wrote in benchmarks/results/ (a benchmark that has not run
is shown as such) and writes one table of targets and one section per benchmark.

    python benchmarks/summary.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def spread(d: dict[str, Any], fmt: str = "{:,.0f}") -> str:
    """'median (min–max)' of a {median, min, max} dict."""
    return f"{fmt.format(d['median'])} ({fmt.format(d['min'])}–{fmt.format(d['max'])})"


def _scoring_rate(replay: dict[str, Any]) -> float:
    """The replay core's scoring-only events/s: the median of runs, or the one run of a
    result written before 2026-12-07."""
    scoring = replay["events_per_s_scoring_only"]
    return scoring["median"] if isinstance(scoring, dict) else scoring


def _scoring(replay: dict[str, Any]) -> str:
    """`_scoring_rate` as text, with its spread and CPU per event where the runs have them."""
    scoring = replay["events_per_s_scoring_only"]
    if not isinstance(scoring, dict):
        return f"{scoring:,.0f} events/s"
    cpu = replay["cpu_us_per_event_scoring_only"]["median"]
    return f"{spread(scoring)} events/s ({cpu:.1f} µs of CPU per event)"


def targets(replay: Any, worker: Any, latency: Any, memory: Any,
            slide: Any = None) -> list[str]:
    rows = ["| target | measured | met |", "|---|---|---|"]

    def row(target: str, measured: str, met: bool | None) -> None:
        rows.append(f"| {target} | {measured} | {'yes' if met else 'no' if met is False else '-'} |")

    if worker:
        one = next((r for r in worker["results"] if r["workers"] == 1 and "ratio" in r), None)
        two = next((r for r in worker["results"] if r["workers"] == 2 and "ratio" in r), None)
        if one:
            rate = one["events_per_s"]["median"]
            row("one scoring worker on Apache Kafka >= 15,000 events/s", f"{rate:,.0f}",
                rate >= 15_000)
            bare = one.get("ratio_to_bare_engine")
            if bare:
                row(">= 60% of a bare aiokafka loop running the same engine (same run)",
                    f"{bare['median']:.0%} ({one['bare_engine_events_per_s']['median']:,.0f} "
                    "events/s bare)", bare["median"] >= 0.6)
        if one and two:
            scale = two["events_per_s"]["median"] / one["events_per_s"]["median"]
            apart = " (trainer apart)" if worker.get("trainer_apart") else ""
            row(f"2 scoring workers >= 1.7x one{apart}", f"{scale:.2f}x", scale >= 1.7)
    if replay:
        rate = replay["events_per_s_learning"]["median"]
        scoring = _scoring_rate(replay)
        row("replay core >= 40,000 events/s with learning, >= 80,000 scoring only, one core",
            f"{rate:,.0f} with learning; {scoring:,.0f} scoring only",
            rate >= 40_000 and scoring >= 80_000)
    if slide:
        rates = [r["events_per_cpu_s"] for r in slide["slices"]]
        later = min(rates[1:]) / max(rates[1:]) if len(rates) > 1 else 1.0
        row("replay core flat within 15% over 10 M events",
            f"{slide['events']:,} events: slowest tenth {slide['slowest_to_first']:.2f} of the "
            f"first; from the second tenth on, slowest {later:.2f} of fastest",
            slide["slowest_to_first"] >= 0.85 and slide["events"] >= 10_000_000)
    if latency:
        for rate, bound in (("1000", 50), ("2000", 100), ("5000", 250)):
            s = latency["summary"].get(rate)
            if s:
                row(f"p99 event-to-alert < {bound} ms at {int(rate):,} events/s",
                    f"{s['p99_ms']['median']:,.0f} ms"
                    + (" (worker saturated)" if s.get("saturated_runs") else ""),
                    s["p99_ms"]["median"] < bound)
    if memory:
        for w in memory.get("worker", []):
            row(f"<= 1 KB resident per borrower ({w['borrowers']:,} borrowers)",
                f"{w['per_borrower']:,} B (RocksDB + {w['cache']:,} decoded cached)",
                w["per_borrower"] <= 1024)
    return rows


def sections(replay: Any, worker: Any, latency: Any, recovery: Any, memory: Any) -> list[str]:
    out: list[str] = []
    if worker:
        out += ["", f"### Worker throughput ({worker['broker']}, {worker['events']:,} events, "
                f"{worker['borrowers']:,} borrowers, {worker['partitions']} partitions)", "",
                "| workers | events/s | ratio to a bare consumer (decode only) | ratio to a "
                "bare loop with the same engine | CPU µs per event |",
                "|---|---|---|---|---|"]
        for r in worker["results"]:
            if "ratio" not in r:
                out.append(f"| {r['workers']} | {r.get('error', 'no result')} | | | |")
                continue
            bare = r.get("ratio_to_bare_engine")
            out.append(f"| {r['workers']} | {spread(r['events_per_s'])} | "
                       f"{spread(r['ratio'], '{:.1%}')} | "
                       f"{spread(bare, '{:.0%}') if bare else '-'} | "
                       f"{spread(r['cpu_us_per_event'])} |")
    if replay:
        us = replay["us_per_event"]
        out += ["", f"### Replay core ({replay['events']:,} events, {replay['borrowers']:,} "
                "borrowers, one core)", "",
                f"- with online learning: {spread(replay['events_per_s_learning'])} events/s",
                f"- scoring only: {_scoring(replay)}",
                "- µs per event: " + ", ".join(
                    f"{name} {us[key]:.1f}" for name, key in (
                        ("decode", "decode_us"), ("state", "state_us"),
                        ("features", "features_us"), ("model", "model_us"),
                        ("policy", "policy_us"), ("labels, outputs and the rest", "other_us"),
                        ("online learning", "learning_us")) if key in us)]
    if latency:
        out += ["", f"### Event-to-alert latency ({latency['workers']} worker, "
                f"{latency['seconds']:.0f} s per run)", "",
                "| offered events/s | processed events/s | p50 ms | p99 ms | p99.9 ms | saturated runs |",
                "|---|---|---|---|---|---|"]
        for rate, s in latency["summary"].items():
            out.append(f"| {int(rate):,} | {spread(s['processed_events_per_s'])} | "
                       f"{spread(s['p50_ms'])} | {spread(s['p99_ms'])} | {spread(s['p999_ms'])} | "
                       f"{s.get('saturated_runs', 0)} of {s['runs']} |")
    if recovery:
        out += ["", f"### Recovery of {recovery['borrowers']:,} borrowers from the changelog "
                "(one new worker)", "",
                "| store | seconds to restore | borrowers/s | worker RSS over empty, per borrower |",
                "|---|---|---|---|"]
        for store, s in recovery["summary"].items():
            out.append(f"| `{store}` | {spread(s['recovery_s'], '{:,.1f}')} | "
                       f"{spread(s['borrowers_per_s'])} | "
                       f"{spread(s['rss_bytes_per_borrower'])} B |")
    if memory:
        from memory import markdown  # noqa: PLC0415 - the memory benchmark's own table

        out += ["", "### Memory per borrower", "", markdown(memory)]
    return out


def main() -> int:
    replay, worker, latency, recovery, memory = (
        load(n) for n in ("replay_core", "worker_throughput", "latency", "recovery", "memory"))
    embedded = load("worker_throughput_embedded")
    missing = [n for n, d in zip(("replay_core", "worker_throughput", "latency", "recovery",
                                  "memory"), (replay, worker, latency, recovery, memory)) if not d]
    lines = ["## Benchmarks", "", "`benchmarks/run.sh` on a 2-core shared VM; medians of repeated "
             "runs, (min–max).", ""]
    lines += targets(replay, worker, latency, memory, load("replay_slide"))
    lines += sections(replay, worker, latency, recovery, memory)
    if embedded:
        lines += sections(None, embedded, None, None, None)
    profile = load("profile")
    if profile:
        lines += ["", f"### Where one worker's CPU goes under a backlog (py-spy, "
                  f"{profile['samples']:,} samples, `benchmarks/profile_worker.py`)", "",
                  "| layer | share of samples |", "|---|---|"]
        lines += [f"| {name} | {share:.1%} |" for name, share in profile["share"].items()]
    if missing:
        lines += ["", "Not run: " + ", ".join(missing)]
    text = "\n".join(lines) + "\n"
    (RESULTS / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
