"""Wall time per phase of a store footprint patch (read + augment), per thread count.

Same data and patches as ``store_read_interleaved.py`` (``--keep`` reuses its folder). Phases, medians
over rounds of the wall time spent in each per patch: the footprint build (``SourceFootprint``), its
compiled arrays (``SourceFootprint.compiled``), the native planned read (``core.store_read_box``: chunk
enumeration, footprint tests and chunk reads on the native pool), the Python footprint tests and chunk
reads (``touches_boxes``, ``core.store_read_window``: only when a read falls back to the Python plan),
``read_box`` as a whole, and the whole patch.

    PYTHONPATH=. python bench/store_read_phases.py --size full --rounds 21 --threads 1,2 --keep /tmp/qb3/store
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_T: dict[str, float] = defaultdict(float)


def _timed(owner: Any, name: str, key: str) -> None:
    """Wrap ``owner.name`` so that its wall time adds up in ``_T[key]``."""
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            _T[key] += time.perf_counter() - t

    setattr(owner, name, wrapper)


def _instrument() -> None:
    import fastmed.store.native_read as nr
    from fastmed import _native
    from fastmed.transforms import footprint_shape as fs

    core = _native.core

    class Core:
        """``fastmed._native.core`` with its window reads timed."""

        def __getattr__(self, name: str) -> Any:
            return getattr(core, name)

    timed_core = Core()
    for name in ("store_read_window", "store_read_box"):
        setattr(timed_core, name, getattr(core, name))
    _timed(timed_core, "store_read_window", "chunk reads (python plan)")
    _timed(timed_core, "store_read_box", "native plan + reads")
    _native.core = timed_core  # type: ignore[assignment]
    _timed(fs.SourceFootprint, "__init__", "footprint build")
    _timed(fs.SourceFootprint, "compiled", "footprint compiled")
    _timed(fs.SourceFootprint, "touches_boxes", "footprint tests (python)")
    _timed(nr, "read_box", "read_box")


def run(size: str, rounds: int, threads: int) -> None:
    """Print the medians per phase for ``threads`` threads."""
    from fastmed.bench.peers.threads import pin_threads

    sys.path.insert(0, str(Path(__file__).parent))
    import store_read_interleaved as interleaved

    pin_threads(threads)
    patch: Callable[[int], Any] = interleaved._rows(size, threads)["store footprint"]
    phases: dict[str, list[float]] = defaultdict(list)
    patch(0)
    for r in range(1, rounds + 1):
        _T.clear()
        t = time.perf_counter()
        patch(r)
        phases["patch"].append(time.perf_counter() - t)
        for k, v in _T.items():
            phases[k].append(v)
    print(f"threads={threads} rounds={rounds} load={os.getloadavg()[0]:.2f}")
    print("  ms: " + ", ".join(f"{k} {float(np.median(v)) * 1e3:.2f}" for k, v in phases.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="full")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--keep", default=None, help="folder of store_read_interleaved.py's data (written on first use)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    import store_read_interleaved as interleaved

    interleaved.data(args.size, args.keep)
    _instrument()
    for t in (int(v) for v in args.threads.split(",")):
        run(args.size, args.rounds, t)


if __name__ == "__main__":
    main()
