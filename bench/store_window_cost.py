"""Where a store patch read's time goes, and what chunk layouts and readers would save.

Records the windows (box and footprint) that ``Compose`` asks the store handle for on random
128³ R3D patches of the full-size CT (the ``store_read_interleaved.py`` data), then reads the
same windows again per reader (native C++ chunk loop or the Python loop) and per array layout
(the benchmark's store array, and the same volume rewritten with other chunk shapes / blosc
block sizes). Prints per layout: compression ratio, chunks in the bbox and read, MB decoded
(whole blosc blocks) against MB copied into the window, and the median process CPU time of one
window read (one thread), each window checked against the in-memory volume.

    PYTHONPATH=. python bench/store_window_cost.py --keep /tmp/qb_store_sr --patches 20 \\
        --layouts 64x64x64:32768 32x64x64:16384 32x32x32:8192
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def record_windows(size: str, keep: str | None, patches: int) -> tuple[Any, list[tuple[Any, Any, Any]], Any]:
    """The volume, and ``(lo, hi, touches)`` of the windows Compose reads for patches 1..``patches``."""
    from store_read_interleaved import data

    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.bench.suites.store_read import _spec
    from fastmed.store.dataset import VolumeDataset
    from fastmed.store.window import StoreVolume

    d = data(size, keep)
    aug = build(_spec(size))
    ds = VolumeDataset(d["store"], threads=1)
    handle: StoreVolume = ds[ds.ids.index(d["row"].series_id)]["image"]
    seen: list[tuple[Any, Any, Any]] = []
    inner = handle.read_window

    def spy(lo: Any, hi: Any, touches: Any = None, fill: Any = None) -> Any:
        seen.append((tuple(lo), tuple(hi), touches))
        return inner(lo, hi, touches=touches, fill=fill)

    handle.read_window = spy  # type: ignore[method-assign]
    ones = (1.0,) * 3
    for i in range(1, patches + 1):
        aug({"image": handle, "spacing": ones}, seed=0, index=i)
    return d["vol"], seen, handle.info


def layout_cost(info: Any, vol: Any, windows: list[tuple[Any, Any, Any]], native: bool, reps: int) -> dict[str, float]:
    """Chunk counts, bytes decoded and copied, and median CPU ms per window for one array and reader."""
    from fastmed.store import native_read, window

    native_read.blosc_decoder.cache_clear()
    os.environ["FASTMED_STORE_NATIVE"] = "1" if native else "0"
    bbox_chunks, read_chunks, decoded, copied, cpu = [], [], [], [], []
    row = int(np.prod(info.chunks[1:])) * info.dtype.itemsize
    for lo, hi, touches in windows:
        plan = [window._overlap(idx, lo, hi, info.chunks) for idx in window.chunks_in_box(info, lo, hi)]
        bbox_chunks.append(len(plan))
        kept, _ = window._narrow(plan, lo, info.chunks, touches)
        read_chunks.append(len(kept))
        block = _blocksize(info)
        dec = 0
        for _, src, _, _ in kept:
            b0 = src[0].start * row // block
            b1 = -(-src[0].stop * row // block)
            dec += (b1 - b0) * block
        decoded.append(dec)
        copied.append(sum(int(np.prod([s.stop - s.start for s in src])) for _, src, _, _ in kept) * info.dtype.itemsize)
        ts = []
        for _ in range(reps):
            t0 = time.process_time()
            window.read_window(info, lo, hi, threads=1, touches=touches)  # as Compose reads: no fill
            ts.append(time.process_time() - t0)
        cpu.append(min(ts))
        w = window.read_window(info, lo, hi, threads=1, touches=touches, fill=0)  # untimed: the check
        box = vol[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
        keep = w != 0
        assert np.array_equal(w[keep], box[keep]), "window differs from the volume"
    os.environ.pop("FASTMED_STORE_NATIVE", None)
    native_read.blosc_decoder.cache_clear()
    return {
        "bbox chunks": float(np.mean(bbox_chunks)),
        "chunks read": float(np.mean(read_chunks)),
        "MB decoded": float(np.mean(decoded)) / 1e6,
        "MB copied": float(np.mean(copied)) / 1e6,
        "CPU ms": float(np.median(cpu)) * 1e3,
    }


def _blocksize(info: Any) -> int:
    """Block size of the array's first chunk file (from its blosc header)."""
    raw = Path(info.chunk_path((0,) * len(info.chunks))).read_bytes()
    n = int.from_bytes(raw[4:8], "little")
    bs = int.from_bytes(raw[8:12], "little")
    return bs if raw[2] & 0x2 == 0 else n


def write_layout(vol: Any, folder: Path, chunks: tuple[int, ...], blocksize: int, shuffle: str) -> Any:
    """``vol`` written as a zarr v3 array with the store's codec chain; returns its ArrayInfo and ratio."""
    import zarr

    from fastmed.store.chunks import array_info
    from fastmed.store.layout import Codec

    arr = zarr.create_array(
        str(folder),
        shape=vol.shape,
        dtype=vol.dtype,
        chunks=chunks,
        compressors=Codec("blosc", "lz4", 5, shuffle, blocksize).zarr_codecs(),  # type: ignore[arg-type]
        fill_value=0,
        config={"write_empty_chunks": True},
    )
    arr[:] = vol
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    return array_info(folder, "bench"), vol.nbytes / size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", default="full")
    ap.add_argument("--keep", default=None)
    ap.add_argument("--patches", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3, help="reads per window (the fastest counts)")
    ap.add_argument("--layouts", nargs="*", default=[], help="CHUNKSxYxX:BLOCKSIZE[:shuffle] arrays to write and read")
    args = ap.parse_args()
    from fastmed._native import set_num_threads

    set_num_threads(1)
    vol, windows, info = record_windows(args.size, args.keep, args.patches)
    print(
        f"{len(windows)} windows, median box {np.median([np.prod(np.subtract(h, lo)) for lo, h, _ in windows]):.0f} "
        f"voxels; load {os.getloadavg()[0]:.1f}"
    )
    print("| array | ratio | reader | bbox chunks | chunks read | MB decoded | MB copied | CPU ms/window |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.keep) as tmp:
        arrays = [("store (64x64x64, bs 32768)", info, float("nan"))]
        for spec in args.layouts:
            shape_s, bs_s, *rest = spec.split(":")
            chunks = tuple(int(v) for v in shape_s.split("x"))
            shuffle = rest[0] if rest else "bitshuffle"
            a, ratio = write_layout(vol, Path(tmp) / spec.replace(":", "_"), chunks, int(bs_s), shuffle)
            arrays.append((f"{shape_s}, bs {bs_s} {shuffle}", a, ratio))
        for name, a, ratio in arrays:
            for native in (True, False):
                c = layout_cost(a, vol, windows, native, args.reps)
                print(
                    f"| {name} | {ratio:.2f} | {'native' if native else 'python'} | {c['bbox chunks']:.1f} | "
                    f"{c['chunks read']:.1f} | {c['MB decoded']:.2f} | {c['MB copied']:.2f} | {c['CPU ms']:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
