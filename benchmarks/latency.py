"""Event-to-alert latency of one `streamer worker` at fixed offered loads, on Apache Kafka.

One worker (full pipeline: state table with changelog, scoring, alerts; `STREAMER_TRAINING=off`
with a signed starter model published first, so alerts flow from the first event) runs on
fresh topics for the whole benchmark. A paced producer in this process offers simulated
borrower events at each `--rates` value for `--seconds`, recording the send time of every
`event_id`; an aiokafka consumer in this process, positioned at the end of `risk.alerts`
before producing starts, reads every alert and matches its `trigger_event_id`. Latency =
time the alert is read - time its trigger event was handed to the producer (both
`time.perf_counter()` in this process; it includes the producer's linger of 5 ms, the
worker's batching (`--batch-wait-s`, its STREAMER_BATCH_WAIT_S) and the alert's delivery).

Runs go round the rates `--runs` times (rate A, rate B, rate A, ...), each on the same worker,
after a short unmeasured warm-up; between runs the worker's backlog is drained. Whether the
worker kept up is read from its /metrics at the end of each run's producing window:
processed rate vs offered rate and the lag (events produced, not yet processed). A run whose
lag at the end exceeds a second of offered load, or whose processed rate is under 95% of the
offered rate, is marked saturated: its latency then grows with the backlog (the alerts of
the backlog are still measured, as they are read while it drains). The worker's CPU time
(used) and run-queue time (runnable but waiting for a CPU: what other processes on the
machine took from it, Linux schedstat) per second of the run tell a worker limited by its
own cost per event from one starved by its neighbours.

`--seconds` is 20 by default so that the default run (2 rates x 3 runs, plus the drains of
saturated runs) stays near five minutes; use `--seconds 60` for steadier tails.

    python benchmarks/latency.py                                  # starts its own Apache Kafka
    python benchmarks/latency.py --bootstrap 127.0.0.1:19092 --rates 2000 5000 --seconds 60

Writes benchmarks/results/latency.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))

from worker_throughput import (  # noqa: E402
    REPO,
    bench_env,
    broker,
    cpu_seconds,
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
from streamer.simulate.kafka import Producer  # noqa: E402

EVENTS_PER_BORROWER_YEAR = 150  # what the simulator makes, roughly (~306k for 2,000)
WARMUP_S = 5.0


def stamped(items: Iterable[tuple[str, str, dict]], sent: dict[str, float]
            ) -> Iterator[tuple[str, str, dict]]:
    """The items, recording for each event_id the moment the producer takes it to send."""
    clock = time.perf_counter
    for item in items:
        sent[item[2]["event_id"]] = clock()
        yield item


class AlertReader:
    """Every alert on risk.alerts from now on: (trigger_event_id, time it was read)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.read: list[tuple[str, float]] = []
        self._task: asyncio.Task | None = None
        self._consumer = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        name = topics.topic(self.settings, topics.ALERTS)
        self._consumer = consumer = AIOKafkaConsumer(**topics.client_options(self.settings),
                                                     enable_auto_commit=False,
                                                     fetch_max_wait_ms=100)
        await consumer.start()
        (n,) = [p.partitions for p in topics.plan(self.settings) if p.name == name]
        tps = [TopicPartition(name, p) for p in range(n)]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)  # resolve the end now, before anything is produced
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        decode, clock, read = msgspec.json.decode, time.perf_counter, self.read
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = clock()
            for records in batches.values():
                for r in records:
                    read.append((decode(r.value)["trigger_event_id"], now))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()


def waited(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (Linux schedstat):
    time other processes on the machine took from it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            pass  # a thread that just ended
    return total / 1e9


def processed(addr: str) -> dict[tuple[str, int], float]:
    return {tp: off for tp, off in scrape(addr).items() if not tp[0].endswith("changelog")}


def backlog(ends: dict[tuple[str, int], int], seen: dict[tuple[str, int], float]) -> int:
    """Events on the input topics not yet processed (end offset - next offset to process)."""
    return int(sum(max(0, end - (seen.get(tp, -1) + 1)) for tp, end in ends.items()))


def probe(addr: str, path: str = "/readyz") -> int | None:
    """HTTP status of a worker's probe, None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{addr}{path}", timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    return sorted_values[min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))]


async def measure(settings: Settings, worker: tuple[int, str], stream: Iterator, rate: int,
                  seconds: float, drain_timeout: float) -> dict:
    """One run: `rate` events/s for `seconds`, then drain; latency of the alerts it caused."""
    pid, addr = worker
    sent: dict[str, float] = {}
    reader = AlertReader(settings)
    await reader.start()
    try:
        before = processed(addr)
        ends_before = await end_offsets(settings)
        async with Producer(topics.client_options(settings), settings.topic_prefix) as producer:
            started, cpu_before, wait_before, own_before = (
                time.perf_counter(), cpu_seconds(pid), waited(pid), time.process_time())
            count = await producer.produce(stamped(islice(stream, int(rate * seconds)), sent),
                                           rate=rate)
            produced_s = time.perf_counter() - started
        ends = await end_offsets(settings)
        after = processed(addr)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        wait = waited(pid) - wait_before
        own = time.process_time() - own_before
        lag = backlog(ends, after)
        offered_inputs = sum(ends.values()) - sum(ends_before.values())
        done = sum(after.get(tp, -1) - before.get(tp, -1) for tp in after)
        # drain: until the worker processed everything, then a last fetch of its alerts
        drain_started = time.perf_counter()
        while backlog(ends, processed(addr)) and time.perf_counter() - drain_started < drain_timeout:
            await asyncio.sleep(0.5)
        drained_s = time.perf_counter() - drain_started
        await asyncio.sleep(1.0)
    finally:
        await reader.stop()
    latencies = sorted(t - sent[eid] for eid, t in reader.read if eid in sent)
    offered = count / produced_s
    processed_rate = done / elapsed
    saturated = lag > rate or processed_rate < 0.95 * offered_inputs / elapsed
    ms = [x * 1000 for x in latencies]
    return {
        "rate": rate, "seconds": round(produced_s, 2), "events": count,
        "offered_events_per_s": round(offered),
        "processed_events_per_s": round(processed_rate),
        "lag_at_end": lag,
        # a worker is one Python thread: near 1.0 it is CPU-bound on its own work; well
        # under 1.0 while lagging, other processes on the 2 cores took its CPU
        "worker_cpu_util": round(cpu / elapsed, 2),
        "worker_cpu_wait_util": round(wait / elapsed, 2),  # runnable, no CPU free
        "worker_cpu_us_per_event": round(cpu / done * 1e6, 1) if done else None,
        "benchmark_cpu_util": round(own / elapsed, 2), "drain_s": round(drained_s, 2),
        "saturated": saturated,
        "alerts": len(ms), "alerts_unmatched": len(reader.read) - len(ms),
        "p50_ms": round(percentile(ms, 0.50), 2), "p99_ms": round(percentile(ms, 0.99), 2),
        "p999_ms": round(percentile(ms, 0.999), 2), "max_ms": round(ms[-1], 2) if ms else None,
    }


def spread(values: list[float]) -> dict:
    """Median, min and max (None when there is no value)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return {"median": None, "min": None, "max": None}
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2)}


def fmt(s: dict, digits: int = 0, scale: float = 1.0) -> str:
    """'median (min–max)' of a `spread`."""
    if s["median"] is None:
        return "n/a"
    return (f"{s['median'] / scale:,.{digits}f} "
            f"({s['min'] / scale:,.{digits}f}–{s['max'] / scale:,.{digits}f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("STREAMER_TEST_BOOTSTRAP"))
    parser.add_argument("--rates", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="longest wait for the worker's backlog after a run")
    parser.add_argument("--batch-wait-s", type=float, default=0.0,
                        help="the worker's STREAMER_BATCH_WAIT_S (0: a batch ends when the "
                             "queue runs dry; 0.05: Faust's take with its timer, as before)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/latency.json")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="streamer-latency-"))
    bootstrap, kafka_env = broker(args.bootstrap, workdir)
    proc = None
    try:
        needed = sum(args.rates) * args.seconds * args.runs + max(args.rates) * WARMUP_S
        borrowers = max(1000, math.ceil(needed * 1.1 / EVENTS_PER_BORROWER_YEAR))
        items = list(generate("industry_downturn", borrowers, 365, 5, "2026-01-01").events())
        env = {**bench_env(bootstrap, args.partitions), "STREAMER_TRAINING": "off",
               "STREAMER_BATCH_WAIT_S": str(args.batch_wait_s)}
        settings = Settings.from_env(env)
        if asyncio.run(topics.apply(settings, out=lambda _l: None)):
            sys.exit("streamer topics apply failed")
        asyncio.run(publish(settings, starter_model(settings, workdir)))
        print(f"{len(items):,} simulated events ({borrowers:,} borrowers, a year) on {bootstrap}; "
              f"one worker, {args.partitions} partitions", flush=True)
        proc, addr = spawn_worker(env, workdir / "w0", workdir / "worker.log")
        deadline = time.perf_counter() + 120
        while probe(addr) != 200:
            if proc.poll() is not None or time.perf_counter() > deadline:
                sys.exit(f"the worker did not become ready (log: {workdir / 'worker.log'})")
            time.sleep(0.2)
        stream = iter(items)
        worker = (proc.pid, addr)
        warm = asyncio.run(measure(settings, worker, stream, min(args.rates), WARMUP_S,
                                   args.drain_timeout))
        print(f"warm-up: {warm['events']:,} events, {warm['alerts']} alerts", flush=True)
        runs: list[dict] = []
        loads: list[list[float]] = []
        for i in range(args.runs):
            for rate in args.rates:
                loads.append(list(os.getloadavg()))
                r = asyncio.run(measure(settings, worker, stream, rate, args.seconds,
                                        args.drain_timeout))
                r["run"] = i + 1
                runs.append(r)
                print(json.dumps(r), flush=True)
        per_rate = {}
        for rate in args.rates:
            rs = [r for r in runs if r["rate"] == rate]
            per_rate[str(rate)] = {
                "runs": len(rs), "saturated_runs": sum(r["saturated"] for r in rs),
                **{k: spread([r[k] for r in rs]) for k in ("p50_ms", "p99_ms", "p999_ms", "alerts",
                                               "offered_events_per_s", "processed_events_per_s",
                                               "lag_at_end", "worker_cpu_util",
                                               "worker_cpu_wait_util",
                                               "worker_cpu_us_per_event")}}
        report = {
            "benchmark": "latency",
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {**machine(), "loadavg_before_runs": loads},
            "broker": "Apache Kafka (deploy/kafka/kafka.sh)" if kafka_env else bootstrap,
            "workers": 1, "partitions": args.partitions, "seconds": args.seconds,
            "batch_wait_s": settings.batch_wait_s, "borrowers": borrowers,
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "summary": per_rate, "runs": runs,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nEvent-to-alert latency, one worker, Apache Kafka, {args.seconds:g} s per run, "
              f"median (min–max) of {args.runs} runs:\n")
        print("| offered events/s | processed events/s | lag at end | worker CPU used, cores "
              "| worker waiting for a CPU, cores | alerts/run | p50 ms | p99 ms | p99.9 ms "
              "| kept up |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for rate, s in per_rate.items():
            kept = ("yes" if not s["saturated_runs"]
                    else f"**no, saturated** ({s['saturated_runs']}/{s['runs']} runs)")
            print(f"| {fmt(s['offered_events_per_s'])} | {fmt(s['processed_events_per_s'])} "
                  f"| {fmt(s['lag_at_end'])} | {fmt(s['worker_cpu_util'], 2)} "
                  f"| {fmt(s['worker_cpu_wait_util'], 2)} "
                  f"| {fmt(s['alerts'])} | {fmt(s['p50_ms'], 1)} | {fmt(s['p99_ms'], 1)} "
                  f"| {fmt(s['p999_ms'], 1)} | {kept} |")
        print(f"\n-> {args.out}")
        return 0
    finally:
        if proc is not None:
            stop_workers([proc])
        stop_kafka(kafka_env)


if __name__ == "__main__":
    sys.exit(main())
