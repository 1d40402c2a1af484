"""The fast path of :class:`fastmed.DataLoader`: one native ``Compose.batch`` call per batch, in threads.

Taken when the dataset's items hold :class:`~fastmed.volume_source.LazyVolume` images (a
:class:`~fastmed.VolumeDataset`, possibly inside ``Subset``) and ``transform=`` is a fastmed
``Compose`` with the default ``collate_fn`` (or always with ``fast=True``). Per batch, a
Python thread (the native code releases the GIL):

1. takes the epoch plan's keys ``(batch_id, epoch, index)`` (the same
   :class:`~fastmed.loader.plan.EpochPlan` as the worker path: order, resume and the
   delivered-batch books are shared, not forked);
2. gets the items (cheap handles: no voxels read);
3. calls ``Compose.batch(items, seed, indices, epoch, out=...)``: each sample's footprint
   window is read and the fused kernel writes it straight into its slot of a batch tensor
   taken from a :class:`Ring` (pinned when ``pin_memory`` and CUDA exist);
4. collates the other keys with ``collate_fn`` (torch's ``default_collate``).

``num_workers`` is the number of threads (0: each batch is made in ``next()``); up to
``prefetch_factor * num_workers`` batches are in flight, delivered in order. The queue stays
full across epoch boundaries: once an epoch's last batches are issued, the threads start the
next epoch's first batches (its order is a function of (seed, epoch)), and the next ``iter()``
adopts them, with the same threads, only where its plan issues exactly the same keys (anything
else, e.g. ``set_epoch`` to another epoch or a resume, discards them). So the consumer does not
wait for a pipeline warm-up at each epoch start, and the batches are unchanged. The batches
equal the worker path's bit for bit (the same keys, and ``Compose.batch`` sample k equals
``Compose(sample_k, seed, index_k, epoch)``). A failing batch is redone sample by sample,
so a failure is attributed to its sample exactly as on the worker path.

Buffer safety: a ring slot is reused only when nothing outside the ring holds its tensor
(no Python reference, no view); a batch the consumer keeps makes the slot allocate a fresh
tensor. So yielded batches are never overwritten, and a usual training loop (which drops
each batch before asking for the one after next) runs without allocating. The ring also holds
each slot's last collated extras (labels, masks, ...) until the slot's next batch: the consumer
dropping a batch frees no tensor (freeing one may hand the GIL to a loader thread inside
``next()``); they are freed in the loader thread.
"""

from __future__ import annotations

import copy
import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import BatchSampler, Subset
from torch.utils.data._utils.collate import default_collate

from fastmed.errors import LoaderError
from fastmed.loader.batch_ring import Ring, pinnable
from fastmed.loader.keyed import Batch, Failed, describe, keep_replay
from fastmed.loader.plan import EpochPlan
from fastmed.loader.tree import to_device

if TYPE_CHECKING:
    from fastmed.loader.dataloader import DataLoader


def _is_compose(transform: Any) -> bool:
    from fastmed.transforms.compose import Compose

    return isinstance(transform, Compose)


def static_reason(loader: DataLoader) -> str | None:
    """Why ``loader``'s arguments rule the fast path out (``None``: they allow it)."""
    if loader.is_iterable:
        return "the dataset is iterable (the fast path needs a map-style dataset)"
    if not loader._auto_collation:
        return "batch_size=None (the fast path makes batches)"
    if not _is_compose(loader.transform):
        return "transform= is not a fastmed Compose"
    if loader.collate_fn is not default_collate:
        return "a custom collate_fn is given"
    return None


def _lazy_items(dataset: Any) -> bool:
    """Whether the dataset's items hold lazy images (checked on the first item, without reading voxels)."""
    from fastmed.store.dataset import VolumeDataset
    from fastmed.transforms.sample_access import is_lazy

    inner = dataset
    while isinstance(inner, Subset):
        inner = inner.dataset
    if isinstance(inner, VolumeDataset):
        return inner.transform is None
    try:
        if len(dataset) == 0:
            return False
        item = dataset[0]
    except Exception:
        return False
    return isinstance(item, Mapping) and is_lazy(item.get("image"))


def check_fast(loader: DataLoader, fast: bool | None) -> None:
    """Validate ``fast=`` at construction: ``True`` on a loader the fast path cannot run is a LoaderError."""
    if fast is None or fast is False:
        return
    reason = static_reason(loader)
    if reason is not None:
        raise LoaderError(f"fast=True: the fast path cannot run because {reason}")


def use_fast(loader: DataLoader) -> bool:
    """Whether ``loader`` iterates on the fast path (decided once, on the first ``iter()``)."""
    chosen = getattr(loader, "_fast_chosen", None)
    if chosen is None:
        fast = getattr(loader, "fast", None)
        if fast is False or static_reason(loader) is not None:
            chosen = False
        elif fast is True:
            chosen = True
        else:  # automatic: lazy items, and nothing asking for worker processes
            chosen = (
                loader.multiprocessing_context is None and loader.worker_init_fn is None and _lazy_items(loader.dataset)
            )
        loader._fast_chosen = chosen
    return bool(chosen)


def background_thread() -> None:
    """Put the calling loader thread in Linux's ``SCHED_BATCH`` class (elsewhere, or if refused: nothing).

    A batch-class thread woken up (a job submitted in ``next()``) does not preempt the running
    thread: on a busy machine the training thread otherwise loses its CPU at each submit and
    waits in the run queue. Its share of CPU (nice value) is unchanged.
    """
    setter = getattr(os, "sched_setscheduler", None)
    policy = getattr(os, "SCHED_BATCH", None)
    if setter is None or policy is None or os.environ.get("FASTMED_LOADER_SCHED_BATCH", "1") == "0":
        return
    try:
        setter(threading.get_native_id(), policy, os.sched_param(0))
    except OSError:  # not permitted (seccomp, a container's policy): keep the default class
        pass


def _ring(loader: DataLoader, depth: int) -> Ring:
    ring: Ring | None = getattr(loader, "_fast_ring", None)
    if ring is None or ring.size != depth + 2:
        assert loader.batch_size is not None
        ring = Ring(depth + 2, loader.batch_size, bool(loader.pin_memory) and pinnable())
        loader._fast_ring = ring
    return ring


class BatchJob:
    """Makes one batch from its keys (run in a pool thread, or inline with ``num_workers=0``)."""

    def __init__(self, loader: DataLoader, ring: Ring):
        self.dataset = loader._items  # the dataset, or its patches (patch_sampler= / samples_per_volume=)
        self.compose = loader.transform
        self.seed = loader.augment_seed
        self.on_error = loader.options.on_error
        self.collate_fn: Callable[[Any], Any] = keep_replay(loader.collate_fn)
        self.ring = ring
        self.keys = (*self.compose.image_keys, *self.compose.label_keys)  # type: ignore[union-attr]

    def __call__(self, keys: Sequence[tuple[int, int, int]], slot: int) -> Batch:
        """The :class:`Batch` of ``keys``, written into ring slot ``slot``."""
        bid, epoch = (keys[0][0], keys[0][1]) if keys else (-1, 0)
        items: list[Any] = []
        indices: list[int] = []
        failures: list[tuple[int, Failed]] = []
        for pos, (_, _, index) in enumerate(keys):
            try:
                items.append(self.dataset[index])
                indices.append(index)
            except Exception as exc:
                failures.append((pos, Failed(index, epoch, describe(exc), exc)))
        if failures and self.on_error == "raise":
            return Batch(bid, None, [f for _, f in failures], 0)
        if not items:
            return Batch(bid, None, [f for _, f in failures], 0)
        try:
            data = self._fused(items, indices, epoch, slot)
        except Exception:  # find the failing sample(s) one by one, as the worker path would
            return self._one_by_one(bid, epoch, keys, failures)
        return Batch(bid, data, [f for _, f in failures], len(items))

    def _fused(self, items: list[Any], indices: list[int], epoch: int, slot: int) -> Any:
        out = self.ring.take(slot, len(items))
        assert self.compose is not None
        outs = self.compose.batch(items, seed=self.seed, indices=indices, epoch=epoch, out=out)  # type: ignore[attr-defined]
        assert isinstance(outs, list)
        if out is None:  # first batch: learn the shapes, copy into the ring once
            self.ring.learn(outs, self.keys)
            out = self.ring.take(slot, len(items))
            if out is None:
                return self.collate_fn(outs)
            for k, buf in out.items():
                for pos, o in enumerate(outs):
                    buf[pos].copy_(torch.as_tensor(o[k]))
        return self._collate(outs, out, slot)

    def _collate(self, outs: list[dict[str, Any]], out: Mapping[str, torch.Tensor], slot: int) -> Any:
        rest = self.collate_fn([{k: v for k, v in o.items() if k not in out} for o in outs])
        if self.ring.pin:
            from torch.utils.data._utils.pin_memory import pin_memory

            rest = pin_memory(rest)
        self.ring.keep(slot, rest)
        return {k: out[k] if k in out else rest[k] for k in outs[0]}

    def _one_by_one(
        self, bid: int, epoch: int, keys: Sequence[tuple[int, int, int]], fetch_failed: list[tuple[int, Failed]]
    ) -> Batch:
        failed = dict(fetch_failed)
        outs: list[Any] = []
        indices: list[int] = []
        for pos, (_, _, index) in enumerate(keys):
            if pos in failed:
                continue
            try:
                item = self.dataset[index]
                outs.append(self.compose(item, seed=self.seed, index=index, epoch=epoch))  # type: ignore[misc]
                indices.append(index)
            except Exception as exc:
                failed[pos] = Failed(index, epoch, describe(exc), exc)
        failures = [failed[p] for p in sorted(failed)]
        if not outs or (failures and self.on_error == "raise"):
            return Batch(bid, None, failures, 0)
        try:
            data = self.collate_fn(outs)
        except Exception as exc:
            reason = "collate_fn: " + describe(exc)
            return Batch(bid, None, failures + [Failed(i, epoch, reason, exc) for i in indices], 0)
        return Batch(bid, data, failures, len(outs))


class FastIterator:
    """The inner iterator of the fast path: batches of the epoch plan, in order, from a thread pool."""

    def __init__(self, loader: DataLoader, plan: EpochPlan):
        self.loader = loader
        self.workers = int(loader.num_workers)
        self.depth = (loader.prefetch_factor or 2) * self.workers
        self.ring = _ring(loader, self.depth)
        self.epoch = plan.epoch
        self.keys: Iterator[Any] = plan.keys()
        self.pool: ThreadPoolExecutor | None = None
        self.pending: deque[tuple[Future[Batch], int]] = deque()
        self.ahead: Ahead | None = None  # the next epoch's first batches, started once this epoch's are issued
        self.exhausted = False
        carry: Carry | None = getattr(loader, "_fast_carry", None)
        loader._fast_carry = None
        if carry is not None and carry.fits(self):
            self._adopt(carry)  # its threads and its job
        else:
            if carry is not None:
                carry.close()
            self.job = BatchJob(loader, self.ring)
        if self.pool is None and self.workers > 0:
            self.pool = ThreadPoolExecutor(self.workers, "fastmed-loader", initializer=background_thread)
        self.threaded = self.pool is not None
        device = loader.options.device
        self.device = torch.device(device) if device is not None else None

    def _adopt(self, carry: Carry) -> None:
        """Take over the carry's threads, and its batches while they match this plan's keys (in order)."""
        self.pool, carry.pool = carry.pool, None
        self.job = carry.job
        while carry.pending:
            want, fut, slot = carry.pending[0]
            keys = next(self.keys, None)
            if keys != want:
                if keys is not None:
                    self.keys = itertools.chain([keys], self.keys)
                break
            carry.pending.popleft()
            self.pending.append((fut, slot))
        carry.close()  # cancels what did not match

    def __iter__(self) -> FastIterator:
        return self

    def _fill(self) -> None:
        while self.pool is not None and not self.exhausted and len(self.pending) < self.depth:
            keys = next(self.keys, None)
            if keys is None:
                self.exhausted = True
                self.ahead = Ahead.start(self.loader, self.epoch + 1)
                break
            slot = self.ring.next_slot()
            self.pending.append((self.pool.submit(self.job, keys, slot), slot))
        ahead = self.ahead
        while self.pool is not None and ahead is not None and len(self.pending) + len(ahead.pending) < self.depth:
            keys = next(ahead.keys, None)
            if keys is None:
                break
            slot = self.ring.next_slot()
            ahead.pending.append((keys, self.pool.submit(self.job, keys, slot), slot))

    def _hand_over(self) -> None:
        """At the epoch's end: park the threads and the next epoch's started batches on the loader."""
        if self.pool is not None and self.ahead is not None and self.ahead.pending:
            self.loader._fast_carry = Carry(self, self.ahead.pending)
            self.pool, self.ahead = None, None
            self.exhausted = True
        else:
            self._shutdown_workers()

    def __next__(self) -> Batch:
        if not self.threaded:
            keys = next(self.keys)
            slot = self.ring.next_slot()
            return self._deliver(self.job(keys, slot), slot)
        self._fill()
        if not self.pending:
            self._hand_over()
            raise StopIteration
        fut, slot = self.pending.popleft()
        timeout = self.loader.timeout
        try:
            batch = fut.result(timeout=timeout if timeout > 0 else None)
        except FutureTimeout:
            raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None
        self._fill()
        return self._deliver(batch, slot)

    def _deliver(self, batch: Batch, slot: int) -> Batch:
        if self.device is not None and self.device.type == "cuda" and batch.data is not None:
            batch.data = to_device(batch.data, self.device, non_blocking=bool(self.loader.pin_memory))
            event = torch.cuda.Event()
            event.record()
            self.ring.record(slot, event)
        return batch

    def _shutdown_workers(self) -> None:
        """Stop the threads (batches in flight are dropped)."""
        for fut, _ in self.pending:
            fut.cancel()
        self.pending.clear()
        if self.ahead is not None:
            for _, fut, _ in self.ahead.pending:
                fut.cancel()
            self.ahead = None
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
            self.exhausted = True

    def __del__(self) -> None:
        pool = getattr(self, "pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class Ahead:
    """The next epoch's keys (a forecast from a copy of the loader's order) and the batches started for them."""

    def __init__(self, keys: Iterator[Any]):
        self.keys = keys
        self.pending: deque[tuple[Any, Future[Batch], int]] = deque()

    @staticmethod
    def start(loader: DataLoader, epoch: int) -> Ahead | None:
        """The forecast for ``epoch`` (``None`` unless the order is a plain :class:`EpochOrder` of whole samples).

        Patch orders (``patch_sampler=`` / ``samples_per_volume=``) are left out: their groups share one footprint
        read, which batches of two epochs in flight at once would split.
        """
        from fastmed.loader.order import EpochOrder

        order = loader._order
        if type(order) is not EpochOrder or loader.batch_size is None or not loader._auto_collation:
            return None
        nxt = copy.copy(order)  # the loader's own order keeps its epoch (its plan may still be read)
        nxt.set_epoch(epoch)
        source = BatchSampler(nxt, loader.batch_size, bool(loader.drop_last))
        return Ahead(EpochPlan(source, epoch, True).keys())


class Carry:
    """Threads and started batches handed from one epoch's :class:`FastIterator` to the next one."""

    def __init__(self, it: FastIterator, pending: deque[tuple[Any, Future[Batch], int]]):
        self.pool = it.pool
        self.job = it.job
        self.ring = it.ring
        self.depth = it.depth
        self.workers = it.workers
        self.collate_fn = it.loader.collate_fn
        self.pending = pending

    def fits(self, it: FastIterator) -> bool:
        """Whether ``it`` makes its batches exactly as the carried ones were made (same job, ring, threads)."""
        loader, job = it.loader, self.job
        return (
            self.pool is not None
            and self.ring is it.ring
            and (self.depth, self.workers) == (it.depth, it.workers)
            and job.dataset is loader._items
            and job.compose is loader.transform
            and job.seed == loader.augment_seed
            and job.on_error == loader.options.on_error
            and self.collate_fn is loader.collate_fn
        )

    def close(self) -> None:
        """Cancel the batches not taken and stop the threads if they were not taken either."""
        for _, fut, _ in self.pending:
            fut.cancel()
        self.pending.clear()
        pool, self.pool = self.pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def __del__(self) -> None:
        self.close()


def start_fast(loader: DataLoader, plan: EpochPlan | None) -> FastIterator | None:
    """The fast path's iterator for ``plan``, or ``None`` when the loader takes the worker path."""
    if plan is None or not use_fast(loader):
        return None
    return FastIterator(loader, plan)
