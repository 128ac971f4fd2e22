"""The engine's view of the worker's `borrowers` table: decoded states over bytes.

A table value is msgpack ``(offsets, BorrowerState.dumps())``: the state bytes, which
recovery and standby replicas copy without decoding, and for each input topic the offset
of the last of the borrower's events the state includes. With those offsets a worker that
takes over after a crash recognises an event the state already holds (written, not yet
committed) whatever its age; the engine's own dedupe only remembers a borrower's last
event ids.

A bounded cache keeps the decoded states of the borrowers in play; writes stay here
(dirty) until `persist`, which runs once the batch's outputs are acknowledged: one
changelog message per borrower per batch. The cache is dropped at every rebalance.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from itertools import islice
from typing import Any

import msgspec

from streamer.core.portfolio import Portfolio
from streamer.core.state import BorrowerState
from streamer.faust015 import tables

encode_value = msgspec.msgpack.Encoder().encode
decode_value = msgspec.msgpack.Decoder(tuple[dict[int, int], bytes]).decode


class BorrowerStates(MutableMapping[str, BorrowerState]):
    """Borrower states of the partitions this worker holds (see the module docstring)."""

    def __init__(self, limit: int, inputs: list[str]) -> None:
        self.table: Any = None  # the Faust table, set once the app has it
        self.limit = limit
        self.topic_index = {name: i for i, name in enumerate(inputs)}
        self.live: dict[str, BorrowerState] = {}
        self.offsets: dict[str, dict[int, int]] = {}  # borrower -> {input topic: offset}
        self.dirty: dict[str, Any] = {}  # borrower -> the event that changed it
        self.event: Any = None  # the event being processed
        self.portfolio = Portfolio()  # aggregates by DPD bucket and tier, per partition

    def __getitem__(self, bid: str) -> BorrowerState:
        s = self.live.get(bid)
        if s is None:
            raw = tables.read(self.table, bid.encode(), self.event)
            if raw is None:
                raise KeyError(bid)
            offsets, state = decode_value(raw)
            s = self.live[bid] = BorrowerState.loads(state)
            self.offsets[bid] = offsets
            self.portfolio.loaded(bid, s)
        return s

    def __setitem__(self, bid: str, state: BorrowerState) -> None:
        self.live[bid] = state
        event = self.event
        self.dirty[bid] = event
        if event is not None:
            msg = event.message
            index = self.topic_index.get(msg.topic)
            if index is not None:
                self.offsets.setdefault(bid, {})[index] = msg.offset

    def __delitem__(self, bid: str) -> None:
        raise TypeError("borrower state is never deleted by the engine")

    def __iter__(self) -> Iterator[str]:
        return iter(self.live)

    def __len__(self) -> int:
        return len(self.live)

    def holds(self, msg: Any) -> bool:
        """True if the state of the message's borrower (its key) already includes it."""
        index = self.topic_index.get(msg.topic)
        if msg.key is None or index is None:
            return False
        try:
            bid = msg.key.decode()
            if bid not in self.live and self.get(bid) is None:
                return False
        except (UnicodeDecodeError, ValueError):
            return False
        return msg.offset <= self.offsets.get(bid, {}).get(index, -1)

    def persist(self) -> list[tuple[bytes, bytes, Any]]:
        """Write the dirty states to the table; returns (key, value, event) per write."""
        writes = []
        table = self.table
        for bid, event in self.dirty.items():
            key = bid.encode()
            value = encode_value((self.offsets.get(bid, {}), self.live[bid].dumps()))
            tables.write(table, key, value, event)
            writes.append((key, value, event))
            self.portfolio.persisted(bid, event.message.partition, self.live[bid])
        self.dirty.clear()
        if len(self.live) > self.limit:
            for bid in list(islice(self.live, len(self.live) - int(self.limit * 0.9))):
                del self.live[bid]
                self.offsets.pop(bid, None)
                self.portfolio.evict(bid)
        return writes

    def forget(self) -> None:
        """Drop the decoded cache (nothing is dirty between batches)."""
        self.live.clear()
        self.offsets.clear()
        self.portfolio.forget()
