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
    writes = states.stage()
    states.write(writes)
    assert [k for k, _, _ in writes] == [b"b1"]
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
    writes = states.stage()
    states.write(writes)
    assert len(writes) == 25 and len(states) == 9  # 90% of the limit kept
    assert len(states.table) == 25 and "b0" in states  # read back from the table


def test_a_state_staged_and_not_yet_written_stays_decoded_for_the_next_batch() -> None:
    states = BorrowerStates(limit=10, inputs=[TOPIC])
    states.table = FakeTable()
    for i in range(12):  # batch 1, written: the table holds b0..b11 as they were
        states.event = FakeEvent(i, key=f"b{i}".encode())
        states[f"b{i}"] = BorrowerState.new()
    states.write(states.stage())
    assert len(states) == 9 and "b0" not in states.live  # evicted: in the table only
    # batch 2 changes b3 (decoded, about to be evicted next) and is staged; its outputs
    # are not acknowledged yet, so its states are not in the table
    states.event = FakeEvent(20, key=b"b3")
    s = states["b3"]
    s.tier = "high"
    states["b3"] = s
    staged = states.stage()
    # meanwhile batch 3 brings many borrowers, and batch 1's chain ... nothing to write,
    # but the cache is bounded on every write
    for i in range(30, 45):
        states.event = FakeEvent(i, key=f"b{i}".encode())
        states[f"b{i}"] = BorrowerState.new()
    third = states.stage()
    states.write([])
    assert states["b3"].tier == "high"  # not evicted: the table holds its older bytes
    states.write(staged)
    states.write(third)
    assert "b3" not in states.live  # written: evicted like any other
    assert states["b3"].tier == "high"  # and read back from the table as batch 2 left it
