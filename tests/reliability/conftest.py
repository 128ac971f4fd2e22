"""The reliability suite's common set-up: a workload, its oracle, and readers of the result.

Every scenario runs `streamer worker` processes against Apache Kafka (the session's broker,
`kafka_bootstrap` of tests/conftest.py, started with deploy/kafka/kafka.sh; scenarios that
stop or reconfigure a broker start their own with :class:`KafkaBroker`), loopback only.

Common set-up (issue 7): 4 partitions, >= 20,000 borrower events with unique event_ids,
session timeout 6 s (Kafka's floor) and a 1 s commit interval (Faust's own
``BROKER_COMMIT_INTERVAL`` variable, read by Faust from the environment), learning off and
one frozen, signed model (``frozen_snapshot``), so that the oracle -- `streamer replay` of
the same events with that model -- is exact: its alerts, and each borrower's final state.

Alerts are compared by alert_id after the dedupe that alert_id allows a downstream
consumer; duplicates before dedupe are reported. State is compared with what a worker
that takes over would restore: the newest changelog message of each borrower (the
`borrowers` table's changelog topic), decoded, against the replay's state.

Each scenario records its figures with the ``figures`` fixture; they are printed at the
end of the run (``-- reliability figures --``) whatever pytest captures.

Running: ``./dev.sh test -m reliability tests/reliability`` runs every scenario (~10 min
on 2 cores). The default run (``./dev.sh test``, CI's ``.ci/run``) includes the fast ones
(scenarios 1, 2, 6, 7, 8, 10, 11: ~5 min) and leaves out those marked
``reliability_slow`` (3, 4, 5, 12, 13: their own brokers, long waits), unless ``-m`` names
``reliability``.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from streamer.core import features
from streamer.core.state import BorrowerState
from streamer.replay import replay
from streamer.runtime import topics
from streamer.settings import Settings
from tests.integration.conftest import (
    CONTEXT_FEATURES,
    PRODUCE_REST,
    Deployment,
    WorkerProcess,
    alerts_of,
    assert_same_alerts,
    end_offsets,
    processed,
    publish,
    read_all,
    simulated,
    write_atomically,
)

# The common set-up of every scenario (the workers' environment).
RELIABILITY_ENV = {
    "STREAMER_TRAINING": "off",
    "STREAMER_SESSION_TIMEOUT_S": "6",
    "STREAMER_PARTITIONS": "4",
    "BROKER_COMMIT_INTERVAL": "1.0",  # Faust's setting, from the environment
}
# 300 borrowers over 240 days of event time: ~26,000 borrower events (>= 20,000).
BORROWERS, DAYS = 300, 240
MIN_EVENTS = 20_000
_FIGURES: list[tuple[str, dict[str, Any]]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder `reliability`; leave the slow scenarios out unless -m names it."""
    here = Path(__file__).parent
    wanted = "reliability" in (config.option.markexpr or "")
    kept, left_out = [], []
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.reliability)
            if not wanted and item.get_closest_marker("reliability_slow"):
                left_out.append(item)
                continue
        kept.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, figures in _FIGURES:
        terminalreporter.write_line(
            f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """A dict the scenario fills with its figures; printed at the end of the run."""
    got: dict[str, Any] = {}
    yield got
    _FIGURES.append((request.node.name, got))


# -- the workload and its oracle -----------------------------------------------------------
@dataclass
class Workload:
    """Simulated borrower events (all on credit.repayments, see below) and the oracle.

    Kafka orders messages per partition only; a worker draining a backlog of four input
    topics interleaves them in an order of its own, so (as in
    test_frozen_worker_alerts_equal_replay) every borrower event goes through one input
    topic, keyed by borrower, and reaches the worker in the file's order. Macro readings
    go to their own topic; the frozen model has no context features.
    """

    items: list[tuple[str, str, dict]]  # routed: (topic, key, event)
    events_file: Path
    expected: list[dict]  # the oracle's alerts
    states: dict[str, BorrowerState]  # the oracle's final state per borrower
    late: int  # events the oracle counted as late

    @property
    def borrower_events(self) -> int:
        return sum(1 for t, _, _ in self.items if t != topics.MACRO_TOPIC)


def oracle(events_file: Path, settings: Settings, model: bytes
           ) -> tuple[list[dict], dict[str, BorrowerState], int]:
    """`streamer replay` of a file with the frozen model: (alerts, final states, late)."""
    alerts = io.BytesIO()
    summary, engine, _ = replay(events_file, alerts=alerts, settings=settings, model=model,
                                learn=False)
    expected = [msgspec.json.decode(line) for line in alerts.getvalue().splitlines()]
    return expected, dict(engine.states), summary.late


def workload(d: Deployment, model: bytes, workdir: Path, seed: int,
             borrowers: int = BORROWERS, days: int = DAYS,
             transform: Callable[[list[tuple[str, str, dict]]], list[tuple[str, str, dict]]]
             | None = None) -> Workload:
    """Publish the frozen model, simulate, route, and compute the oracle of the result."""
    publish(d.settings, d.topic(topics.MODELS), model)
    items = simulated("industry_downturn", borrowers, days, seed=seed)
    routed = [(t if t == topics.MACRO_TOPIC else "credit.repayments", k, e) for t, k, e in items]
    if transform is not None:
        routed = transform(routed)
    events_file = workdir / f"events-{seed}.jsonl"
    events_file.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for _, _, e in routed))
    expected, states, late = oracle(events_file, d.settings, model)
    w = Workload(routed, events_file, expected, states, late)
    ids = [e["event_id"] for _, _, e in items]
    assert len(ids) == len(set(ids)), "the simulator's event ids are unique"
    if borrowers >= BORROWERS:
        assert w.borrower_events >= MIN_EVENTS, w.borrower_events
    assert len(expected) >= 30, "the oracle raises alerts to compare"
    return w


class BackgroundProducer:
    """Produces items at `rate` events/s in a child process (so a test can kill workers
    while they stream in)."""

    def __init__(self, settings: Settings, items: list, workdir: Path, rate: float,
                 name: str = "rest") -> None:
        path = write_atomically(workdir / f"{name}.json", msgspec.json.encode(items))
        self.proc = subprocess.Popen([sys.executable, "-c", PRODUCE_REST], env={
            **os.environ, "BOOTSTRAP": settings.bootstrap_servers,
            "PREFIX": settings.topic_prefix, "ITEMS": str(path), "RATE": str(rate)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def done(self) -> bool:
        return self.proc.poll() is not None

    def wait(self, timeout: float = 180) -> None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"the producer did not finish in {timeout} s") from None
        assert code == 0, self.proc.stdout.read() if self.proc.stdout else code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- reading the result --------------------------------------------------------------------
def dedupe(alerts: list[dict]) -> tuple[list[dict], int]:
    """(alerts with repeated alert_ids dropped, first kept; number dropped)."""
    unique = {a["alert_id"]: a for a in reversed(alerts)}
    kept = [a for a in alerts if unique.get(a["alert_id"]) is a]
    return kept, len(alerts) - len(kept)


def changelog_states(d: Deployment) -> dict[str, BorrowerState]:
    """Each borrower's newest state on the `borrowers` changelog: what a worker restores."""
    from streamer.runtime.states import decode_value

    name = topics.changelog(d.settings, topics.BORROWERS_TABLE)
    newest: dict[bytes, bytes] = {}
    for r in read_all(d.settings, name, timeout=120):
        if r.value is not None:
            newest[r.key] = r.value
    return {k.decode(): BorrowerState.loads(decode_value(v)[1]) for k, v in newest.items()}


def comparable(s: BorrowerState) -> bytes:
    """A state's bytes with the context features of its pending snapshots zeroed.

    The context a worker sees (macro readings as they arrive, the delinquency of its own
    partitions' borrowers) is by design not the single-file replay's; the frozen model
    does not use it, so scores, tiers and everything else must be equal byte for byte.
    """
    copy = BorrowerState.loads(s.dumps())
    for p in copy.pending:
        x = features.from_vector(p.vector)
        p.vector = features.to_vector({f: 0.0 if f in CONTEXT_FEATURES else v
                                       for f, v in x.items()})
    return copy.dumps()


def assert_states_equal(got: dict[str, BorrowerState], expected: dict[str, BorrowerState]
                        ) -> int:
    """Every borrower's state equals the oracle's; returns how many were compared."""
    assert set(got) == set(expected), (
        f"{len(set(expected) - set(got))} borrowers missing from the changelog, "
        f"{len(set(got) - set(expected))} unexpected")
    differ = [b for b in expected if comparable(got[b]) != comparable(expected[b])]
    assert not differ, f"{len(differ)} of {len(expected)} borrower states differ: {differ[:5]}"
    return len(expected)


def assert_oracle_holds(d: Deployment, w: Workload, figures: dict[str, Any],
                        *workers: WorkerProcess) -> None:
    """At least once, checked: 0 alerts lost; duplicates before dedupe (reported); after
    dedupe by alert_id, the oracle's alerts field for field; then, the workers stopped,
    every borrower's changelog state equal to the oracle's."""
    unique, duplicates = dedupe(alerts_of(d.settings))
    lost = len({a["alert_id"] for a in w.expected} - {a["alert_id"] for a in unique})
    figures.update(events=w.borrower_events, alerts_expected=len(w.expected), lost=lost,
                   duplicates_before_dedupe=duplicates)
    assert lost == 0
    assert_same_alerts(unique, w.expected)  # 0 duplicates after dedupe, nothing extra
    for worker in workers:
        assert worker.stop() == 0
    figures["borrower_states_equal"] = assert_states_equal(changelog_states(d), w.states)


def processed_count(*workers: WorkerProcess) -> int:
    """Input messages processed so far (by offsets) over the workers' partitions."""
    return int(sum(v + 1 for v in processed(*workers).values()))


def wait_until(check: Callable[[], bool], what: str, timeout: float,
               workers: tuple[WorkerProcess, ...] = ()) -> float:
    """Poll `check` every 0.25 s up to `timeout` s; returns the seconds it took."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        time.sleep(0.25)
    tails = "\n".join(w.log_tail(20) for w in workers)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{tails}")


def input_ends(d: Deployment) -> dict[tuple[str, int], int]:
    return end_offsets(d.settings, [d.topic(n) for n in topics.INPUT_TOPICS])


def outcome_counts(*workers: WorkerProcess) -> Counter:
    """outcome -> count of streamer_events_total over the workers (borrower topics)."""
    out: Counter = Counter()
    for w in workers:
        for key, value in w.metrics().items():
            if key.startswith("streamer_events_total{"):
                labels = dict(part.split("=", 1) for part in key[22:-1].split(","))
                out[labels["outcome"].strip('"')] += int(value)
    return out
