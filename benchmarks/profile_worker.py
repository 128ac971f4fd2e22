"""Where one worker's CPU goes under a backlog: py-spy samples grouped by layer.

The setting of `worker_throughput.py` (fresh topics, a signed model, simulated events
pre-produced, then one `streamer worker`); once the worker reports its first processed
offset, `py-spy record` samples it for `--seconds`. Each sample (a Python stack, the
Faust consumer thread's included) counts for the first layer of `LAYERS` its stack
matches: training, the engine's parts, producing outputs and state, the runtime, the
consumer thread (aiokafka fetching), then Faust/mode and asyncio.

    python benchmarks/profile_worker.py                  # starts its own Apache Kafka
    python benchmarks/profile_worker.py --bootstrap 127.0.0.1:19092 --seconds 30

Writes benchmarks/results/profile.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_throughput import (  # noqa: E402
    REPO,
    bench_env,
    broker,
    end_offsets,
    machine,
    publish,
    scrape,
    spawn_worker,
    starter_model,
    stop_kafka,
    stop_workers,
)

from streamer.runtime import topics  # noqa: E402
from streamer.settings import Settings  # noqa: E402
from streamer.simulate import generate  # noqa: E402
from streamer.simulate.kafka import produce  # noqa: E402

# (layer, substrings of a frame). A sample counts for the layer of the innermost frame of
# its stack that names one (`layer`), except that whatever runs under training or under
# sending the batch's records counts for those (CONTAINING): every stack of the worker's
# event loop starts in streamer/runtime/worker.py and runs through Faust's agent, so an
# outermost match would give every sample to them.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("training (trainer.py)", ("streamer/core/trainer.py",)),
    ("outputs and state to Kafka (BatchProducer.produce)", ("streamer/faust015/producer.py",
                                                          "_persist (")),
    ("engine: features", ("streamer/core/features.py",)),
    ("engine: model scores", ("streamer/core/model.py", "river/")),
    ("engine: decode and state update", ("streamer/core/events.py", "streamer/core/state.py",
                                         "streamer/core/update.py")),
    ("engine: policy, labels, outputs", ("streamer/core/",)),
    ("runtime: batches, offsets, metrics", ("streamer/runtime/batches.py",
                                            "streamer/runtime/states.py",
                                            "streamer/runtime/metrics.py",
                                            "streamer/runtime/intake.py",
                                            "streamer/runtime/app.py",
                                            "streamer/faust015/offsets.py", "prometheus_client/")),
    ("Faust consumer thread (aiokafka fetch)", ("_fetch_records", "ServiceThread")),
    ("aiokafka (producer, connections)", ("aiokafka/",)),
    ("Faust/mode: fetch loop, conductor, streams", ("faust/", "mode/", "streamer/faust015/")),
    ("socket writes and reads (asyncio transports)", ("selector_events.py",)),
)
CONTAINING = 2  # the first layers: a frame anywhere in the stack decides


def layer(stack: str) -> str:
    frames = stack.split(";")
    if "(selectors.py" in frames[-1]:
        return "waiting in the event loop (sampled as busy)"
    for name, needles in LAYERS[:CONTAINING]:
        if any(n in stack for n in needles):
            return name
    for frame in reversed(frames):
        for name, needles in LAYERS[CONTAINING:]:
            if any(n in frame for n in needles):
                return name
    return "asyncio and the rest"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=None)
    parser.add_argument("--borrowers", type=int, default=2000)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/profile.json")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="streamer-profile-"))
    bootstrap, kafka_env = broker(args.bootstrap, workdir)
    raw = workdir / "worker.raw"
    try:
        items = list(generate("industry_downturn", args.borrowers, args.days, 5,
                              "2026-01-01").events())
        env = bench_env(bootstrap, 4)
        settings = Settings.from_env(env)
        if asyncio.run(topics.apply(settings, out=lambda _l: None)):
            sys.exit("streamer topics apply failed")
        asyncio.run(publish(settings, starter_model(settings, workdir)))
        asyncio.run(produce(items, topics.client_options(settings), settings.topic_prefix))
        ends = asyncio.run(end_offsets(settings))
        proc, addr = spawn_worker(env, workdir / "w", workdir / "worker.log")
        try:
            deadline = time.monotonic() + 120
            while not scrape(addr):  # sample while it works through the backlog
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"the worker did not start processing (see {workdir})")
                time.sleep(0.2)
            subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "-p",
                            str(proc.pid), "-d", str(int(args.seconds)), "-r", str(args.rate),
                            "--format", "raw", "-o", str(raw), "--nonblocking"],
                           check=True, capture_output=True)
            seen = scrape(addr)
            still_busy = any(seen.get(tp, -1) < end - 1 for tp, end in ends.items() if end > 0)
        finally:
            stop_workers([proc])
    finally:
        stop_kafka(kafka_env)
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        counts[layer(stack)] += int(n)
    total = sum(counts.values())
    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(),
              "borrowers": args.borrowers, "seconds": args.seconds, "samples": total,
              "backlog_left_at_end": still_busy,
              "share": {k: round(v / total, 4) for k, v in counts.most_common()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"| layer | share of {total:,} samples |\n|---|---|")
    for name, share in report["share"].items():
        print(f"| {name} | {share:.1%} |")
    if not still_busy:
        print("(the backlog ran out while sampling; py-spy skips idle threads, so the shares "
              "are of busy time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
