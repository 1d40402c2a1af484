"""Persistent thread pools, one per worker count.

Creating an executor per call costs more than decoding a cheap file. The work run here
releases the GIL (imagecodecs decoders, file reads).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_POOLS: dict[int, ThreadPoolExecutor] = {}
_LOCK = threading.Lock()


def workers(threads: int | None, n_items: int) -> int:
    """Threads to use for `n_items` items (``None``: one per core)."""
    want = threads if threads is not None and threads > 0 else (os.cpu_count() or 1)
    return max(1, min(want, n_items))


def _pool(n: int) -> ThreadPoolExecutor:
    with _LOCK:
        pool = _POOLS.get(n)
        if pool is None:
            pool = ThreadPoolExecutor(n, thread_name_prefix="fastmed-dicom")
            _POOLS[n] = pool
        return pool


def map_chunks(fn: Callable[[T], Any], items: Sequence[T], threads: int | None) -> list[Any]:
    """``[fn(x) for x in items]``, spread over contiguous chunks, one task per worker.

    Must not be called from inside a task of the same pool (tasks would wait on tasks).
    """
    n = workers(threads, len(items))
    if n <= 1:
        return [fn(x) for x in items]
    bounds = [len(items) * k // n for k in range(n + 1)]

    def chunk(k: int) -> list[Any]:
        return [fn(x) for x in items[bounds[k] : bounds[k + 1]]]

    out: list[Any] = []
    for part in _pool(n).map(chunk, range(n)):
        out += part
    return out
