"""The rows of the ``loader`` suite: one end-to-end loader each, built lazily, torn down after timing.

Every row serves batches of ``BATCH`` R3D patches (``(BATCH, 1, p, p, p)`` float32) from the
same int16 volumes (:class:`~fastmed.bench.suites._loader_data.LoaderData`: in memory, or
fastmed from a store and the peers from what they hold in practice) with ``WORKERS`` workers
of one thread each (the same cores for every row), and its figures come from :class:`LoaderRow`: one timed call
draws ``batches`` batches from an iterator that lives across calls (worker start-up falls
in the warm-up), a sampler thread records the peak memory of the process tree, and
``finish`` shuts the workers down before the next row runs. ``finish`` also reports
``mean_batches_per_s`` over every call after the first: loaders that refill a buffer in
bursts (TorchIO's Queue) have fast and very slow calls, and only the mean rate is their
throughput (the median call is not).

A row factory is ``make(data, spec, batches) -> LoaderRow``; adding a row (e.g. the native
fast path) is one factory here and one ``Entry`` in :mod:`fastmed.bench.suites.loader`.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads
from fastmed.bench.suites._loader_data import REPEAT_VOLUMES, LoaderData, Volumes

__all__ = ["BATCH", "REPEAT_VOLUMES", "WORKERS", "LoaderRow", "Volumes"]

BATCH = 2
WORKERS = 2


def one_thread(worker_id: int) -> None:
    """``worker_init_fn``: every pool of a worker process at one thread (equal cores for every row)."""
    pin_threads(1)


def _monai_init(worker_id: int) -> None:
    """MONAI's ``worker_init_fn`` (seeds each worker's transforms) with every pool at one thread.

    Module-level, so that workers started by spawn or forkserver (Python 3.14's default) can unpickle it.
    """
    from monai.data.utils import worker_init_fn

    pin_threads(1)
    worker_init_fn(worker_id)


class MemoryPeak:
    """Peak memory of this process and its children, sampled by a thread every ``interval`` s.

    ``rss_mib`` sums the processes' RSS (pages shared between a parent and its forked
    workers counted in each); ``pss_mib`` sums their PSS (shared pages split between the
    processes sharing them: the tree's real footprint).
    """

    def __init__(self, interval: float = 0.2):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.rss = 0
        self.pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        import psutil

        rss = pss = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                info = p.memory_full_info()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            rss += info.rss
            pss += getattr(info, "pss", info.rss)
        self.rss = max(self.rss, rss)
        self.pss = max(self.pss, pss)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> None:
        """Begin sampling."""
        self._sample()
        self._thread.start()

    def stop(self) -> dict[str, float]:
        """Stop sampling; the peaks in MiB."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._sample()
        return {"peak_rss_mib": self.rss / 2**20, "peak_pss_mib": self.pss / 2**20}


class LoaderRow:
    """One loader as a benchmark row: ``row()`` draws ``batches`` batches, ``row.finish()`` tears down.

    Parameters
    ----------
    build
        Makes the loader (an iterable of batches) on the first call.
    batches
        Batches per timed call.
    image
        Picks the image tensor out of a batch.
    close
        Shuts the loader's workers down.
    extra
        More figures for the report, read at ``finish`` (e.g. loader stats).
    """

    def __init__(
        self,
        build: Callable[[], Any],
        batches: int,
        image: Callable[[Any], Any] = lambda b: b["image"],
        close: Callable[[Any, Any], None] | None = None,
        extra: Callable[[Any], dict[str, float]] | None = None,
    ):
        self.build = build
        self.batches = batches
        self.image = image
        self.close = close
        self.extra = extra
        self.loader: Any = None
        self.it: Iterator[Any] | None = None
        self.memory: MemoryPeak | None = None
        self.shape: tuple[int, ...] | None = None
        self.calls: list[float] = []

    def __call__(self) -> Any:
        t0 = time.perf_counter()
        if self.loader is None:
            self.memory = MemoryPeak()
            self.memory.start()
            self.loader = self.build()
        img = None
        for _ in range(self.batches):
            if self.it is None:
                self.it = iter(self.loader)
            try:
                batch = next(self.it)
            except StopIteration:
                self.it = None
                continue
            img = self.image(batch)
        if img is not None:
            self.shape = tuple(img.shape)
        self.calls.append(time.perf_counter() - t0)
        return img

    def finish(self) -> dict[str, float]:
        """Stop the workers; the peak memory and the row's extra figures."""
        out: dict[str, float] = {}
        timed = self.calls[1:]  # the first call starts the workers
        if timed:
            out["mean_batches_per_s"] = self.batches * len(timed) / sum(timed)
        self.calls = []
        if self.extra is not None and self.loader is not None:
            out.update(self.extra(self.loader))
        if self.close is not None and self.loader is not None:
            self.close(self.loader, self.it)
        shutdown = getattr(self.it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self.it = None
        self.loader = None
        if self.memory is not None:
            out.update(self.memory.stop())
            self.memory = None
        return out


# ---- fastmed ---------------------------------------------------------------------------


def image_only(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """``collate_fn`` keeping only the images (not the Compose's replay ``params`` and ``spacing``)."""
    from torch.utils.data import default_collate

    return {"image": default_collate([s["image"] for s in samples])}


def fastmed_generic(
    data: LoaderData, spec: AugSpec, batches: int, collate_fn: Callable[[Any], Any] | None = None
) -> LoaderRow:
    """fm.DataLoader on its generic worker path with the R3D ``Compose`` as ``transform=`` (torch's collate).

    Store source: the items' lazy handles go to the worker processes, which read each
    sample's footprint from the store.
    """
    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.loader import DataLoader

    aug = build(spec)

    def make() -> Any:
        return DataLoader(
            data.fastmed_dataset(),
            batch_size=BATCH,
            shuffle=True,
            num_workers=WORKERS,
            persistent_workers=True,
            worker_init_fn=one_thread,
            transform=aug,
            seed=0,
            collate_fn=collate_fn,
        )

    return LoaderRow(make, batches)


def fastmed_fast(data: LoaderData, spec: AugSpec, batches: int, workers: int = WORKERS) -> LoaderRow:
    """fm.DataLoader's fast path: ``workers`` threads, one ``Compose.batch`` per batch (one native thread each).

    Each batch is written straight into a reused batch tensor (:mod:`fastmed.loader.fast`);
    no worker processes, no pickling, torch's default collate for the other keys. Store
    source: each sample reads only the chunks under its footprint, in its batch's thread.
    """
    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.loader import DataLoader

    aug = build(spec)
    aug.threads = 1  # WORKERS threads x 1 native thread: the cores of the process rows

    def make() -> Any:
        ds = data.fastmed_dataset()
        return DataLoader(ds, batch_size=BATCH, shuffle=True, num_workers=workers, transform=aug, seed=0, fast=True)

    return LoaderRow(make, batches)


def fastmed_fast_one_thread(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """:func:`fastmed_fast` with one thread: the fast path's thread scaling (half the cores of the other rows)."""
    return fastmed_fast(data, spec, batches, workers=1)


def fastmed_image_only(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """As :func:`fastmed_generic` with ``collate_fn=image_only``.

    The loader's default collate keeps the Compose's replay record (``params``, ~30 numbers
    and the elastic control grid per sample) as a list of records, pickled with the batch;
    this row shows the loader without that record.
    """
    return fastmed_generic(data, spec, batches, collate_fn=image_only)


# ---- fastmed's DALI backend on DALI's CPU operators --------------------------------------


# ---- MONAI -----------------------------------------------------------------------------


def monai_pipeline(spec: AugSpec) -> Any:
    """MONAI's dict transforms for R3D, lazy crop+flip+affine, then elastic and intensity."""
    import monai.transforms as mt

    from fastmed.bench.peers.monai_r3d import elastic_ranges

    k = ["image"]
    lo, hi = spec.window
    sigma_range, magnitude_range = elastic_ranges(spec)
    return mt.Compose(
        [
            mt.RandSpatialCropd(k, roi_size=spec.patch, random_size=False, lazy=True),
            *[mt.RandFlipd(k, prob=0.5, spatial_axis=a, lazy=True) for a in range(spec.ndim)],
            mt.RandAffined(
                k,
                prob=1.0,
                rotate_range=(spec.radians,) * 3,
                scale_range=(spec.scale[1] - 1.0,) * 3,
                spatial_size=spec.patch,
                mode="bilinear",
                padding_mode="zeros",
                lazy=True,
            ),
            mt.Rand3DElasticd(k, sigma_range, magnitude_range, prob=1.0, mode="bilinear", padding_mode="zeros"),
            mt.ScaleIntensityRanged(k, a_min=lo, a_max=hi, b_min=0.0, b_max=1.0, clip=True),
            mt.RandAdjustContrastd(k, prob=1.0, gamma=spec.gamma),
            mt.RandGaussianNoised(k, prob=1.0, mean=0.0, std=spec.noise_std, sample_std=True),
        ],
        lazy=True,
    )


def monai_cache(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """A torch DataLoader over MONAI's ``CacheDataset`` with MONAI transforms and MONAI's worker seeding.

    The cache holds the decoded arrays (filled before timing, as ``CacheDataset`` does at
    construction), whatever the suite's source.
    """
    from monai.data import CacheDataset
    from torch.utils.data import DataLoader

    def make() -> Any:
        items = [{"image": v} for v in data.vols] * REPEAT_VOLUMES
        ds = CacheDataset(items, transform=monai_pipeline(spec), cache_rate=1.0, num_workers=1, progress=False)
        return DataLoader(
            ds, batch_size=BATCH, shuffle=True, num_workers=WORKERS, persistent_workers=True, worker_init_fn=_monai_init
        )

    return LoaderRow(make, batches)


# ---- TorchIO ---------------------------------------------------------------------------

SAMPLES_PER_VOLUME = 4


def torchio_queue(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """TorchIO's patch pipeline: ``SubjectsDataset`` (transform per volume) -> ``Queue`` -> loader.

    Subjects hold the decoded arrays in memory (shared with the workers), whatever the source.
    The queue holds one timed call's patches (``batches * BATCH``, whole volumes' worth), so
    it refills every call and the mean over the timed calls (``mean_batches_per_s``) spans
    whole refills. With a 16-patch queue the few calls timed at size ``full`` were all
    served from one fill (a first run read 9.5 batches/s, even as the mean). Two workers
    prefetching subjects still make calls alternate between waiting for a volume and
    finding one ready: read this row's mean, not its median. A longer queue mixes more
    volumes but is no faster (the workers' whole-volume transforms set the rate).
    """
    import torch
    import torchio as tio

    from fastmed.bench.peers._torchutil import shared_tensor
    from fastmed.bench.peers.torchio_r3d import r3d_transform

    d, h, w = spec.patch
    transform = r3d_transform(spec, fused=True)

    def make() -> Any:
        subjects = [tio.Subject(image=tio.ScalarImage(tensor=shared_tensor(v), affine=np.eye(4))) for v in data.vols]
        ds = tio.SubjectsDataset(subjects * REPEAT_VOLUMES, transform=transform)
        queue = tio.Queue(
            ds,
            max_length=max(1, -(-batches * BATCH // SAMPLES_PER_VOLUME)) * SAMPLES_PER_VOLUME,
            samples_per_volume=SAMPLES_PER_VOLUME,
            sampler=tio.UniformSampler(patch_size=(d, h, w)),
            num_workers=WORKERS,
            shuffle_subjects=True,
            shuffle_patches=True,
        )
        return torch.utils.data.DataLoader(queue, batch_size=BATCH, num_workers=0, collate_fn=_tio_collate)

    return LoaderRow(make, batches, image=lambda b: b, close=_close_queue)


def _tio_collate(patches: list[Any]) -> Any:
    import torch

    return torch.stack([p["image"].data for p in patches])


def _close_queue(loader: Any, it: Any) -> None:
    queue = loader.dataset
    subjects_iter = getattr(queue, "_subjects_iterable", None)
    shutdown = getattr(subjects_iter, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


# ---- batchgeneratorsv2 as nnU-Net runs it ------------------------------------------------


def bgv2_nnunet(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """nnU-Net's loader: region crops + the bgv2 pipeline per sample in ``NonDetMultiThreadedAugmenter``.

    A batchgenerators ``DataLoader`` cuts each sample's enlarged int16 region and runs the
    bgv2 pipeline on it, in the augmenter's worker processes. Store source: the regions are
    cut from nnU-Net's preprocessed ``.npy`` files, memory-mapped (``np.load(mmap_mode="r")``).
    """
    import torch
    from batchgenerators.dataloading.data_loader import DataLoader
    from batchgenerators.dataloading.nondet_multi_threaded_augmenter import NonDetMultiThreadedAugmenter

    from fastmed.bench.peers.bgv2_r3d import make_nnunet

    vols = data.nnunet_arrays()

    class NNUNetLike(DataLoader):
        """One batch = BATCH patches, each an nnU-Net region crop + bgv2 spatial/intensity pipeline."""

        def __init__(self) -> None:
            super().__init__(list(range(len(vols))), BATCH, WORKERS, infinite=True)
            self.makers = [make_nnunet(v, spec, threads=1) for v in vols]
            self.turn = itertools.count()

        def generate_train_batch(self) -> dict[str, Any]:
            patches = [self.makers[next(self.turn) % len(vols)]() for _ in range(BATCH)]
            return {"data": torch.from_numpy(np.stack(patches))}

    def make() -> Any:
        return NonDetMultiThreadedAugmenter(NNUNetLike(), None, WORKERS, num_cached=max(6, WORKERS // 2))

    return LoaderRow(make, batches, image=lambda b: b["data"], close=lambda loader, it: loader._finish())


# ---- the data-wait case: a small 3D network's training step ------------------------------


def train_step(spec: AugSpec) -> Callable[[Any], float]:
    """A small MONAI 3D UNet's forward/backward/step on a ``(BATCH, 1, p, p, p)`` batch (1 torch thread)."""
    import torch
    from monai.networks.nets import UNet

    net = UNet(spatial_dims=3, in_channels=1, out_channels=1, channels=(8, 16, 32), strides=(2, 2), num_res_units=1)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step(image: Any) -> float:
        pin_threads(1)
        opt.zero_grad()
        x = torch.as_tensor(image)
        loss = torch.nn.functional.mse_loss(net(x), (x > 0.5).float())
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def fastmed_feeding(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """fm.DataLoader (generic path, 2 workers, images only) feeding the training step; reports its data-wait."""
    row = fastmed_image_only(data, spec, batches)
    step = train_step(spec)
    build = row.build

    class Feeding:
        def __init__(self) -> None:
            self.loader = build()

        def __iter__(self) -> Iterator[Any]:
            for batch in self.loader:
                step(batch["image"])
                yield batch

    def extra(feeding: Any) -> dict[str, float]:
        s = feeding.loader.stats
        return {"data_wait_fraction": s.data_wait_fraction, "samples_per_s": s.samples_per_s}

    return LoaderRow(Feeding, batches, extra=extra)


def compute_only(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """The training step on one fixed batch, no loader: the floor of the feeding row."""
    import torch

    step = train_step(spec)
    fixed = torch.rand((BATCH, 1, *spec.patch), generator=torch.Generator().manual_seed(0))  # rng-ok

    def make() -> Any:
        def forever() -> Iterator[Any]:
            while True:
                step(fixed)
                yield {"image": fixed}

        return _Once(forever)

    return LoaderRow(make, batches)


class _Once:
    def __init__(self, gen: Callable[[], Iterator[Any]]):
        self.gen = gen

    def __iter__(self) -> Iterator[Any]:
        return self.gen()


def settle(seconds: float = 0.5) -> None:
    """Let the previous row's workers exit before the next row starts."""
    time.sleep(seconds)
