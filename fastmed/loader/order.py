"""The sample order of an epoch: a pure function of (seed, epoch, rank, world_size).

It follows :class:`torch.utils.data.distributed.DistributedSampler` (``drop_last=False``)
exactly, so that sampler is the oracle: the permutation is ``torch.randperm(n)`` from a
generator seeded with ``seed + epoch``; it is padded by repeating its head up to
``world_size * ceil(n / world_size)`` entries, and rank ``r`` takes every
``world_size``-th entry from ``r``. Every sample is seen once per epoch across ranks,
plus at most ``world_size - 1`` padding repeats so that every rank gets the same
number of samples (hence batches). Workers play no part: the order is fixed in the
main process before any worker sees an index.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import Sampler


class EpochOrder(Sampler[int]):
    """Indices of one rank's share of an epoch, keyed by (seed, epoch).

    Parameters
    ----------
    data_source
        The map-style dataset (only its length is used).
    seed
        Order seed.
    shuffle
        Permute (``True``) or keep dataset order (``False``).
    rank, world_size
        This rank's shard.
    """

    def __init__(self, data_source: Sized | Any, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1):
        self.data_source = data_source
        self.seed = int(seed)
        self.shuffle = bool(shuffle)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order :meth:`__iter__` yields."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.data_source) / self.world_size)

    def indices(self) -> list[int]:
        """Indices of this rank for the current epoch, in order."""
        n = len(self.data_source)
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + self.epoch)
            order: list[int] = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        total = len(self) * self.world_size
        if n and total > n:
            order += (order * math.ceil((total - n) / n))[: total - n]
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())
