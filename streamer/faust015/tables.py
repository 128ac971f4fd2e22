"""A Faust table used as a plain store of bytes, written in batches outside stream iteration.

Faust routes a table read or write by the stream's *current event*: its partition picks
the changelog partition and, with RocksDB, the partition's database (`faust.streams.
_current_event`, read by `stores/rocksdb.py`). The worker reads and writes borrower state
after a batch is taken, so :func:`acting_for` makes each access on behalf of the borrower's
own event (same partition). The changelog messages are sent by the worker itself, as
acknowledged aiokafka batches (`producer.py`), and the offset a RocksDB store has
persisted is recorded as Faust's own write path would.

Can go when Faust offers a table write for a given partition that can be awaited.
Reproduced by the hand-over tests of tests/integration/test_runtime.py (state written in
batches recovers on the other worker) and tests/reliability/test_recovery.py.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from faust.streams import _current_event


@contextmanager
def acting_for(event: Any) -> Iterator[None]:
    """Make `event` the stream's current event while reading or writing a table."""
    if event is None:
        yield
        return
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


def read(table: Any, key: bytes, event: Any) -> bytes | None:
    """The value of `key` in the partition of `event`."""
    with acting_for(event):
        return table.get(key)


def write(table: Any, key: bytes, value: bytes, event: Any) -> None:
    """Store `value` (not its changelog message: the worker sends that itself)."""
    with acting_for(event):
        table.data[key] = value


def mark_persisted(app: Any, table: Any, offsets: dict[Any, int]) -> None:
    """The changelog offsets whose writes the store holds (RocksDB resumes its recovery
    after them)."""
    for tp, offset in offsets.items():
        if app.in_transaction:
            app.tables.persist_offset_on_commit(table.data, tp, offset)
        else:
            table.data.set_persisted_offset(tp, offset)


def items(table: Any) -> Iterable[tuple[bytes, bytes]]:
    """Every (key, value) of the store; a memory store's are copied first, since it keeps
    taking standby writes while the caller iterates."""
    store = table.data
    if isinstance(getattr(store, "data", None), dict):  # faust.stores.memory.Store
        return list(store.items())
    return store.items()


def changelog(table: Any) -> str:
    return table.changelog_topic.get_topic_name()


def active_partitions(app: Any, topic: str) -> set[int]:
    """Partitions of `topic` this worker holds as active (not standby)."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic}


def active_counts(app: Any) -> dict[str, int]:
    """Active partitions by topic."""
    counts: dict[str, int] = {}
    for tp in app.assignor.assigned_actives():
        counts[tp.topic] = counts.get(tp.topic, 0) + 1
    return counts
