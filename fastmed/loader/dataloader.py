"""``fastmed.DataLoader``: torch's DataLoader, plus seeded order, keyed augmentation, resume and faults.

Design (see also docs/loader.md)
--------------------------------
The class subclasses :class:`torch.utils.data.DataLoader` and calls its ``__init__``
with the user's torch arguments unchanged, so torch validates them (same error types
and messages), sets the same attributes, builds the same default sampler and gives
the same ``len()``. Iteration runs a second, inner torch DataLoader over fastmed's
wrappers (:mod:`fastmed.loader.inner`): torch's worker processes, seeds,
``worker_init_fn``, prefetching, timeout, ``in_order`` and pinning are torch's own.

fastmed's layer around it:

- **Order.** With ``seed=`` (or a shard from ``rank=``/``world_size=`` or an initialized
  ``torch.distributed``) and no user sampler, the order is
  :class:`~fastmed.loader.order.EpochOrder` (DistributedSampler's algorithm, keyed by
  ``seed + epoch``). Without, it is torch's own sampler, so the same ``generator``
  seed gives torch's batches in torch's order.
- **Keys.** The main process turns each batch into keys ``(batch_id, epoch, index)``
  (:mod:`fastmed.loader.plan`); a worker fetches ``dataset[index]`` and applies
  ``transform(sample, seed=, index=, epoch=)``. Nothing depends on the worker id, so
  batches are identical for any ``num_workers``.
- **Faults.** A failing sample becomes a record, not an exception in the worker:
  ``on_error="raise"`` raises :class:`~fastmed.errors.LoaderError` naming the index and
  the cause; ``"skip"`` drops it, records it in ``loader.errors`` and keeps its batch
  mates. A dead worker is replaced and the batches in flight are issued again (no sample
  lost or duplicated); ``timeout`` expiry is a LoaderError naming the batch waited for.
- **State.** ``state_dict()`` holds the epoch and the delivered batch ids;
  ``load_state_dict()`` makes the next ``iter()`` redo the epoch's order and skip them.
- **Telemetry.** ``loader.stats``; ``progress=True`` shows a tqdm bar.

- **Fast path.** Items holding lazy volumes (``VolumeDataset``) with a fastmed ``Compose``
  run in threads, one ``Compose.batch`` per batch written into reused batch tensors
  (:mod:`fastmed.loader.fast`); the same keys, plan and books, the same batches.
- **Patches.** ``patch_sampler=`` and ``samples_per_volume=`` make the loader iterate
  patches (sample ``s`` is patch ``s % k`` of volume ``s // k``) in
  :class:`~fastmed.loader.patch_order.PatchOrder`'s order, each cut by the first step of
  a :class:`~fastmed.loader.patch_compose.PatchCompose` (:mod:`fastmed.loader.patches`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import torch
from torch.utils.data import BatchSampler, Dataset, Sampler
from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data.dataloader import _DatasetKind

from fastmed.errors import LoaderError
from fastmed.loader.fast import check_fast, start_fast
from fastmed.loader.integrations.foreign import adapt_transform
from fastmed.loader.iterator import EpochIterator
from fastmed.loader.options import Options, check_options
from fastmed.loader.order import EpochOrder
from fastmed.loader.patch_order import PatchOrder
from fastmed.loader.plan import EpochPlan, Progress
from fastmed.loader.state import VERSION, SkippedSample, check_state, pack_done, unpack_done
from fastmed.loader.stats import LoaderStats, StatsRecorder


class DataLoader(TorchDataLoader[Any]):
    """A drop-in for :class:`torch.utils.data.DataLoader` with fastmed's determinism, resume and faults.

    Parameters
    ----------
    dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, collate_fn, pin_memory, drop_last, timeout, \
worker_init_fn, multiprocessing_context, generator, prefetch_factor, persistent_workers, pin_memory_device, in_order
        As in torch 2.13, with torch's semantics and validation.
    transform
        Applied to every sample in the worker: a fastmed ``Compose`` (or any callable taking
        ``seed=``, ``index=``, ``epoch=`` keywords) gets the sample's keys; a MONAI or TorchIO
        transform is called with its randomness keyed by ``(seed, epoch, index)``
        (:class:`~fastmed.loader.integrations.SeededTransform`); another callable is called
        with the sample only. A MONAI dataset's own random transform is keyed the same way.
    seed
        Makes the order a function of ``(seed, epoch)`` and the augmentation of
        ``(seed, epoch, index)``: the same for any ``num_workers`` and after a resume.
        ``None``: torch's randomness (``generator`` or the global RNG).
    device
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``: batches are moved there (``None``: left as collated).
    samples_per_volume
        Patches (samples) drawn from each volume per epoch: one read of a volume's region
        serves them, and they are mixed with the patches of the other volumes of their
        group (``batch_size`` volumes, like TorchIO's Queue). ``len()`` counts samples.
        Sample ``s`` is patch ``s % k`` of volume ``s // k`` (errors name ``s``).
    queue_length
        With patches, the number of volumes whose patches are shuffled together (TorchIO's
        ``Queue`` with ``max_length = queue_length * samples_per_volume``): each volume's region
        is read once and held until its ``k`` patches are out, so up to about ``queue_length``
        regions are in memory. ``None``: ``batch_size`` volumes. The order stays a function of
        ``(seed, epoch)`` and every patch comes once per epoch.
    patch_sampler
        Where patches are cut (:class:`~fastmed.loader.patch_samplers.RandomPatchSampler`,
        :class:`~fastmed.loader.patch_samplers.LabelPatchSampler`); ``transform`` (a fastmed
        ``Compose`` or ``None``) then runs on the patch, and batches carry ``location``.
    on_error
        ``"raise"`` (a :class:`~fastmed.errors.LoaderError` naming the sample) or ``"skip"``.
    rank, world_size
        Shard every epoch across ranks (default: from ``torch.distributed`` if initialized).
    progress
        Show a progress bar per epoch: ``True`` / ``"tqdm"`` (tqdm) or ``"rich"`` (tqdm's rich bar).
    max_worker_restarts
        Worker deaths replaced per epoch before giving up with a LoaderError.
    fast
        The native fast path (:mod:`fastmed.loader.fast`: one ``Compose.batch`` call per batch
        in ``num_workers`` threads): ``None`` takes it when the items hold lazy volumes and
        ``transform`` is a fastmed ``Compose``; ``True`` forces it, ``False`` never.

    Examples
    --------
    >>> import torch
    >>> from fastmed import DataLoader
    >>> loader = DataLoader(list(range(10)), batch_size=4, shuffle=True, seed=0)
    >>> [b.tolist() for b in loader] == [b.tolist() for b in DataLoader(list(range(10)), 4, True, seed=0)]
    True
    """

    def __init__(
        self,
        dataset: Dataset[Any] | Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[Any], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: torch.Generator | None = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        transform: Callable[..., Any] | None = None,
        seed: int | None = None,
        device: str | torch.device | None = None,
        samples_per_volume: int = 1,
        queue_length: int | None = None,
        patch_sampler: object | None = None,
        on_error: str = "raise",
        rank: int | None = None,
        world_size: int | None = None,
        progress: bool | str = False,
        max_worker_restarts: int = 3,
        fast: bool | None = None,
    ):
        super().__init__(
            dataset,
            batch_size,
            shuffle,
            sampler,
            batch_sampler,
            num_workers,
            collate_fn,
            pin_memory,
            drop_last,
            timeout,
            worker_init_fn,
            multiprocessing_context,
            generator,
            prefetch_factor=prefetch_factor,
            persistent_workers=persistent_workers,
            pin_memory_device=pin_memory_device,
            in_order=in_order,
        )
        transform = adapt_transform(transform)
        opts = check_options(
            seed=seed,
            device=device,
            on_error=on_error,
            rank=rank,
            world_size=world_size,
            transform=transform,
            samples_per_volume=samples_per_volume,
            patch_sampler=patch_sampler,
            progress=progress,
            max_worker_restarts=max_worker_restarts,
        )
        self.is_iterable = self._dataset_kind == _DatasetKind.Iterable
        user_order = sampler is not None or batch_sampler is not None
        if (rank is not None or world_size is not None) and opts.world_size > 1 and (user_order or self.is_iterable):
            raise LoaderError(
                "rank=/world_size= shard fastmed's own order; with sampler=/batch_sampler= or an iterable "
                "dataset, shard in the sampler or the dataset instead"
            )
        self.options: Options = opts
        self.transform = transform
        self.seed = opts.seed
        default = generator if generator is not None else torch.default_generator
        self.augment_seed = opts.seed if opts.seed is not None else default.initial_seed() % 2**63
        self._order: EpochOrder | PatchOrder | None = None
        if not self.is_iterable and not user_order and (opts.seed is not None or opts.world_size > 1):
            self._order = EpochOrder(dataset, opts.seed or 0, bool(shuffle), opts.rank, opts.world_size)
        self._items: Any = dataset  # what the workers index: the dataset, or its patches
        patches = samples_per_volume != 1 or patch_sampler is not None
        from fastmed.loader.patches import check_queue_length

        queue = check_queue_length(queue_length, patches)
        if patches:
            from fastmed.loader.patches import setup_patches

            sampler_: Any = patch_sampler  # checked by check_options
            self._order, self.transform, self._items = setup_patches(
                self, sampler_, samples_per_volume, bool(shuffle), user_order, queue
            )
            self.options = replace(opts, keyed_transform=True)
        self.epoch = 0
        self.errors: list[SkippedSample] = []
        self._resume: Mapping[str, Any] | None = None
        self._inner: Any = None
        self._iterable_wrapper: Any = None
        self._plan: EpochPlan | None = None
        self._live: Progress | None = None
        self._epoch_rng: torch.Tensor | None = None
        self._recorder = StatsRecorder()
        self.fast = fast
        check_fast(self, fast)

    # ---- torch's surface -------------------------------------------------------

    def __len__(self) -> int:
        if self._order is None:
            return super().__len__()
        n = len(self._order)
        if not self._auto_collation:
            return n
        assert self.batch_size is not None
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> EpochIterator:  # type: ignore[override]
        resume, self._resume = self._resume, None
        self._epoch_rng = None
        if self._order is None:
            if resume is not None and resume.get("rng") is not None:
                self._set_rng(resume["rng"])
            self._epoch_rng = self._get_rng()
        if self.is_iterable:
            it = EpochIterator(self, None, int(resume["batches"]) if resume else 0)
        else:
            done = unpack_done(resume["done_prefix"], resume["done_extra"]) if resume else set()
            plan = EpochPlan(self._epoch_source(), self.epoch, self._auto_collation, done)
            it = EpochIterator(self, plan, len(done))
        self._live = it.progress
        return it

    # ---- fastmed's surface -----------------------------------------------------

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next ``iter()`` (order and augmentation keys); forwarded to a user sampler."""
        if epoch < 0:
            raise LoaderError(f"set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)
        if self._order is None:
            seen: list[Any] = []
            candidates: tuple[Any, ...] = (
                self.sampler,
                getattr(self.batch_sampler, "sampler", None),
                self.batch_sampler,
            )
            for s in candidates:
                if s is not None and hasattr(s, "set_epoch") and not any(s is t for t in seen):
                    s.set_epoch(epoch)
                    seen.append(s)

    @property
    def stats(self) -> LoaderStats:
        """Telemetry of the current (or last) epoch."""
        return self._recorder.snapshot()

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: enough for :meth:`load_state_dict` to resume mid-epoch exactly."""
        it = self._live
        state: dict[str, Any] = {
            "version": VERSION,
            "epoch": self.epoch,
            "seed": self.seed,
            "augment_seed": self.augment_seed,
            "rank": self.options.rank,
            "world_size": self.options.world_size,
            "done_prefix": 0,
            "done_extra": [],
            "batches": 0,
            "rng": None,
            "errors": [[e.index, e.epoch, e.reason] for e in self.errors],
        }
        if it is not None and not it.finished:
            state["epoch"] = it.epoch
            state["batches"] = it.delivered
            if it.plan is not None:
                state["done_prefix"], state["done_extra"] = pack_done(it.plan.done)
            state["rng"] = None if self._epoch_rng is None else self._epoch_rng.clone()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from :meth:`state_dict`: the next ``iter()`` delivers exactly the remaining batches."""
        check_state(state, self.seed, self.options.rank, self.options.world_size)
        if self.seed is None and state.get("augment_seed") is not None:
            self._adopt_seed(int(state["augment_seed"]))
        self.epoch = int(state["epoch"])
        self.errors = [SkippedSample(None if i is None else int(i), int(e), str(r)) for i, e, r in state["errors"]]
        started = int(state["batches"]) > 0 or int(state["done_prefix"]) > 0 or bool(state["done_extra"])
        self._resume = dict(state) if started else None
        self._live = None

    def _adopt_seed(self, seed: int) -> None:
        """Key augmentations (and a patch order) by the saved loader's effective seed (``seed=None`` resume).

        Without ``seed=`` they are keyed by torch's initial seed, which a new process may not
        share; the state carries the seed the saved run used.
        """
        if seed == self.augment_seed:
            return
        self.augment_seed = seed
        if isinstance(self._order, PatchOrder):
            self._order.seed = seed
            self._order._cache = None
        self._inner = self._iterable_wrapper = None  # its workers were given the old seed

    # ---- used by the iterator ----------------------------------------------------

    def _epoch_source(self) -> Iterable[Any]:
        if self._order is None:
            return self._index_sampler
        self._order.set_epoch(self.epoch)
        if not self._auto_collation:
            return self._order
        assert self.batch_size is not None
        return BatchSampler(self._order, self.batch_size, self.drop_last)

    def _get_rng(self) -> torch.Tensor:
        return self.generator.get_state() if self.generator is not None else torch.get_rng_state()

    def _set_rng(self, state: torch.Tensor) -> None:
        if self.generator is not None:
            self.generator.set_state(state)
        else:
            torch.set_rng_state(state)

    def _start_inner(self, plan: EpochPlan | None) -> Any:
        from fastmed.loader.inner import build_inner, start

        self._plan = plan
        fast = start_fast(self, plan)
        if fast is not None:
            return fast
        if self._inner is None:
            self._inner, self._iterable_wrapper = build_inner(self)
        if self._iterable_wrapper is not None:
            self._iterable_wrapper.epoch = self.epoch
        return start(self._inner)

    def _end_epoch(self, progress: Progress) -> None:
        if self._live is progress:
            self._live = None
            self.epoch = progress.epoch + 1
