"""Host (GIL) time per batch of the loader's fast path: process CPU time, split around the native kernel.

Runs the ``loader`` suite's ``fastmed-fast`` row (``fastmed.bench.suites._loader_rows.fastmed_fast``:
R3D batches of 2 patches, ``small`` size) inline (``num_workers=0``), so every CPU second of the
batch is spent in this thread or the kernel's. Prints per batch the median CPU ms of: everything,
the kernel (``CpuBackend.run``), planning (``Compose._plan_batch``: draw, compile, window reads)
and the collation of the non-array keys (the replay record ``params``). CPU time, not wall time:
less disturbed by other processes on a shared machine (still not immune to them).

Usage: ``PYTHONPATH=. python bench/loader_host_time.py [batches_per_run]``
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any


def _timed(cls: Any, name: str, label: str, acc: dict[str, float]) -> None:
    """Wrap ``cls.name`` so its process CPU time adds up under ``label`` (if the method exists)."""
    fn: Callable[..., Any] | None = getattr(cls, name, None)
    if fn is None:
        return

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += time.process_time() - t

    setattr(cls, name, wrapper)


def main(batches: int) -> None:
    """Print the split."""
    import fastmed.bench.suites._loader_rows as rows
    import fastmed.loader.fast as fast
    from fastmed.backends.cpu import CpuBackend
    from fastmed.bench.data import ct_volume
    from fastmed.bench.suites.augment_r3d import spec_for
    from fastmed.bench.suites.loader import VOLUMES
    from fastmed.transforms.compose import Compose

    acc: dict[str, float] = defaultdict(float)
    _timed(CpuBackend, "run", "kernel", acc)
    _timed(Compose, "_plan_batch", "planning", acc)
    _timed(fast.BatchJob, "_collate", "collate", acc)
    shape, spec = spec_for("small")
    vols = [ct_volume(shape) for _ in range(VOLUMES)]
    rows.WORKERS = 0
    row = rows.fastmed_fast(vols, spec, batches)
    row()  # warm-up
    runs: dict[str, list[float]] = defaultdict(list)
    for _ in range(7):
        acc.clear()
        t = time.process_time()
        row()
        acc["total"] = time.process_time() - t
        acc["outside the kernel"] = acc["total"] - acc["kernel"]
        for k, v in acc.items():
            runs[k].append(v / batches * 1e3)
    for k in ("total", "kernel", "outside the kernel", "planning", "collate"):
        if runs[k]:
            print(f"{k:20s} median {statistics.median(runs[k]):6.2f} ms per batch (min {min(runs[k]):.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 16)
