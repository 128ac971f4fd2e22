"""`streamer worker`: the production entry point, a Faust worker configured from the environment.

Every setting comes from a STREAMER_* variable (see `streamer/settings.py`); a bad one is
reported in one line (exit status 2). Before starting, the worker checks that the topics
exist as `streamer topics apply` creates them (it never creates topics itself) and stops
with the list of problems otherwise (exit status 2). It then runs Faust's worker machinery
until SIGINT/SIGTERM, serving /metrics, /healthz and /readyz on STREAMER_METRICS_ADDR.

Run several with the same STREAMER_APP_ID to share the partitions; give each its own
STREAMER_DATA_DIR (RocksDB) and, on one host, its own STREAMER_METRICS_ADDR and
STREAMER_WEB_PORT.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from pathlib import Path

from streamer.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-topic-check", action="store_true",
                        help="start without checking the topics first")


def run(args: argparse.Namespace, role: str = "worker") -> int:
    settings = Settings.from_env()
    me = f"streamer {role}"
    if settings.processing_guarantee == "exactly_once":
        print(f"{me}: STREAMER_PROCESSING_GUARANTEE=exactly_once is not supported: the "
              "worker sends its outputs in acknowledged batches (at least once) and every alert "
              "carries a stable alert_id for deduplication; use at_least_once", file=sys.stderr)
        return 2
    if not args.no_topic_check:
        from streamer.runtime import topics
        refused = _ConnectionRefusals()
        logging.getLogger("aiokafka").addHandler(refused)
        try:
            problems = asyncio.run(asyncio.wait_for(topics.check(settings), 60))
        except Exception as exc:  # noqa: BLE001 - unreachable cluster, bad credentials ...
            # aiokafka says only "Unable to bootstrap" and logs why; a refused password or
            # certificate must be told apart from an unreachable broker (reliability
            # scenario 12: a wrong password read "cannot reach Kafka").
            why = refused.reason
            if why:
                print(f"{me}: Kafka at {settings.bootstrap_servers} refused the "
                      f"connection ({settings.security_protocol}): {why}; check "
                      "STREAMER_SASL_USERNAME, STREAMER_SASL_PASSWORD, STREAMER_SASL_MECHANISM "
                      "and STREAMER_SSL_CAFILE", file=sys.stderr)
            else:
                print(f"{me}: cannot reach Kafka at {settings.bootstrap_servers}: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
        finally:
            logging.getLogger("aiokafka").removeHandler(refused)
        if problems:
            print(f"{me}: topics are not ready (run `streamer topics apply`): "
                  + "; ".join(problems), file=sys.stderr)
            return 2
    return serve(settings, role)


class _ConnectionRefusals(logging.Handler):
    """Remembers why aiokafka could not connect when the broker refused us (SASL, TLS)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.reason = ""

    def emit(self, record: logging.LogRecord) -> None:
        import ssl

        from aiokafka.errors import AuthenticationFailedError, SaslAuthenticationFailed

        for arg in record.args if isinstance(record.args, tuple) else ():
            if isinstance(arg, (SaslAuthenticationFailed, AuthenticationFailedError,
                                ssl.SSLError)):
                self.reason = f"{type(arg).__name__}: {arg}"


_CLIENT_LOGGERS = ("aiokafka", "aiokafka.producer.sender", "aiokafka.conn",  # client: "aiokafka"
                   "aiokafka.consumer.fetcher", "aiokafka.consumer.group_coordinator")


class _Repeats(logging.Filter):
    """Lets one record of each message template through per `every_s` seconds."""

    def __init__(self, every_s: float) -> None:
        super().__init__()
        self.every_s = every_s
        self.last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        if record.created - self.last.get(key, float("-inf")) < self.every_s:
            return False
        self.last[key] = record.created
        return True


def tune_gc() -> None:
    """Python's cyclic garbage collector collects its young generation every 700 net new
    container objects; the borrower cache and the pending snapshots alone grow by that
    many every few events, so under a backlog a worker ran 1,500 collections in 24 s of
    CPU, 7.6% of it (gc callbacks, `benchmarks/worker_throughput.py --borrowers 2000`).
    What start-up built (modules, the app) is frozen out of every collection, and the
    young generation is 50,000: 3 collections, 0.2%. Objects are still freed by reference
    counting the moment they are unused; only cycles wait longer."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def serve(settings: Settings, role: str = "worker") -> int:
    """Run one worker (or trainer) in this process until it is stopped; returns the exit
    status."""
    import faust

    from streamer.runtime.app import create_app, services

    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = create_app(settings, role)
    worker = faust.Worker(app, *services(app), loglevel=settings.log_level.upper(), quiet=True)
    # While the broker is away aiokafka logs the same connection errors and retry warnings
    # thousands of times a second (reliability scenario 4: 85,000 lines in a 20 s outage).
    repeats = _Repeats(every_s=5.0)
    for name in _CLIENT_LOGGERS:
        logging.getLogger(name).addFilter(repeats)
    # Faust's terminal spinner lowers the root logger to DEBUG at levels above info, which
    # makes every aiokafka debug call build a log record (9% of a worker's time, measured).
    worker.spinner = None
    tune_gc()
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
