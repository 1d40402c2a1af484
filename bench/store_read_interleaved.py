"""Interleaved patch read + augment timing: store (footprint / bbox reads) vs in-memory vs memmap.

One call of each row in turn per round (the order rotating from round to round), same process,
same patches (seed 0, index = round), so load drift hits every row alike. Reports medians of
process CPU time (all threads) and wall time per patch, and the ratios to the in-memory and
memmap rows, per thread count.

    PYTHONPATH=. python bench/store_read_interleaved.py --size full --rounds 21 --threads 1,2
"""

from __future__ import annotations

import argparse
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np


def data(size: str, keep: str | None) -> dict[str, Any]:
    """The suite's data (``store_read._ensure_data``); with ``keep`` written once into that folder and reused."""
    from fastmed.bench.suites import store as store_suite
    from fastmed.bench.suites import store_read

    if size in store_read._DATA or keep is None:
        return store_read._ensure_data(size)
    folder = Path(keep)
    meta = folder / f"meta-{size}.pkl"
    if meta.exists():
        d: dict[str, Any] = pickle.loads(meta.read_bytes())
        d["vol"] = np.fromfile(d["raw"], dtype=d.pop("dtype")).reshape(d.pop("shape"))
        store_read._DATA[size] = d
        return d
    folder.mkdir(parents=True, exist_ok=True)
    store_suite._STATE["tmp"] = SimpleNamespace(name=str(folder))
    d = store_read._ensure_data(size)
    small = {k: v for k, v in d.items() if k != "vol"}
    meta.write_bytes(pickle.dumps({**small, "dtype": d["vol"].dtype, "shape": d["vol"].shape}))
    return d


def _rows(size: str, threads: int) -> dict[str, Callable[[int], Any]]:
    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.bench.suites.store_read import _ensure_data, _spec
    from fastmed.store.dataset import VolumeDataset
    from fastmed.store.window import StoreVolume

    class BoxOnly(StoreVolume):
        """The store handle without ``touches=``: Compose reads the whole source bbox."""

        def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> Any:  # type: ignore[override]
            return super().read_window(lo, hi)

    d = _ensure_data(size)
    aug = build(_spec(size))
    shape = tuple(d["vol"].shape)
    vol4 = d["vol"][None]
    ds = VolumeDataset(d["store"], threads=threads)
    handle = ds[ds.ids.index(d["row"].series_id)]["image"]
    boxed = BoxOnly(handle.store, handle.series_id, threads=threads)
    mm = np.memmap(d["raw"], dtype=d["vol"].dtype, mode="r", shape=(1, *shape))
    ones = (1.0,) * len(shape)
    return {
        "in-memory": lambda i: aug({"image": vol4}, seed=0, index=i)["image"],
        "memmap": lambda i: aug({"image": mm}, seed=0, index=i)["image"],
        "store footprint": lambda i: aug({"image": handle, "spacing": ones}, seed=0, index=i)["image"],
        "store bbox": lambda i: aug({"image": boxed, "spacing": ones}, seed=0, index=i)["image"],
    }


def run(size: str, rounds: int, threads: int) -> None:
    from fastmed.bench.peers.threads import pin_threads

    pin_threads(threads)
    rows = _rows(size, threads)
    cpu: dict[str, list[float]] = {k: [] for k in rows}
    wall: dict[str, list[float]] = {k: [] for k in rows}
    for fn in rows.values():  # warm-up
        fn(0)
    names = list(rows)
    for r in range(1, rounds + 1):
        # The row order rotates each round: a row right after another one on the same patch finds
        # that patch's chunk files warm in the CPU caches.
        for name in names[r % len(names) :] + names[: r % len(names)]:
            fn = rows[name]
            c0, w0 = time.process_time(), time.perf_counter()
            fn(r)
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    med_c = {k: float(np.median(v)) * 1e3 for k, v in cpu.items()}
    med_w = {k: float(np.median(v)) * 1e3 for k, v in wall.items()}
    print(f"threads={threads} rounds={rounds} load={os.getloadavg()[0]:.2f}")
    for k in rows:
        print(
            f"  {k:16s} cpu {med_c[k]:6.1f} ms ({med_c[k] / med_c['in-memory']:.2f}x mem, "
            f"{med_c[k] / med_c['memmap']:.2f}x mmap)  wall {med_w[k]:6.1f} ms "
            f"({med_w[k] / med_w['in-memory']:.2f}x mem, {med_w[k] / med_w['memmap']:.2f}x mmap)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="full")
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--keep", default=None, help="folder to keep the data in between runs (written on first use)")
    args = ap.parse_args()
    data(args.size, args.keep)
    print(f"load before: {os.getloadavg()}")
    for t in (int(v) for v in args.threads.split(",")):
        run(args.size, args.rounds, t)
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
