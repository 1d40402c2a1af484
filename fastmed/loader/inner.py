"""The torch DataLoader that runs fastmed's keyed wrappers on torch's own worker machinery.

torch keeps doing what it is the oracle for (worker processes and their seeds,
``worker_init_fn``, prefetching, ``timeout``, ``in_order``, pinning, its watchdog and
SIGCHLD handler); fastmed decides which keys it runs and what a failure means.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader as TorchDataLoader
from torch.utils.data._utils import signal_handling

from fastmed.loader.integrations.foreign import dataset_seeder
from fastmed.loader.keyed import Augment, Collate, KeyedIterable, KeyedMap
from fastmed.loader.plan import PlanSampler

if TYPE_CHECKING:
    from fastmed.loader.dataloader import DataLoader


class WorkerInit:
    """Show the user's dataset (not fastmed's wrapper) in ``get_worker_info()``, then run their init."""

    def __init__(self, fn: Callable[[int], None] | None):
        self.fn = fn

    def __call__(self, worker_id: int) -> None:
        """Run in each worker before its first fetch."""
        from torch.utils.data._utils import worker

        info = worker._worker_info
        if info is not None and isinstance(info.dataset, KeyedMap | KeyedIterable):
            shown = copy.copy(info)
            object.__setattr__(shown, "dataset", info.dataset.dataset)
            worker._worker_info = shown
        if self.fn is not None:
            self.fn(worker_id)


def start(inner: TorchDataLoader[Any]) -> Any:
    """``iter(inner)``, with its workers taken off torch's SIGCHLD handler until :func:`pull` waits.

    torch's handler raises in the main thread wherever it happens to be, usually inside
    the user's training step, where nothing can replace the worker. :func:`pull`
    registers the workers only while it waits for a batch, so a death raises inside
    ``next()``, where the loader replaces the worker.
    """
    it = iter(inner)
    if getattr(it, "_worker_pids_set", False):
        signal_handling._remove_worker_pids(id(it))
        it._worker_pids_set = False  # type: ignore[attr-defined]
    return it


def pull(it: Any) -> Any:
    """``next(it)``: a worker found dead before or during the wait raises torch's RuntimeError."""
    workers = getattr(it, "_workers", None)
    if not workers or getattr(it, "_shutdown", False):
        return next(it)
    dead = [w.pid for i, w in enumerate(workers) if it._workers_status[i] and not w.is_alive()]
    if dead:
        raise RuntimeError(f"DataLoader worker (pid(s) {', '.join(map(str, dead))}) exited unexpectedly")
    signal_handling._set_worker_pids(id(it), tuple(w.pid for w in workers))
    try:
        return next(it)
    finally:
        signal_handling._remove_worker_pids(id(it))


def build_inner(loader: DataLoader) -> tuple[TorchDataLoader[Any], KeyedIterable | None]:
    """The inner torch loader for ``loader`` (and the iterable wrapper whose epoch to set)."""
    augment = Augment(loader.transform, loader.options.keyed_transform, loader.augment_seed)
    common: dict[str, Any] = {
        "num_workers": loader.num_workers,
        "collate_fn": Collate(loader.collate_fn, loader._auto_collation, loader.options.on_error),
        "pin_memory": loader.pin_memory,
        "timeout": loader.timeout,
        "worker_init_fn": WorkerInit(loader.worker_init_fn),
        "multiprocessing_context": loader.multiprocessing_context,
        "generator": loader.generator,
        "prefetch_factor": loader.prefetch_factor,
        "persistent_workers": loader.persistent_workers,
        "pin_memory_device": loader.pin_memory_device,
        "in_order": loader.in_order,
    }
    if loader.is_iterable:
        wrapped = KeyedIterable(loader.dataset, augment)
        inner = TorchDataLoader(wrapped, batch_size=loader.batch_size, drop_last=loader.drop_last, **common)
        return inner, wrapped
    keyed = KeyedMap(loader._items, augment, dataset_seeder(loader.dataset, loader.augment_seed))
    if loader._auto_collation:
        return TorchDataLoader(keyed, batch_sampler=PlanSampler(loader), **common), None
    return TorchDataLoader(keyed, batch_size=None, sampler=PlanSampler(loader), **common), None
