"""fm.DataLoader over a fastmed store: the fast path (threads) against the generic worker path (processes).

Converts a small synthetic archive (3 studies of 128x256x256 CT plus a 2D series) into a
store once, then draws batches of 2 R3D patches of 64³ (the loader bench's ``small`` spec
without the elastic op, whose control-grid parameters differ per volume and which torch's
default collate refuses to stack) from the 3D series: ``fast=True`` with 2 threads and
1 native thread each, and ``fast=False`` with 2 worker processes of 1 thread each. Prints
the median batches/s of 6 runs of 8 batches after 4 warm-up batches.

Usage: ``PYTHONPATH=. python bench/loader_fast_store.py [workdir]``
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path
from typing import Any


def make_store(work: Path) -> Path:
    """The store of a synthetic archive under ``work`` (made on the first run)."""
    from fastmed.dicom.index import index
    from fastmed.store.convert import convert
    from fastmed.synth import generate_archive

    store = work / "cache.zarr"
    if not store.exists():
        archive = generate_archive(work / "archive", 3, 1, shape=(128, 256, 256))
        convert(index(archive.root, cache=False), store, workers=1, progress=False)
    return store


def rate(loader: Any) -> tuple[float, tuple[int, ...]]:
    """Median batches/s of 6 x 8 batches after 4 warm-up batches; the image batch shape."""
    it = iter(loader)
    for _ in range(4):
        next(it)
    rates = []
    for _ in range(6):
        t = time.perf_counter()
        for _ in range(8):
            batch = next(it)
        rates.append(8 / (time.perf_counter() - t))
    return statistics.median(rates), tuple(batch["image"].shape)


def main(work: Path) -> None:
    """Print the two rows."""
    from torch.utils.data import Subset

    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.bench.suites._loader_rows import one_thread
    from fastmed.bench.suites.augment_r3d import spec_for
    from fastmed.loader import DataLoader
    from fastmed.store.dataset import VolumeDataset

    ds = VolumeDataset(make_store(work))
    three_d = [i for i in range(len(ds)) if ds[i]["image"].ndim == 3]
    spec = dataclasses.replace(spec_for("small")[1], elastic=False)
    for name, fast in (("fast path, 2 threads", True), ("generic path, 2 processes", False)):
        aug = build(spec)
        aug.threads = 1
        extra: dict[str, Any] = {} if fast else {"worker_init_fn": one_thread, "persistent_workers": True}
        loader = DataLoader(
            Subset(ds, three_d * 64),  # type: ignore[arg-type]
            batch_size=2,
            shuffle=True,
            num_workers=2,
            transform=aug,
            seed=0,
            fast=fast,
            **extra,
        )
        r, shape = rate(loader)
        print(f"{name}: {r:.1f} batches/s (median of 6 x 8), batch {shape}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/fastmed-loader-fast"))
