"""``fastmed demo``: the main job on the built-in synthetic archive.

Synthesize an archive of CT, MR and X-ray studies (with ground truth), index it with the
native parser, assemble every volume series with validated geometry, check what was read
against the truth, and cut augmented training patches from the volumes with the fused
engine, then join the archive's labels table, convert it into the checksummed zarr store on a
local Dask cluster, verify it and read it back. Then draw an augmentation montage from the
store, pretrain a small MAE on store volumes fed by ``fastmed.DataLoader``, probe its frozen
encoder for lesions on held-out studies (and again with 1 % and 10 % of the training labels: the
label-efficiency curve), and write the run report (Markdown + HTML with plots: throughput against
peers, data wait and the bottleneck, loss curves, the montage, the AUROC, label efficiency). It prints what it
found and how fast, and where the report is; nothing identifying is printed (series are named
by keyed ids). Progress bars (tqdm, on stderr) run throughout.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

PATCH_SIZES = {"small": (16, 48, 48), "medium": (48, 128, 128), "full": (128, 128, 128)}
LESION_SCALE = 2.0
"""The demo archive's lesions: the smallest radius doubled (7-30 voxels across instead of 3-6), as in the learning
tests, so that a lesion-presence probe on a short MAE pretraining has something to find."""
LABEL_FRACTIONS = (0.01, 0.1)
"""Label fractions of the demo's label-efficiency curve (besides the full-label probe)."""
PEER_SUITES = ("r3d", "loader")
"""Committed ``fastmed bench`` results shown as throughput against peers (augmentation, and batches fed)."""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``demo`` subcommand."""
    p = subparsers.add_parser("demo", help="synthesize an archive, read it back, augment it, report what and how fast")
    p.add_argument("--studies", type=int, default=60, help="studies in the synthetic archive")
    p.add_argument("--seed", type=int, default=0, help="seed of the archive and of the augmentation")
    p.add_argument("--size", default="small", choices=sorted(PATCH_SIZES), help="volume size preset")
    p.add_argument(
        "--lesion-scale",
        type=float,
        default=LESION_SCALE,
        help=f"smallest lesion radius as a multiple of the generator's default (default {LESION_SCALE:g})",
    )
    p.add_argument("--patches", type=int, default=64, help="augmented patches to cut")
    p.add_argument("--threads", type=int, default=0, help="native threads (0: all cores)")
    p.add_argument("--convert-workers", type=int, default=2, help="Dask worker processes for the conversion")
    p.add_argument("--out", type=Path, default=None, help="keep the archive here (default: a temp folder)")
    p.add_argument(
        "--report", type=Path, default=Path("fastmed-demo-report"), help="report folder (default ./fastmed-demo-report)"
    )
    p.add_argument("--mae-steps", type=int, default=400, help="MAE pretraining steps")
    p.add_argument("--probe-steps", type=int, default=150, help="linear-probe steps")
    p.add_argument(
        "--label-efficiency",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also probe with 1%% and 10%% of the training labels and plot the label-efficiency curve",
    )
    p.add_argument("--quick", action="store_true", help="a few training steps only (a smoke run)")
    p.add_argument("--no-train", action="store_true", help="stop after the store (no montage, training, report)")
    p.set_defaults(func=run)


class Say:
    """Print a line above the progress bars and keep it for the report's summary."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        """Print ``line`` and keep it."""
        tqdm.write(line)
        self.lines.append(line)


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns the process exit code."""
    if args.out is not None:
        return _run_in(Path(args.out), args)
    with tempfile.TemporaryDirectory(prefix="fastmed-demo-") as tmp:
        return _run_in(Path(tmp), args)


def _run_in(root: Path, args: argparse.Namespace) -> int:
    say = Say()
    stages = 7 if args.no_train else 12 if args.label_efficiency else 11
    with tqdm(total=stages, desc="fastmed demo", unit="stage", leave=False) as bar:
        code = _prepare(root, args, say, bar.update)
        if code != 0 or args.no_train:
            return code
        return _train_and_report(root, args, say, bar.update)


def _prepare(root: Path, args: argparse.Namespace, say: Say, done: Callable[[int], Any]) -> int:
    """Stages 1-7: synthesize, index, assemble, augment, annotate, convert, verify and read back."""
    import fastmed as fm
    from fastmed.privacy import keyed_id
    from fastmed.synth import generate_archive

    fm.set_num_threads(args.threads)
    say(f"fastmed {fm.__version__}: {fm.get_num_threads()} native threads")

    t0 = time.perf_counter()
    info = generate_archive(root, studies=args.studies, seed=args.seed, shape=args.size, lesion_scale=args.lesion_scale)
    truth = {keyed_id(s.series_uid): s for s in info.all_series()}
    n_files = sum(len(s.files) for s in truth.values())
    done(1)
    say(
        f"1. synthesized {n_files} DICOM files, {len(truth)} series, {args.studies} studies "
        f"(lesion scale {args.lesion_scale:g}) in {time.perf_counter() - t0:.2f} s"
    )

    t0 = time.perf_counter()
    man = fm.index(root, cache=False)
    dt = time.perf_counter() - t0
    n_indexed = sum(len(r.files) for r in man)
    done(1)
    say(
        f"2. indexed {n_indexed} image files in {dt * 1e3:.1f} ms ({n_indexed / dt:,.0f} files/s): "
        f"{len(man)} series, {len(man.valid)} valid, {len(man.rejected)} non-image files set aside"
    )

    volumes = _read_volumes(man, truth, say)
    done(1)
    if not volumes:
        say("no volume series to augment")
        return 1
    _augment(volumes, args, say)
    done(1)
    return _cache(root, man, volumes, args, say, done)


def _cache(
    root: Path, man: Any, volumes: list[Any], args: argparse.Namespace, say: Say, done: Callable[[int], Any]
) -> int:
    """Join labels, convert to the checksummed zarr store on a local Dask cluster, verify, read back."""
    import fastmed as fm
    from fastmed.store import convert, open_store, verify

    t0 = time.perf_counter()
    annotated = fm.annotate(man, root / "labels.csv", how="left", multilabel="findings")
    done(1)
    say(
        f"5. joined labels.csv in {(time.perf_counter() - t0) * 1e3:.1f} ms: {annotated.summary}; "
        f"labels {list(annotated.label_names)}"
    )
    store = root / "cache.zarr"
    t0 = time.perf_counter()
    result = convert(annotated, store, workers=args.convert_workers, progress=True)
    dt = time.perf_counter() - t0
    done(1)
    if result.failed:
        say(f"   conversion FAILED for {len(result.failed)} series: {result.failed}")
        return 1
    src_bytes = sum(int(v.array.nbytes) for v in volumes)
    disk = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    say(
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
    done(1)
    say(
        f"7. re-run: {again}; verify: {'ok' if report.ok else 'FAILED'} ({report.chunks} chunks checksummed); "
        f"volumes read back from the store equal the DICOM read: {same}; volume data {src_bytes / 1e6:.1f} MB"
    )
    return 0 if report.ok and same else 1


def _read_volumes(man: Any, truth: dict[str, Any], say: Say) -> list[Any]:
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
    say(
        f"3. assembled {len(vols)} volumes ({slices} slices) in {dt * 1e3:.1f} ms "
        f"({slices / dt:,.0f} slices/s); geometry vs ground truth: "
        f"{'all match' if mismatches == 0 else f'{mismatches} MISMATCH(ES)'}"
    )
    for v in vols:
        sz, sy, sx = v.spacing
        lo, hi = int(v.array.min()), int(v.array.max())
        say(
            f"   {v.meta['modality']:2s} {v.meta['series_id']}  {v.shape[0]:3d}x{v.shape[1]}x{v.shape[2]}  "
            f"spacing {sz:.2f}x{sy:.2f}x{sx:.2f} mm  {v.array.dtype}  values {lo}..{hi}"
        )
    return vols


def _augment(volumes: list[Any], args: argparse.Namespace, say: Say) -> None:
    import fastmed as fm

    patch = PATCH_SIZES[args.size]
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
    say(
        f"4. cut {len(outs)} augmented {patch[0]}x{patch[1]}x{patch[2]} patches (crop, flip, affine, elastic, "
        f"window, gamma, noise) in {dt * 1e3:.1f} ms: {len(outs) / dt:,.0f} patches/s, "
        f"{vox / dt / 1e6:,.0f} Mvoxel/s; replay from params identical: {same}"
    )
    first = outs[0]["image"]
    say(
        f"   patch 0: {first.dtype} {tuple(first.shape)}, mean {float(first.mean()):.3f}, "
        f"range {float(first.min()):.3f}..{float(first.max()):.3f}"
    )


def _train_and_report(root: Path, args: argparse.Namespace, say: Say, done: Callable[[int], Any]) -> int:
    """Stages 8-11: augmentation montage, MAE pretraining, linear probe, report."""
    missing = [m for m in ("torch", "monai", "matplotlib", "safetensors") if importlib.util.find_spec(m) is None]
    if missing:
        say(f"8-11. training and report skipped: {', '.join(missing)} missing (pip install 'fastmed[train]')")
        return 0
    import torch

    from fastmed.demo_train import PATCH, pretrain_and_probe
    from fastmed.store import open_store
    from fastmed.train.engine.tracking import attach_to_last_run
    from fastmed.train.metrics.auroc import auroc
    from fastmed.train.report import (
        LabelCurve,
        ReportInputs,
        RunSummary,
        augmentation_montage,
        load_peer_table,
        write_report,
    )

    report_dir = args.report.resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(report_dir / "runs", ignore_errors=True)  # this run's logs only
    cached = open_store(root / "cache.zarr")
    vols = [cached.volume(i) for i in cached.ids]
    vols = [v for v in vols if v.array.ndim == 3 and v.array.shape[0] > 1]
    shown = [v for v in vols if v.meta["modality"] == "CT"][:3] or vols[:3]
    t0 = time.perf_counter()
    montage = root / "montage.png"
    patch = PATCH_SIZES[args.size]
    augmentation_montage(
        [(v.meta["series_id"], v.array, v.spacing) for v in shown], montage, patch=patch, n=3, seed=args.seed
    )
    done(1)
    say(f"8. drew the R3D augmentation montage of {len(shown)} store volumes in {time.perf_counter() - t0:.2f} s")

    mae_steps, probe_steps = (6, 6) if args.quick else (args.mae_steps, args.probe_steps)
    t0 = time.perf_counter()

    def on_run(name: str, res: Any) -> None:
        done(1)
        if name != "mae":
            return
        say(
            f"9. MAE pretraining (fastmed.train.recipes, vit3d_tiny on {'x'.join(map(str, PATCH))} patches): "
            f"{len(res.losses)} steps in {time.perf_counter() - t0:.1f} s, loss {res.losses[0]:.3f} -> "
            f"{res.losses[-1]:.3f}; {res.samples_per_s:.1f} samples/s, data wait {res.data_wait_fraction:.1%} "
            f"({res.bottleneck}-bound)"
        )

    before = torch.get_num_threads()  # the recipes run torch on one thread, the loader's threads beside it
    try:
        out = pretrain_and_probe(
            root / "cache.zarr",
            report_dir / "runs",
            seed=args.seed,
            mae_steps=mae_steps,
            probe_steps=probe_steps,
            workers=max(1, args.convert_workers),
            on_run=on_run,
            label_fractions=LABEL_FRACTIONS if args.label_efficiency else (),
        )
    finally:
        torch.set_num_threads(before)
    res, y, s = out.probe, out.probe_labels, out.probe_scores
    value = auroc(y, s) if 0 < int(y.sum()) < y.size else float("nan")
    study = float(res.metrics.get("auroc_study", float("nan")))
    say(
        f"10. linear probe for lesion_present on the frozen MAE encoder: {len(res.losses)} steps, loss "
        f"{res.losses[0]:.3f} -> {res.losses[-1]:.3f}, data wait {res.data_wait_fraction:.1%}; "
        f"AUROC on {y.size} held-out series ({int(y.sum())} with lesions): {value:.3f}"
        + (
            f"; per study (series scores averaged) {study:.3f} on {res.metrics['n_eval_studies']:.0f} studies"
            if np.isfinite(study)
            else ""
        )
        + "".join(f" ({n})" for n in out.notes)
    )
    curve = out.label_efficiency
    if curve is not None:
        points = ", ".join(
            f"{100 * f:g} % ({n} series) {v:.3f}"
            for f, n, v in zip(curve.fractions, curve.labelled, curve.scores, strict=True)
        )
        say(
            f"11. label efficiency, the probe on a stratified share of the training labels, scored on the same "
            f"{curve.holdout_series} held-out series: AUROC at {points}; curve {curve.plot.name} in the report"
        )
    results = Path(__file__).resolve().parents[1] / "bench" / "results"
    peers = [load_peer_table(results / f"{n}.json") for n in PEER_SUITES if (results / f"{n}.json").exists()]
    inputs = ReportInputs(
        title="fastmed demo report",
        facts=[(n, text) for n, _, text in (line.partition(" ") for line in say.lines if line[:1].isdigit())],
        peers=peers,
        runs=[RunSummary.of("MAE pretraining", out.mae), RunSummary.of("linear probe", out.probe)],
        montage=montage,
        probe_labels=y,
        probe_scores=s,
        probe_name="lesion_present (per series, whole series letterboxed into the model input)",
        label_efficiency=LabelCurve.of(curve) if curve is not None else None,
        notes=[
            "Throughput against peers: the committed `fastmed bench "
            + " / ".join(PEER_SUITES)
            + "` results (not measured in this run; none where the source tree's bench/results is absent). "
            "Training figures: measured in this run (torch on one thread, the loader's threads beside it). "
            f"The archive's lesions are {args.lesion_scale:g}x the generator's default size. Run folders "
            f"(config.yaml, metrics.jsonl/csv, checkpoints): {report_dir / 'runs'}.",
            *out.notes,
        ],
    )
    files = write_report(inputs, report_dir)
    for run_dir in (out.mae.run_dir, out.probe.run_dir):  # MLflow (when installed): config and report per run
        attach_to_last_run(run_dir, [Path(run_dir) / "config.yaml", files.markdown, files.html])
    done(1)
    say(f"{12 if curve is not None else 11}. report: {files.html} (Markdown: {files.markdown.name})")
    return 0
