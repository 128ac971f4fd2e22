"""Fixed-size samples of borrowers: the ids with the smallest hash.

A sample by hash is the same in every process and after every restart, is a random share
of any book, and stays put as borrowers come and go. The trainer's budget sample
(`threshold.py`) and each worker's live book (`pacing.py`) keep one: a heap of
`(-hash, id)` pairs, the largest hash on top, so a smaller one can take its place.

>>> heap: list[tuple[int, str]] = []
>>> [admit(heap, 2, h, b) for h, b in ((5, "a"), (9, "b"), (7, "c"), (8, "d"))]
[(True, None), (True, None), (True, 'b'), (False, None)]
"""

from __future__ import annotations

import heapq


def admit(heap: list[tuple[int, str]], size: int, key: int,
          borrower_id: str) -> tuple[bool, str | None]:
    """Offer a borrower not yet in the sample `heap` (at most `size` of them), whose id
    hashes to `key`: whether it enters, and the id it pushes out when the sample is full."""
    if len(heap) < size:
        heapq.heappush(heap, (-key, borrower_id))
        return True, None
    if key >= -heap[0][0]:
        return False, None
    return True, heapq.heapreplace(heap, (-key, borrower_id))[1]
