"""Shared test helpers: contract-v1 events as bytes, built the way upstream systems send them;
the session's Apache Kafka (`kafka_bootstrap`), `deploy` and the test models (fixtures).
"""

from __future__ import annotations

import io
import itertools
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

_ids = itertools.count(1)
DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def ts_at(days: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(T0 + days * DAY, dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def event(type_: str, days: float = 0.0, borrower: str | None = "b1", **fields) -> dict:
    e = {"event_id": fields.pop("event_id", f"t{next(_ids)}"), "type": type_, "ts": ts_at(days),
         "v": 1}
    if borrower is not None:
        e["borrower_id"] = borrower
    e.update(fields)
    return e


def raw(e: dict) -> bytes:
    return json.dumps(e).encode()


def opened(borrower: str = "b1", days: float = 0.0, **kw) -> dict:
    fields = dict(credit_limit=20000, segment="salaried", industry="retail", region="R01",
                  credit_score=700, prior_delinquencies=0)
    fields.update(kw)
    return event("account_opened", days, borrower, **fields)


@pytest.fixture
def mk():
    """The builders, for tests that want them as a fixture."""
    class Builders:
        event = staticmethod(event)
        raw = staticmethod(raw)
        opened = staticmethod(opened)
        ts_at = staticmethod(ts_at)
    return Builders


# -- Kafka: one broker per session and the deployments on it, for tests/integration and
# tests/reliability alike (defined here, once, so that both folders share the broker) --
from streamer.core.trainer import Trainer  # noqa: E402
from streamer.replay import replay  # noqa: E402
from streamer.settings import Settings  # noqa: E402
from streamer.simulate import generate  # noqa: E402
from tests.integration.conftest import (  # noqa: E402
    CONTEXT_FEATURES,
    ENV_BOOTSTRAP,
    KEY,
    BrokerUnavailableError,
    Deployment,
    KafkaBroker,
    wait_for_kafka,
)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap address of a live Apache Kafka broker (see the module docstring)."""
    given = os.environ.get(ENV_BOOTSTRAP, "").strip()
    if given:
        error = None
        try:
            wait_for_kafka(given, timeout=30)
        except BrokerUnavailableError as exc:
            error = f"{ENV_BOOTSTRAP}={given}: {exc}"
        if error:  # outside the except block: no chained traceback in the report
            pytest.fail(error, pytrace=False)
        yield given
        return

    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    bootstrap = broker.start()
    try:
        yield bootstrap
    finally:
        broker.close()


@pytest.fixture
def deploy(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., Deployment]]:
    made: list[Deployment] = []

    def _make(**env: str) -> Deployment:
        d = Deployment(kafka_bootstrap, tmp_path, **env)
        made.append(d)
        return d

    yield _make
    for d in made:
        d.close()


# -- models -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[dict]]:
    """A signed snapshot trained by `replay` on a simulated year, and its training examples."""
    d = tmp_path_factory.mktemp("history")
    path = d / "history.jsonl"
    sim = generate("industry_downturn", 300, 365, 11, "2025-01-01")
    path.write_bytes(b"".join(msgspec.json.encode(e) + b"\n"
                              for _, _, e in sim.events()))
    examples = io.BytesIO()
    _summary, _engine, trainer = replay(path, examples=examples, settings=Settings())
    assert trainer is not None and trainer.champion.n_positive >= 10
    return trainer.publish(), [msgspec.json.decode(line) for line in examples.getvalue().splitlines()]


@pytest.fixture(scope="session")
def frozen_snapshot(history: tuple[bytes, list[dict]]) -> bytes:
    """A model of the borrower's own history only (no macro or portfolio features).

    With it, a borrower's alerts depend on nothing but that borrower's events in order:
    the context a worker sees (macro readings as they arrive, the delinquency of the
    borrowers of its own partitions) is by design not the context a single-file replay
    sees, and no test of equality could hold with it.
    """
    _snapshot, examples = history
    trainer = Trainer(KEY, publish_every=10**9)
    for ex in examples:
        x = {f: v for f, v in ex["features"].items() if f not in CONTEXT_FEATURES}
        trainer.learn(x, ex["label"] == 1)
    assert trainer.champion.n_positive >= 10
    trainer.version = 41  # a version of its own: the next one published is v42
    return trainer.publish()
