"""An ordered map over worker processes, for the CPU-bound first pass of a big start.

Checking a row (phonenumbers' parse and validity, the job id, the spool line) costs
about 50 µs of CPU, nearly all of a start's time: one process checks ~17,000 rows/s.
A file of a million rows is checked on every core instead. Results come back in input
order, a chunk at a time, with at most two chunks per process in flight, so memory
stays bounded whatever the size of the input. Worker processes are spawned, not
forked: the caller may be a threaded web server.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

_T = TypeVar("_T")
_R = TypeVar("_R")

#: Items sent to a worker process at once.
CHUNK = 2000


def processes_for(size_bytes: int, *, min_bytes: int = 1 << 20) -> int:
    """Processes worth starting for an input of this size: 1 (none) below `min_bytes`,
    where spawning them would cost more than it saves."""
    if size_bytes < min_bytes:
        return 1
    return max(1, os.cpu_count() or 1)


def ordered_map(
    work: Callable[[list[_T]], list[_R]], items: Iterable[_T], processes: int
) -> Iterator[_R]:
    """`work` over `items` in chunks, in `processes` processes (in this one if 1)."""
    if processes <= 1:  # one item at a time: nothing held beyond the caller's chunk
        for item in items:
            yield from work([item])
        return
    chunks = _chunks(items)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        pending: deque[Future[list[_R]]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(work, chunk))
            if len(pending) >= 2 * processes:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()


def _chunks(items: Iterable[_T]) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        yield chunk
