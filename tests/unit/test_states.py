"""streamer.runtime.states: borrower states over table bytes, with the offsets they hold."""

from __future__ import annotations

from types import SimpleNamespace

from streamer.core.state import BorrowerState
from streamer.runtime.states import BorrowerStates

TOPIC = "credit.repayments"


class FakeTable(dict):
    """A Faust table as the worker uses it: `get`, and `data` (its store)."""

    @property
    def data(self) -> FakeTable:
        return self


class FakeEvent:  # weak-referenceable, like a Faust event
    def __init__(self, offset: int, key: bytes = b"b1", topic: str = TOPIC) -> None:
        self.message = SimpleNamespace(topic=topic, partition=0, offset=offset, key=key)


def test_state_bytes_carry_offsets_that_recognise_an_event_processed_before() -> None:
    states = BorrowerStates(limit=10, inputs=[TOPIC])
    states.table = FakeTable()
    states.event = FakeEvent(41)
    states["b1"] = BorrowerState.new()
    assert [k for k, _, _ in states.persist()] == [b"b1"]
    states.forget()  # a rebalance: decoded states are dropped, the bytes stay
    assert states.holds(FakeEvent(41).message) and states.holds(FakeEvent(40).message)
    assert not states.holds(FakeEvent(42).message)
    assert not states.holds(FakeEvent(3, key=b"b2").message)  # unknown borrower
    assert not states.holds(FakeEvent(3, topic="risk.training").message)  # not an input
    assert not states.holds(FakeEvent(3, key=b"\xff").message)  # not a borrower id
    assert isinstance(states["b1"], BorrowerState)


def test_the_cache_is_bounded_and_evicts_after_persisting() -> None:
    states = BorrowerStates(limit=10, inputs=[TOPIC])
    states.table = FakeTable()
    for i in range(25):
        states.event = FakeEvent(i, key=f"b{i}".encode())
        states[f"b{i}"] = BorrowerState.new()
    assert len(states.persist()) == 25 and len(states) == 9  # 90% of the limit kept
    assert len(states.table) == 25 and "b0" in states  # read back from the table
