"""Chunked parallel map over the native thread pool.

Decode work (imagecodecs decoders, file reads) releases the GIL, so it runs on the same
native pool as the kernels: one pool per process, sized from the CPU affinity mask and
cgroup quota, and rebuilt in a fork child (a Python ``ThreadPoolExecutor`` inherited
through ``fork`` has no threads and hangs the child). A map issued from inside a pool
task runs inline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastmed._native import core

T = TypeVar("T")


def workers(threads: int | None, n_items: int) -> int:
    """Threads to use for `n_items` items (``None`` or ``<= 0``: the native pool's size)."""
    want = threads if threads is not None and threads > 0 else int(core.get_num_threads())
    return max(1, min(want, n_items))


def map_chunks(fn: Callable[[T], Any], items: Sequence[T], threads: int | None) -> list[Any]:
    """``[fn(x) for x in items]``, spread over contiguous chunks, one task per thread.

    The first exception raised by `fn` (in item order) is re-raised here once every
    chunk has ended.
    """
    n = workers(threads, len(items))
    if n <= 1:
        return [fn(x) for x in items]
    bounds = [len(items) * k // n for k in range(n + 1)]
    parts: list[list[Any]] = [[] for _ in range(n)]
    errors: list[BaseException | None] = [None] * n

    def chunk(k: int) -> None:
        try:
            parts[k] = [fn(x) for x in items[bounds[k] : bounds[k + 1]]]
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            errors[k] = exc

    core.parallel_calls(chunk, n, n)
    for exc in errors:
        if exc is not None:
            raise exc
    return [x for part in parts for x in part]
