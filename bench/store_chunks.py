"""Choose the store's chunk shape and codec: compression ratio, write speed and patch-read time.

Run: ``PYTHONPATH=. python bench/store_chunks.py [--shape 192 256 256]``. One synthetic CT
volume (int16 HU) is written once per (chunk shape, codec); random cubic boxes of 96, 128
and 160 voxels (the footprints of 96³–160³ patches before rotation) are then read through
``fastmed.store.chunks.read_box`` (one thread, crc32c checked, only the blosc blocks a box
needs), with zarr-python's own read of the same box for reference on the chosen configuration.
Read times are medians of the reading thread's CPU time (``time.thread_time``), which a
machine shared with other jobs disturbs much less than wall time; the read is single-threaded,
so on an idle core the two agree. ``bs`` is the blosc block size asked for (0: blosc's choice;
32768 gives 64 KiB blocks for int16). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

CHUNKS = [(32, 32, 32), (64, 64, 64), (128, 128, 128), (32, 128, 128), (128, 32, 32), (64, 32, 32)]
CODECS = [
    ("blosc", "lz4", 5, "shuffle", 32768),
    ("blosc", "lz4", 5, "bitshuffle", 0),
    ("blosc", "lz4", 5, "bitshuffle", 32768),
    ("blosc", "lz4hc", 5, "bitshuffle", 32768),
    ("blosc", "zstd", 1, "shuffle", 32768),
    ("zstd", "", 3, "", 0),
]
PATCHES = (96, 128, 160)


def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", type=int, nargs=3, default=(192, 256, 256))
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    import zarr

    from fastmed.dicom.series_assembly import read_series
    from fastmed.store.chunks import array_info, read_box
    from fastmed.store.layout import Codec
    from fastmed.synth import generate_archive

    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        generate_archive(t / "a", studies=1, seed=1, shape=tuple(args.shape), transfer_syntaxes=["explicit"])
        vol = read_series(t / "a" / "study_000" / "series_000").array
        print(f"volume {vol.shape} {vol.dtype}, {vol.nbytes / 1e6:.1f} MB raw")
        rng = np.random.default_rng(0)
        print("| chunks | codec | ratio | write MB/s | " + " | ".join(f"{p}^3 read CPU ms" for p in PATCHES) + " |")
        print("|---|---|---|---|" + "---|" * len(PATCHES))
        for chunks in CHUNKS:
            for name, cname, level, shuffle, bs in CODECS:
                d = t / f"{'x'.join(map(str, chunks))}-{name}{cname}{level}{shuffle}{bs}"
                codec = Codec(name, cname or "lz4", level, shuffle or "shuffle", bs)
                t0 = time.perf_counter()
                arr = zarr.create_array(
                    str(d),
                    shape=vol.shape,
                    dtype=vol.dtype,
                    chunks=chunks,
                    compressors=codec.zarr_codecs(),
                    fill_value=0,
                    config={"write_empty_chunks": True},
                )
                arr[:] = vol
                wt = time.perf_counter() - t0
                ratio = vol.nbytes / _dir_bytes(d)
                info = array_info(d, "bench")
                cells = []
                for p in PATCHES:
                    ts = []
                    for _ in range(args.reps):
                        s = [int(rng.integers(0, max(1, n - p + 1))) for n in vol.shape]
                        e = [min(n, a + p) for a, n in zip(s, vol.shape, strict=True)]
                        t1 = time.thread_time()
                        box = read_box(info, tuple(s), tuple(e))
                        ts.append(time.thread_time() - t1)
                        assert np.array_equal(box, vol[s[0] : e[0], s[1] : e[1], s[2] : e[2]])
                    cells.append(f"{1e3 * float(np.median(ts)):.1f}")
                label = f"{name} {cname} {level} {shuffle} bs={bs}"
                print(
                    f"| {chunks} | {label} | {ratio:.2f} | {vol.nbytes / 1e6 / wt:.0f} | " + " | ".join(cells) + " |",
                    flush=True,
                )
                if chunks == (64, 64, 64) and cname == "lz4" and bs:
                    ts = []
                    for _ in range(args.reps):
                        s = [int(rng.integers(0, max(1, n - 128 + 1))) for n in vol.shape]
                        t1 = time.process_time()  # zarr-python decodes in its own threads: all of them
                        arr[s[0] : s[0] + 128, s[1] : s[1] + 128, s[2] : s[2] + 128]
                        ts.append(time.process_time() - t1)
                    print(f"| (zarr-python read of the same, 128^3) | | | | | {1e3 * float(np.median(ts)):.1f} | |")


if __name__ == "__main__":
    main()
