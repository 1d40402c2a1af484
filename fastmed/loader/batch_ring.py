"""The fast path's reused batch tensors: a ring of slots the fused kernel writes each batch into.

A slot is reused only when nothing outside the ring holds its tensors (no Python reference, no
view), so a batch the consumer keeps is never overwritten; see :mod:`fastmed.loader.fast`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch


def _torch_dtype(a: Any) -> torch.dtype:
    if isinstance(a, torch.Tensor):
        return a.dtype
    return torch.from_numpy(np.empty(0, dtype=np.asarray(a).dtype)).dtype


def pinnable() -> bool:
    """Whether batch tensors can be pinned (a CUDA device exists)."""
    return torch.cuda.is_available()


class Ring:
    """Reused batch tensors: ``size`` slots, each a dict key -> tensor ``(batch_size, *shape)``.

    The shapes and dtypes are learned from the first batch. A slot is handed to a batch only
    when nothing outside the ring references its tensors; otherwise it gets fresh ones.
    """

    def __init__(self, size: int, batch_size: int, pin: bool):
        self.size = size
        self.batch_size = batch_size
        self.pin = pin
        self.spec: dict[str, tuple[tuple[int, ...], torch.dtype]] | None = None
        self.slots: list[dict[str, torch.Tensor]] = [{} for _ in range(size)]
        self.events: list[Any] = [None] * size
        self.kept: list[Any] = [None] * size  # each slot's last collated extras (see :meth:`keep`)
        self.allocations = 0
        self.turn = 0  # the next slot to hand out, across epochs (the consumer may still hold the last batch)
        self.lock = threading.Lock()

    def next_slot(self) -> int:
        """The slot for the next batch (round robin; called in delivery order)."""
        slot = self.turn % self.size
        self.turn += 1
        return slot

    def learn(self, outs: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        """Take shapes and dtypes from a batch's per-sample outputs (keys present and equal-shaped in all)."""
        with self.lock:
            if self.spec is not None:
                return
            spec: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
            for k in keys:
                vals = [o.get(k) for o in outs]
                if not all(isinstance(v, np.ndarray | torch.Tensor) for v in vals):
                    continue
                assert all(v is not None for v in vals)
                shapes = {tuple(v.shape) for v in vals}  # type: ignore[union-attr]
                dtypes = {_torch_dtype(v) for v in vals}
                if len(shapes) == 1 and len(dtypes) == 1:
                    spec[k] = (shapes.pop(), dtypes.pop())
            self.spec = spec

    def _alloc(self, key: str) -> torch.Tensor:
        assert self.spec is not None
        shape, dtype = self.spec[key]
        self.allocations += 1
        return torch.empty((self.batch_size, *shape), dtype=dtype, pin_memory=self.pin)

    def take(self, slot: int, n: int) -> dict[str, torch.Tensor] | None:
        """The slot's tensors for a batch of ``n`` (fresh ones where the old are in use); ``None`` if unlearned."""
        with self.lock:
            if not self.spec:
                return None
            bufs = self.slots[slot]
            event, self.events[slot] = self.events[slot], None
            if event is not None:
                event.synchronize()  # a non_blocking device copy from this slot has finished
            for key in self.spec:
                t = bufs.get(key)
                # refs: the dict entry, ``t`` and getrefcount's argument; _use_count > 1: a view of it is alive
                if t is None or sys.getrefcount(t) > 3 or t._use_count() > 1:  # type: ignore[attr-defined]
                    bufs[key] = self._alloc(key)
            return {k: (v if n == self.batch_size else v[:n]) for k, v in bufs.items()}

    def keep(self, slot: int, extras: Any) -> None:
        """Hold a batch's collated extras (small tensors) until the slot's next batch replaces them.

        So the consumer dropping a batch frees none of its tensors: freeing a tensor may hand the GIL to a
        loader thread in the middle of ``next()``. They are freed here, in the loader thread, one round later.
        """
        with self.lock:
            old, self.kept[slot] = self.kept[slot], extras
        del old

    def record(self, slot: int, event: Any) -> None:
        """Note a device copy out of ``slot`` (waited for before the slot is written again)."""
        with self.lock:
            self.events[slot] = event
