"""``fastmed demo``: the main job on the built-in synthetic archive.

Synthesize an archive of CT, MR and X-ray studies (with ground truth), index it with the
native parser, assemble every volume series with validated geometry, check what was read
against the truth, and cut augmented training patches from the volumes with the fused
engine, then join the archive's labels table, convert it into the checksummed zarr store on a
local Dask cluster, verify it and read it back. It prints what it found and how fast; nothing
identifying is printed (series are named by keyed ids). Later stages (loader fast path,
training) extend it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

PATCH = {"small": (16, 48, 48), "medium": (48, 128, 128), "full": (128, 128, 128)}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="synthesize an archive, read it back, augment it, report what and how fast")
    p.add_argument("--studies", type=int, default=6, help="studies in the synthetic archive")
    p.add_argument("--seed", type=int, default=0, help="seed of the archive and of the augmentation")
    p.add_argument("--size", default="small", choices=sorted(PATCH), help="volume size preset")
    p.add_argument("--patches", type=int, default=64, help="augmented patches to cut")
    p.add_argument("--threads", type=int, default=0, help="native threads (0: all cores)")
    p.add_argument("--convert-workers", type=int, default=2, help="Dask worker processes for the conversion")
    p.add_argument("--out", type=Path, default=None, help="keep the archive here (default: a temp folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the process exit code."""
    if args.out is not None:
        return _run_in(Path(args.out), args)
    with tempfile.TemporaryDirectory(prefix="fastmed-demo-") as tmp:
        return _run_in(Path(tmp), args)


def _run_in(root: Path, args: argparse.Namespace) -> int:
    import fastmed as fm
    from fastmed.privacy import keyed_id
    from fastmed.synth import generate_archive

    fm.set_num_threads(args.threads)
    print(f"fastmed {fm.__version__}: {fm.get_num_threads()} native threads")

    t0 = time.perf_counter()
    info = generate_archive(root, studies=args.studies, seed=args.seed, shape=args.size)
    truth = {keyed_id(s.series_uid): s for s in info.all_series()}
    n_files = sum(len(s.files) for s in truth.values())
    print(
        f"1. synthesized {n_files} DICOM files, {len(truth)} series, {args.studies} studies "
        f"in {time.perf_counter() - t0:.2f} s"
    )

    t0 = time.perf_counter()
    man = fm.index(root, cache=False)
    dt = time.perf_counter() - t0
    n_indexed = sum(len(r.files) for r in man)
    print(
        f"2. indexed {n_indexed} image files in {dt * 1e3:.1f} ms ({n_indexed / dt:,.0f} files/s): "
        f"{len(man)} series, {len(man.valid)} valid, {len(man.rejected)} non-image files set aside"
    )

    volumes = _read_volumes(man, truth)
    if not volumes:
        print("no volume series to augment")
        return 1
    _augment(volumes, args)
    return _cache(root, man, volumes, args)


def _cache(root: Path, man: Any, volumes: list[Any], args: argparse.Namespace) -> int:
    """Join labels, convert to the checksummed zarr store on a local Dask cluster, verify, read back."""
    import fastmed as fm
    from fastmed.store import convert, open_store, verify

    t0 = time.perf_counter()
    annotated = fm.annotate(man, root / "labels.csv", how="left", multilabel="findings")
    print(
        f"5. joined labels.csv in {(time.perf_counter() - t0) * 1e3:.1f} ms: {annotated.summary}; "
        f"labels {list(annotated.label_names)}"
    )
    store = root / "cache.zarr"
    t0 = time.perf_counter()
    result = convert(annotated, store, workers=args.convert_workers, progress=False)
    dt = time.perf_counter() - t0
    if result.failed:
        print(f"   conversion FAILED for {len(result.failed)} series: {result.failed}")
        return 1
    src_bytes = sum(int(v.array.nbytes) for v in volumes)
    disk = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    print(
        f"6. converted {result.slices} slices into a zarr v3 store on a local Dask cluster "
        f"({args.convert_workers} workers) in {dt:.2f} s ({result.slices / dt:,.0f} slices/s): {result}; "
        f"{disk / 1e6:.1f} MB on disk"
    )
    again = convert(annotated, store, workers=1, progress=False)
    report = verify(store)
    cached = open_store(store)
    same = all(
        np.array_equal(cached.volume(v.meta["series_id"]).array, v.array)
        for v in volumes
        if v.meta["series_id"] in cached.ids
    )
    print(
        f"7. re-run: {again}; verify: {'ok' if report.ok else 'FAILED'} ({report.chunks} chunks checksummed); "
        f"volumes read back from the store equal the DICOM read: {same}; volume data {src_bytes / 1e6:.1f} MB"
    )
    return 0 if report.ok and same else 1


def _read_volumes(man: Any, truth: dict[str, Any]) -> list[Any]:
    import fastmed as fm

    t0 = time.perf_counter()
    vols = []
    slices = 0
    mismatches = 0
    for row in man.valid:
        if row.shape[0] < 2:
            continue  # projection radiographs: 2D, not volumes
        vol = fm.read_series(row.paths)
        slices += vol.shape[0]
        s = truth[row.series_id]
        if vol.shape != tuple(s.shape) or not np.allclose(vol.index_to_patient(), np.array(s.affine), atol=1e-3):
            mismatches += 1
        vols.append(vol)
    dt = time.perf_counter() - t0
    print(
        f"3. assembled {len(vols)} volumes ({slices} slices) in {dt * 1e3:.1f} ms "
        f"({slices / dt:,.0f} slices/s); geometry vs ground truth: "
        f"{'all match' if mismatches == 0 else f'{mismatches} MISMATCH(ES)'}"
    )
    for v in vols:
        sz, sy, sx = v.spacing
        lo, hi = int(v.array.min()), int(v.array.max())
        print(
            f"   {v.meta['modality']:2s} {v.meta['series_id']}  {v.shape[0]:3d}x{v.shape[1]}x{v.shape[2]}  "
            f"spacing {sz:.2f}x{sy:.2f}x{sx:.2f} mm  {v.array.dtype}  values {lo}..{hi}"
        )
    return vols


def _augment(volumes: list[Any], args: argparse.Namespace) -> None:
    import fastmed as fm

    patch = PATCH[args.size]
    aug = fm.Compose(
        [
            fm.RandomCrop(patch),
            fm.RandomFlip(),
            fm.RandomAffine(degrees=15, scale=(0.85, 1.15)),
            fm.RandomElastic(),
            fm.Window(-1000, 400),
            fm.RandomGamma(),
            fm.RandomGaussianNoise(),
        ]
    )
    samples = [{"image": v.array[None], "spacing": v.spacing} for v in volumes]
    batch = [samples[i % len(samples)] for i in range(args.patches)]
    aug.batch(batch[:2], seed=args.seed)  # warm-up: first call loads the kernels
    t0 = time.perf_counter()
    outs = aug.batch(batch, seed=args.seed)
    dt = time.perf_counter() - t0
    assert isinstance(outs, list)
    vox = sum(o["image"].size for o in outs)
    replay = aug.replay(batch[5 % len(batch)], outs[5 % len(outs)]["params"])
    same = np.array_equal(replay["image"], outs[5 % len(outs)]["image"])
    print(
        f"4. cut {len(outs)} augmented {patch[0]}x{patch[1]}x{patch[2]} patches (crop, flip, affine, elastic, "
        f"window, gamma, noise) in {dt * 1e3:.1f} ms: {len(outs) / dt:,.0f} patches/s, "
        f"{vox / dt / 1e6:,.0f} Mvoxel/s; replay from params identical: {same}"
    )
    first = outs[0]["image"]
    print(
        f"   patch 0: {first.dtype} {tuple(first.shape)}, mean {float(first.mean()):.3f}, "
        f"range {float(first.min()):.3f}..{float(first.max()):.3f}"
    )
