"""The worker's job without Faust: a plain aiokafka loop running the same pipeline.

What `streamer worker` does per batch, done by hand: read the macro readings first, then
take a batch of input records (`getmany`), run each through `Pipeline.process`, send its
outputs (alerts, scores, training examples, dead letters) and wait for their
acknowledgement, then write each changed borrower's state (msgpack of its offsets and
`BorrowerState.dumps()`, the table value's bytes) to the borrowers' changelog and wait
again, then commit the offsets. No learning (the worker's trainer is apart). What this
loop lacks against the worker is the framework: Faust's consumer, streams, tables and
rebalancing, the guards of `streamer/faust015`. `worker_throughput.py` runs it on the
same topics in the same run; the ratio of the two rates is what the framework costs.
"""

from __future__ import annotations

import time
import uuid
from types import SimpleNamespace
from typing import Any

import msgspec

from streamer.core.state import BorrowerState
from streamer.faust015.producer import BatchProducer
from streamer.pipeline import Pipeline
from streamer.runtime import topics
from streamer.runtime.worker import tune_gc
from streamer.settings import Settings

encode_value = msgspec.msgpack.Encoder().encode


async def _read_macro(settings: Settings, pipeline: Pipeline) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    name = topics.topic(settings, topics.MACRO_TOPIC)
    consumer = AIOKafkaConsumer(**topics.client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        (planned,) = [p for p in topics.plan(settings) if p.name == name]
        tps = [TopicPartition(name, p) for p in range(planned.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for r in records:
                    pipeline.process(r.value, r.topic, r.partition, r.offset)
    finally:
        await consumer.stop()


async def run(settings: Settings, model: bytes, n: int, batch_max: int = 1000) -> dict:
    """Process the `n` input events now on `settings`' topics; events/s and batches."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    tune_gc()  # as `streamer worker` does: the ratio of the two is the framework's cost
    pipeline = Pipeline(settings)
    if not pipeline.load_snapshot(model):
        raise ValueError("the model snapshot was refused")
    await _read_macro(settings, pipeline)
    states: dict[str, BorrowerState] = pipeline.engine.states  # type: ignore[assignment]
    changelog = topics.changelog(settings, topics.BORROWERS_TABLE)
    inputs = [topics.topic(settings, name) for name in topics.INPUT_TOPICS]
    consumer = AIOKafkaConsumer(*inputs, **topics.client_options(settings),
                                group_id=f"bare-engine-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                session_timeout_ms=6000, heartbeat_interval_ms=1000)
    producer = AIOKafkaProducer(**topics.client_options(settings), linger_ms=5)
    # the worker's own batched, acknowledged sends, over this producer
    send = BatchProducer(SimpleNamespace(producer=SimpleNamespace(
        _ensure_producer=lambda: producer))).produce
    await consumer.start()
    await producer.start()
    try:
        seen, batches, started = 0, 0, None
        while seen < n:
            fetched = await consumer.getmany(timeout_ms=1000, max_records=batch_max)
            if not fetched:
                continue
            started = started or time.perf_counter()
            outbox: list[Any] = []
            dirty: dict[str, tuple[int, dict[int, int]]] = {}
            for tp, records in fetched.items():
                index = inputs.index(tp.topic)
                for r in records:
                    fx = pipeline.process(r.value, r.topic, r.partition, r.offset)
                    outbox.extend(pipeline.outputs(fx, r.key))
                    if r.key and fx.deadletter is None:
                        bid = r.key.decode()
                        offsets = dirty.setdefault(bid, (r.partition, {}))[1]
                        offsets[index] = r.offset
                seen += len(records)
            await send([(topics.topic(settings, t), k, v, None) for t, k, v in outbox])
            await send([(changelog, bid.encode(),
                         encode_value((offsets, states[bid].dumps())), partition)
                        for bid, (partition, offsets) in dirty.items() if bid in states])
            await consumer.commit()
            batches += 1
        seconds = time.perf_counter() - (started or time.perf_counter())
        return {"events_per_s": round(n / seconds), "batches": batches}
    finally:
        await consumer.stop()
        await producer.stop()


