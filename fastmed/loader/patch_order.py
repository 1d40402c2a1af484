"""The sample order with patches: ``samples_per_volume`` patches per volume, mixed across volumes like TorchIO's Queue.

Sample ``s = volume * k + j`` is patch ``j`` of ``volume`` (``k = samples_per_volume``).
An epoch's order is a pure function of ``(seed, epoch, rank, world_size)``:

1. the volumes in :class:`~fastmed.loader.order.EpochOrder`'s order (permuted with
   ``shuffle``, sharded across ranks);
2. cut into groups of ``group`` consecutive volumes (the queue: the loader's ``queue_length``,
   ``batch_size`` volumes by default);
3. each group's ``group * k`` patches, permuted by a generator keyed by
   ``(seed, epoch, group number)`` with ``shuffle`` (kept volume-major without);
4. the groups' patches one after the other, cut into batches.

So a batch mixes patches of several volumes, and all patches of a volume come within
one group: a volume's region is read once and serves its ``k`` patches while the queue
holds it. Batch positions (which samples a :class:`~fastmed.loader.patch_samplers.LabelPatchSampler`
forces onto foreground) follow from the order, so they are the same on every worker.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from fastmed.loader.order import EpochOrder
from fastmed.rng import KeyedRNG

ORDER_STREAM = 0x7FFF0002
"""RNG stream of the in-group permutations."""


class PatchOrder(Sampler[int]):
    """Sample indices ``volume * k + j`` of one rank's share of an epoch, keyed by (seed, epoch).

    Parameters
    ----------
    volumes
        Number of volumes in the dataset.
    k
        Patches per volume (``samples_per_volume``).
    seed
        Order seed.
    shuffle
        Permute the volumes and each group's patches.
    rank, world_size
        This rank's shard of the volumes.
    batch_size
        Batch size (batch positions and the default group).
    group
        Volumes per group (the queue, ``fm.DataLoader(queue_length=)``); ``None``: ``batch_size``.
    """

    def __init__(
        self,
        volumes: int,
        k: int,
        seed: int,
        shuffle: bool,
        rank: int = 0,
        world_size: int = 1,
        batch_size: int = 1,
        group: int | None = None,
    ):
        self.volumes = int(volumes)
        self.k = int(k)
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.batch_size = max(1, int(batch_size))
        self.group = max(1, int(group if group is not None else self.batch_size))
        self.epoch = 0
        self._cache: tuple[int, list[int], dict[int, tuple[int, int]]] | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_lock"] = None
        state["_cache"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    def volume_order(self, epoch: int) -> list[int]:
        """The volumes of ``epoch`` on this rank, in order (EpochOrder's)."""
        order = EpochOrder(range(self.volumes), self.seed, self.shuffle, self.rank, self.world_size)
        order.set_epoch(epoch)
        return order.indices()

    def __len__(self) -> int:
        return len(EpochOrder(range(self.volumes), self.seed, self.shuffle, self.rank, self.world_size)) * self.k

    def _build(self, epoch: int) -> tuple[list[int], dict[int, tuple[int, int]]]:
        vols = self.volume_order(epoch)
        out: list[int] = []
        for number, g0 in enumerate(range(0, len(vols), self.group)):
            patches = [v * self.k + j for v in vols[g0 : g0 + self.group] for j in range(self.k)]
            if self.shuffle and len(patches) > 1:
                words = KeyedRNG(self.seed, epoch, number, ORDER_STREAM).words(2)
                g = torch.Generator()
                g.manual_seed((int(words[0]) << 31) ^ int(words[1]))
                patches = [patches[i] for i in torch.randperm(len(patches), generator=g).tolist()]
            out.extend(patches)
        positions: dict[int, tuple[int, int]] = {}
        for b0 in range(0, len(out), self.batch_size):
            chunk = out[b0 : b0 + self.batch_size]
            for pos, s in enumerate(chunk):
                positions[s] = (pos, len(chunk))
        return out, positions

    def _epoch(self, epoch: int) -> tuple[list[int], dict[int, tuple[int, int]]]:
        with self._lock:
            cached = self._cache
            if cached is None or cached[0] != epoch:
                order, positions = self._build(epoch)
                self._cache = cached = (epoch, order, positions)
            return cached[1], cached[2]

    def indices(self, epoch: int | None = None) -> list[int]:
        """The sample indices of ``epoch`` (default: the current one), in order."""
        return list(self._epoch(self.epoch if epoch is None else int(epoch))[0])

    def position(self, epoch: int, sample: int) -> tuple[int, int] | None:
        """``(position in its batch, batch length)`` of ``sample`` in ``epoch``; ``None`` if not in it."""
        return self._epoch(int(epoch))[1].get(int(sample))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())
