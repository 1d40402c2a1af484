"""Direct timing of ``fm.index`` against a pydicom header loop on one synthetic archive.

Usage: ``python bench/index_timing.py [ROOT] [--studies 30] [--rounds 7]``. Without ROOT an
archive of ``--studies`` synthetic studies (every transfer syntax) is written to a temporary
folder. Rounds interleave the implementations (pydicom, index at 1 thread, at 2 threads) so a
busy neighbour on a shared machine slows all of them alike; medians and bests are printed
per DICOM file, with the ratio to the pydicom loop.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastmed.bench.suites.dicom_read import HEADER_TAGS as TAGS  # the same tags the suite's pydicom loop reads


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("root", nargs="?")
    ap.add_argument("--studies", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()

    import pydicom

    from fastmed.dicom.index import index

    tmp = None
    if args.root is None:
        from fastmed.synth import generate_archive

        tmp = tempfile.TemporaryDirectory(prefix="fastmed-index-timing-")
        generate_archive(tmp.name, studies=args.studies, seed=1)
        root = Path(tmp.name)
    else:
        root = Path(args.root)
    files = sorted(str(p) for p in root.rglob("*.dcm"))
    walked = sum(1 for p in root.rglob("*") if p.is_file())

    def pydicom_loop() -> None:
        for f in files:
            pydicom.dcmread(f, stop_before_pixels=True, specific_tags=TAGS)

    impls: dict[str, Callable[[], object]] = {
        "pydicom loop": pydicom_loop,
        "fm.index threads=1": lambda: index(root, threads=1, cache=False),
        "fm.index threads=2": lambda: index(root, threads=2, cache=False),
    }
    times: dict[str, list[float]] = {k: [] for k in impls}
    for fn in impls.values():
        fn()  # warm-up: imports, page cache
    for _ in range(args.rounds):
        for name, fn in impls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    n = len(files)
    print(f"{n} DICOM files ({walked} files walked by the index), {args.rounds} interleaved rounds")
    ref = times["pydicom loop"]
    for name, ts in times.items():
        med, best = statistics.median(ts), min(ts)
        ratio = "" if ts is ref else f"  ratio median {statistics.median(ref) / med:.1f}x, best {min(ref) / best:.1f}x"
        print(f"{name:20s} median {med / n * 1e6:7.1f} us/file  best {best / n * 1e6:7.1f} us/file{ratio}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
