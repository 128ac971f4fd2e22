"""Stand-ins for aiokafka under Faust's consumer: the seek-back's decisions (tests/unit/
test_consumer.py) and its cost per message (benchmarks/consumer_overhead.py), without a
broker. They mimic the internals `consumer.py` reads, so they live beside it."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP

from streamer.faust015.consumer import Consumer, install


class FakeKafka:
    """aiokafka as `getmany`, its seek-back and `commit` see it: one fetch, positions,
    seeks, commits (refused while `refuse` holds an exception)."""

    def __init__(self, records: dict, positions: dict) -> None:
        self.records, self.positions, self.seeks = records, positions, []
        self.commits: list[dict] = []
        self.refuse: BaseException | None = None
        self.revoked: set = set()
        self.assignment = self  # (subscription.assignment)
        self._subscription = type("S", (), {"subscription": self})()

    def state_value(self, tp: TP) -> Any:
        if tp not in self.positions or tp in self.revoked:
            return None
        return type("St", (), {"position": self.positions[tp], "has_valid_position": True})()

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.positions[tp] = offset

    async def commit(self, offsets: dict) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.commits.append({(tp.topic, tp.partition): o.offset for tp, o in offsets.items()})


def fetch_of(tp: TP, offsets: range) -> list:
    from aiokafka.structs import ConsumerRecord
    return [ConsumerRecord(tp.topic, tp.partition, o, 0, 0, None, b"v", None, 0, 1, ())
            for o in offsets]


def fake_consumer(kafka: FakeKafka, stop_after: int | None = None,
                  meanwhile: Any = None) -> Consumer:
    """A worker app's consumer over `kafka` (see `hand_out`)."""
    app = faust.App("test-getmany", broker="kafka://127.0.0.1:1")
    install(app)
    consumer = app.consumer

    async def call_thread(fun: Any, *args: Any) -> Any:
        return await fun(*args)

    async def getmany(active: Any, timeout: float) -> dict:
        for tp, records in kafka.records.items():  # handed out: past the whole fetch
            kafka.positions[tp] = records[-1].offset + 1
        if stop_after == 0:
            consumer.stop_flow()
        return kafka.records

    async def perform_seek() -> None:
        if meanwhile is not None:
            meanwhile(kafka)

    consumer._thread = type("T", (), dict(  # type: ignore[assignment]
        _consumer=kafka, _ensure_consumer=staticmethod(lambda: kafka),
        call_thread=staticmethod(call_thread), getmany=staticmethod(getmany),
        assignment=staticmethod(lambda: set(kafka.positions)),
        highwater=staticmethod(lambda tp: 100)))()
    consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    consumer._set_active_tps(set(kafka.positions))  # (what an assignment does)
    consumer.resume_flow()
    return consumer
