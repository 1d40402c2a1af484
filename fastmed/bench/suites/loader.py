"""Loader: end-to-end R3D batches per second and peak memory, fm.DataLoader vs MONAI, TorchIO, nnU-Net, DALI.

Same process, same int16 CT volumes, same cores: every row runs 2 workers (processes, or
threads for fastmed's fast path) with one thread each and serves batches of 2 R3D patches (random patch, flip,
rotation ±15°, scale 0.85–1.15, elastic, window, gamma, noise), float32 ``(2, 1, p, p, p)``.
One timed call draws ``batches`` batches from a loader iterator that lives across calls,
so worker start-up is in the warm-up; the rate is batches per second at the median call,
and ``mean_batches_per_s`` (total batches / total time after the first call) is the
throughput to compare for bursty loaders (TorchIO's Queue). ``finish`` adds the
peak memory of the process tree (``peak_rss_mib``: RSS summed over the main process and
its workers; ``peak_pss_mib``: PSS summed, shared pages split).

Sources (:mod:`fastmed.bench.suites._loader_data`): ``memory``, every row reads the volumes from
memory; ``store`` (the issue's case, the default at size ``full``), the volumes (with CT-like
noise) are converted once into a fastmed store with ``fm.convert`` and **fastmed's rows read the
store** through ``fm.VolumeDataset`` (only the chunks under each sample's footprint), while the
peers read what they hold in practice: MONAI's ``CacheDataset``, TorchIO's subjects and the DALI
pipeline the decoded arrays in memory; nnU-Net/bgv2 its preprocessed ``.npy`` files,
memory-mapped. Choose with ``source=`` or a size suffix (``--size small-store``,
``--size full-memory``). The case names carry the source.

Rows (factories in :mod:`fastmed.bench.suites._loader_rows` and, for DALI, `_loader_dali_rows`):

- ``fastmed-fast`` (the subject): ``fm.DataLoader(num_workers=2, transform=Compose(R3D),
  seed=0, fast=True)``: the fast path, 2 threads each making a whole batch with one
  ``Compose.batch`` call (1 native thread) into a reused batch tensor. ``fastmed-fast-1-thread``:
  the same with one thread (half the cores of every other row: the fast path's thread scaling).
- ``fastmed``: the same loader on the generic worker path (2 processes) with the loader's
  default collate (torch's, with the Compose's replay record ``params`` kept as a list of
  per-sample records). ``fastmed-image-only``: the same with a ``collate_fn`` keeping only the
  images (no ``params``, no ``spacing`` to pickle).
- ``monai-cache``: torch ``DataLoader(num_workers=2)`` over MONAI ``CacheDataset`` with
  MONAI's dict transforms (``RandSpatialCropd``, ``RandFlipd`` ×3, ``RandAffined`` lazily
  fused, ``Rand3DElasticd``, ``ScaleIntensityRanged``, ``RandAdjustContrastd``,
  ``RandGaussianNoised``) and MONAI's ``worker_init_fn``. CacheDataset's default
  ``copy_cache=True`` deep-copies the cached volume per sample: MONAI's real cost, kept.
- ``torchio-queue``: ``SubjectsDataset`` with the TorchIO R3D transforms → ``Queue(num_workers=2,
  samples_per_volume=4, UniformSampler, max_length=`` one timed call's patches ``)`` → loader
  (one refill per call; read its ``mean_batches_per_s``: see ``_loader_rows.torchio_queue``).
  TorchIO transforms whole volumes (its design) and cuts 4 patches from each: the
  augmentation is shared by 4 patches.
- ``bgv2-nnunet``: nnU-Net's recipe: a batchgenerators ``DataLoader`` cutting the enlarged
  int16 region per sample and running the bgv2 pipeline in ``NonDetMultiThreadedAugmenter``
  worker processes (2, ``num_cached=6``).
- ``dali-cpu-no-elastic``: fastmed's own DALI backend pipeline (``fastmed.backends.dali.dali_pipeline``)
  on DALI's CPU operators, 2 DALI threads, through ``DALIGenericIterator``: one ``warp_affine``
  per sample with the fused crop/flip/affine map, then window, gamma and noise in DALI. DALI
  has no 3D elastic op, so this row runs R3D *without* the elastic deformation (less work);
  ``fastmed-fast-no-elastic`` is the fast path on that same pipeline, the row to compare it with.

Case ``train step``: the data-wait fraction (``loader.stats``) of ``fm.DataLoader`` (images only) feeding a
small MONAI 3D UNet's forward/backward/step (1 torch thread in the main process), and the
same step on a fixed batch (``compute-only``, the floor).

Sizes as the r3d suite: ``full`` 320×512×512 volumes, 128³ patches (the issue's R3D);
``small`` 160×256×256, 64³; ``tiny`` 48×96×96, 32³. Four volumes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from fastmed.bench.harness import Case, Impl
from fastmed.bench.registry import register_suite
from fastmed.bench.suites._loader_data import SOURCES, LoaderData, loader_data
from fastmed.bench.suites.augment_r3d import spec_for

VOLUMES = 4
BATCHES_PER_CALL = {"tiny": 4, "small": 4, "full": 2}
_R = "fastmed.bench.suites._loader_rows:"
_RD = "fastmed.bench.suites._loader_dali_rows:"


@dataclass(frozen=True)
class Row:
    """A row: display name, ``module:function`` factory ``(data, spec, batches) -> LoaderRow``, flags."""

    name: str
    factory: str
    is_fastmed: bool = False
    floor: bool = False


LOADER_ROWS = (
    Row("fastmed-fast", _R + "fastmed_fast", is_fastmed=True),
    Row("fastmed-fast-1-thread", _R + "fastmed_fast_one_thread"),
    Row("fastmed", _R + "fastmed_generic"),
    Row("fastmed-image-only", _R + "fastmed_image_only"),
    Row("monai-cache", _R + "monai_cache"),
    Row("torchio-queue", _R + "torchio_queue"),
    Row("bgv2-nnunet", _R + "bgv2_nnunet"),
    Row("fastmed-fast-no-elastic", _RD + "fastmed_fast_no_elastic"),
    Row("dali-cpu-no-elastic", _RD + "dali_cpu"),  # last: DALI's libraries stay in the process's RSS
)
TRAIN_ROWS = (
    Row("fastmed-feeding", _R + "fastmed_feeding", is_fastmed=True),
    Row("compute-only", _R + "compute_only", floor=True),
)


def _impls(rows: tuple[Row, ...], data: LoaderData, spec: object, batches: int) -> tuple[list[Impl], dict[str, str]]:
    impls: list[Impl] = []
    missing: dict[str, str] = {}
    for row in rows:
        mod, fn = row.factory.split(":")
        try:
            made = getattr(importlib.import_module(mod), fn)(data, spec, batches)
        except ImportError as exc:
            missing[row.name] = f"not installed: {exc}"
            continue
        impls.append(Impl(row.name, made, is_fastmed=row.is_fastmed, floor=row.floor, finish=made.finish))
    return impls, missing


def split_size(size: str, source: str | None = None) -> tuple[str, str]:
    """``(size, source)`` from ``size`` (``"small"``, ``"small-store"``) and ``source``.

    The default source is ``"store"`` at size ``full`` (the issue's case) and ``"memory"`` below.
    """
    base, _, suffix = size.partition("-")
    if suffix and source is not None and suffix != source:
        raise ValueError(f"size {size!r} names source {suffix!r} but source={source!r}")
    chosen = suffix or source or ("store" if base == "full" else "memory")
    if chosen not in SOURCES:
        raise ValueError(f"unknown loader source {chosen!r} in size {size!r}; known: {SOURCES}")
    return base, chosen


@register_suite("loader")
def loader_suite(size: str = "small", threads: tuple[int, ...] = (1, 2), source: str | None = None) -> list[Case]:
    """Loader: R3D batches/s and peak memory, fm.DataLoader vs MONAI CacheDataset, TorchIO Queue, bgv2, DALI."""
    size, source = split_size(size, source)
    shape, spec = spec_for(size)
    data = loader_data(shape, VOLUMES, source)
    batches = BATCHES_PER_CALL[size]
    impls, missing = _impls(LOADER_ROWS, data, spec, batches)
    train, train_missing = _impls(TRAIN_ROWS, data, spec, batches)
    p = spec.patch[0]
    return [
        Case(f"r3d batches 2x{p}^3 from {source}", impls, items=batches, unit="batch", threads=1, missing=missing),
        Case(f"train step 2x{p}^3 from {source}", train, items=batches, unit="step", threads=1, missing=train_missing),
    ]
