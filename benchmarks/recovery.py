"""Seconds for a new `streamer worker` to restore N borrowers' state from the changelog.

Realistic state values: a small simulated book (`--book` borrowers, a year, industry
downturn) is replayed by the engine (`streamer.replay`, online learning as the workers do)
and its borrowers' states are the templates. N table values are built from them exactly as
the worker writes them (`states.encode_value((offsets, state.dumps()))`, key = the borrower id
in UTF-8, distinct ids `b0000000`...) and written straight to the changelog topic
`<app_id>-borrowers-changelog`, each to the partition the worker would write it to: the
worker writes a borrower's state to the partition of the borrower's event, which Kafka's
default partitioner chose (murmur2 of the key), so `murmur2(key) % partitions`. The
writes use aiokafka's batch API (`create_batch`/`send_batch`).

Then, for each `--stores` value and `--runs` times, one worker starts (fresh data dir, so
that RocksDB too restores everything from the changelog) and the time from its launch to
`/readyz` answering 200 is taken: `Runtime.ready` needs the table recovery complete (Faust's
`recovery.completed`, after `on_recovered` has rebuilt the portfolio aggregates), partitions
assigned and the broadcast topics read. The same set-up with an empty changelog (another
app id on the same topics) gives the start-up time without recovery, measured in the same
round; recovery = the difference. Worker RSS is read two seconds after ready.

    python benchmarks/recovery.py                          # starts its own Apache Kafka
    python benchmarks/recovery.py --bootstrap 127.0.0.1:19092 --borrowers 1000000 --runs 1

Writes benchmarks/results/recovery.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency import fmt, probe, spread  # noqa: E402
from worker_throughput import (  # noqa: E402
    REPO,
    bench_env,
    broker,
    machine,
    spawn_worker,
    stop_kafka,
    stop_workers,
)

from streamer.runtime import topics  # noqa: E402
from streamer.runtime.states import encode_value  # noqa: E402
from streamer.settings import Settings  # noqa: E402
from streamer.simulate import generate  # noqa: E402

BATCH_BYTES = 512 * 1024  # one produce batch (under the broker's 1 MB message.max.bytes)


def template_states(book: int, workdir: Path) -> list[bytes]:
    """`BorrowerState.dumps()` of every borrower of a replayed simulated book."""
    from streamer.replay import replay

    path = workdir / "book.jsonl"
    sim = generate("industry_downturn", book, 365, 17, "2026-01-01")
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for _, _, e in sim.events()))
    _summary, engine, _trainer = replay(path)
    return [s.dumps() for s in engine.states.values()]


async def write_changelog(settings: Settings, n: int, states: list[bytes]) -> dict:
    """N borrowers' table values on the changelog, as the worker would have written them."""
    from aiokafka import AIOKafkaProducer
    
    name = topics.changelog(settings, topics.BORROWERS_TABLE)
    parts = settings.partitions
    producer = AIOKafkaProducer(**topics.client_options(settings), acks="all",
                                max_batch_size=BATCH_BYTES, max_request_size=2 * BATCH_BYTES)
    await producer.start()
    started = time.perf_counter()
    payload = wire = 0
    try:
        batches = [producer.create_batch() for _ in range(parts)]
        pending: list[asyncio.Future] = []

        async def flush(p: int) -> None:
            nonlocal wire
            batch = batches[p]
            batch.close()
            wire += batch.size()
            pending.append(await producer.send_batch(batch, name, partition=p))
            batches[p] = producer.create_batch()
            if len(pending) >= 64:
                await asyncio.gather(*pending)
                pending.clear()

        for i in range(n):
            key = f"b{i:07d}".encode()
            # offsets of the borrower's last event per input topic (accounts, repayments,
            # transactions), of the size a busy book's offsets have
            value = encode_value(({0: i, 1: 60 * i + 7, 2: 90 * i + 11}, states[i % len(states)]))
            p = topics.default_partition(key, parts)
            payload += len(key) + len(value)
            if batches[p].append(key=key, value=value, timestamp=None) is None:
                await flush(p)
                batches[p].append(key=key, value=value, timestamp=None)
        for p in range(parts):
            if batches[p].record_count():
                await flush(p)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    seconds = time.perf_counter() - started
    return {"borrowers": n, "seconds": round(seconds, 2), "payload_bytes": payload,
            "batch_bytes": wire, "payload_bytes_per_borrower": round(payload / n, 1),
            "batch_bytes_per_borrower": round(wire / n, 1)}


def rss(pid: int) -> dict[str, int]:
    """Resident and peak resident bytes of a process (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line.split(":")[0]] = int(line.split()[1]) * 1024
    return {"rss_bytes": out["VmRSS"], "peak_rss_bytes": out["VmHWM"]}


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def start_worker(env: dict[str, str], data_dir: Path, log: Path, timeout: float) -> dict:
    """Launch one worker, wait for /readyz 200; its times and memory, then stop it."""
    shutil.rmtree(data_dir, ignore_errors=True)
    launched = time.perf_counter()
    proc, addr = spawn_worker(env, data_dir, log)
    serving = None
    try:
        while True:
            status = probe(addr, "/readyz")
            now = time.perf_counter()
            if status is not None and serving is None:
                serving = now - launched
            if status == 200:
                ready = now - launched
                break
            if proc.poll() is not None or now - launched > timeout:
                return {"error": f"not ready after {now - launched:.0f} s (log: {log})"}
            time.sleep(0.1)
        time.sleep(2.0)
        out = {"ready_s": round(ready, 2), "serving_s": round(serving or ready, 2),
               **rss(proc.pid)}
        if env["STREAMER_STORE"].startswith("rocksdb"):
            out["data_dir_bytes"] = du(data_dir)
        return out
    finally:
        stop_workers([proc])
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMER_TEST_BOOTSTRAP"))
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--book", type=int, default=600,
                        help="borrowers of the replayed book whose states are the templates")
    parser.add_argument("--stores", nargs="+", default=["rocksdb://", "memory://"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/recovery.json")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="streamer-recovery-"))
    bootstrap, kafka_env = broker(args.bootstrap, workdir)
    try:
        base = {**bench_env(bootstrap, args.partitions), "STREAMER_TRAINING": "off"}
        envs = {"full": base, "empty": {**base, "STREAMER_APP_ID": base["STREAMER_APP_ID"] + "0"}}
        for env in envs.values():
            if asyncio.run(topics.apply(Settings.from_env(env), out=lambda _l: None)):
                sys.exit("streamer topics apply failed")
        t0 = time.perf_counter()
        states = template_states(args.book, workdir)
        sizes = sorted(len(s) for s in states)
        print(f"{len(states):,} template states from a replayed book in "
              f"{time.perf_counter() - t0:.1f} s (state bytes median {sizes[len(sizes) // 2]:,}, "
              f"p95 {sizes[int(0.95 * len(sizes))]:,}); writing {args.borrowers:,} borrowers "
              f"to the changelog on {bootstrap}", flush=True)
        written = asyncio.run(write_changelog(Settings.from_env(base), args.borrowers, states))
        print(json.dumps(written), flush=True)
        runs: list[dict] = []
        for i in range(args.runs):
            for store in args.stores:
                for changelog, env in (("empty", envs["empty"]), ("full", envs["full"])):
                    r = start_worker({**env, "STREAMER_STORE": store}, workdir / "data",
                                     workdir / f"worker-{i}-{store[:-3]}-{changelog}.log",
                                     args.timeout)
                    r.update(run=i + 1, store=store, changelog=changelog,
                             loadavg=list(os.getloadavg()))
                    runs.append(r)
                    print(json.dumps(r), flush=True)
        n = args.borrowers
        per_store = {}
        for store in args.stores:
            recover, per_s, per_borrower, disk = [], [], [], []
            for i in range(1, args.runs + 1):
                pair = {r["changelog"]: r for r in runs if r["run"] == i and r["store"] == store}
                if any("error" in r for r in pair.values()):
                    continue
                full, empty = pair["full"], pair["empty"]
                seconds = full["ready_s"] - empty["ready_s"]  # same round: isolates recovery
                recover.append(seconds)
                per_s.append(n / seconds if seconds > 0 else float("nan"))
                per_borrower.append((full["rss_bytes"] - empty["rss_bytes"]) / n)
                if "data_dir_bytes" in full:
                    disk.append((full["data_dir_bytes"] - empty["data_dir_bytes"]) / n)
            ok = [r for r in runs if r["store"] == store and "error" not in r]
            per_store[store] = {
                "ready_s_empty": spread([r["ready_s"] for r in ok if r["changelog"] == "empty"]),
                "ready_s_full": spread([r["ready_s"] for r in ok if r["changelog"] == "full"]),
                "recovery_s": spread(recover), "borrowers_per_s": spread(per_s),
                "rss_bytes_full": spread([r["rss_bytes"] for r in ok if r["changelog"] == "full"]),
                "rss_bytes_per_borrower": spread(per_borrower),
                "data_dir_bytes_per_borrower": spread(disk),
                "failed_runs": len(runs) // len(args.stores) - len(ok),
            }
        report = {
            "benchmark": "recovery",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "broker": "Apache Kafka (deploy/kafka/kafka.sh)" if kafka_env else bootstrap,
            "partitions": args.partitions, "borrowers": n, "book": len(states),
            "template_state_bytes": {"median": sizes[len(sizes) // 2],
                                     "p95": sizes[int(0.95 * len(sizes))]},
            "changelog": written,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "summary": per_store, "runs": runs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nRecovery of {n:,} borrowers from the changelog "
              f"({written['batch_bytes_per_borrower']:,.0f} changelog bytes per borrower), one "
              f"worker, median (min–max) of {args.runs} runs:\n")
        print("| store | start-up, empty changelog s | start-up, full changelog s | recovery s "
              "| borrowers/s | RSS after recovery MB | RSS bytes/borrower over empty |")
        print("|---|---|---|---|---|---|---|")

        for store, s in per_store.items():
            print(f"| {store} | {fmt(s['ready_s_empty'], 1)} | {fmt(s['ready_s_full'], 1)} "
                  f"| {fmt(s['recovery_s'], 1)} | {fmt(s['borrowers_per_s'])} "
                  f"| {fmt(s['rss_bytes_full'], 0, 2**20)} | {fmt(s['rss_bytes_per_borrower'])} |")
        print(f"\n-> {args.out}")
        return 0
    finally:
        stop_kafka(kafka_env)


if __name__ == "__main__":
    sys.exit(main())
