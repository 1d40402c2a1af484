"""Test datasets and helpers for tests/loader (a module, so spawn workers can import them)."""

from __future__ import annotations

import os
import signal
import time
from collections import namedtuple
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

Pair = namedtuple("Pair", ["a", "b"])


class MixedDataset(Dataset):
    """Samples mixing dicts, tuples, namedtuples, strings, numbers, arrays and torch randomness."""

    def __init__(self, n: int = 11, random: bool = True):
        self.n = n
        self.random = random

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        info = get_worker_info()
        return {
            "i": i,
            "x": torch.full((2,), float(i)),
            "noise": torch.rand(2) if self.random else torch.zeros(2),
            "arr": np.arange(3, dtype=np.int16) + i,
            "name": f"s{i}",
            "pair": Pair(i, 0.5 * i),
            "tup": (i, "t"),
            "worker": -1 if info is None else info.id,
            "nworkers": 0 if info is None else info.num_workers,
            "wseed": 0 if info is None else info.seed,
            "wds": "" if info is None else type(info.dataset).__name__,
        }


class IndexDataset(Dataset):
    """Sample ``i`` is a dict with an image of value ``i`` (for keyed transforms) and its index."""

    def __init__(self, n: int = 12, shape: tuple[int, ...] = (1, 4, 4, 4)):
        self.n = n
        self.shape = shape

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": np.full(self.shape, float(i), np.float32), "i": i}


class RangeIterable(IterableDataset):
    """0..n-1, split between workers the way torch's docs show."""

    def __init__(self, n: int = 13):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        info = get_worker_info()
        lo, step = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(lo, self.n, step):
            yield {"i": i, "x": torch.tensor([i, i * i]), "noise": torch.rand(1), "name": f"s{i}"}


class FailingDataset(IndexDataset):
    """Raises ``ValueError`` on the indices in ``bad``."""

    def __init__(self, n: int = 12, bad: tuple[int, ...] = (5,)):
        super().__init__(n)
        self.bad = set(bad)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i in self.bad:
            raise ValueError(f"broken sample number {i}")
        return super().__getitem__(i)


class KillOnce(IndexDataset):
    """SIGKILLs the worker process serving ``index``, the first time only (marker file)."""

    def __init__(self, n: int, index: int, marker: str):
        super().__init__(n)
        self.index = index
        self.marker = marker

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i == self.index and get_worker_info() is not None and not os.path.exists(self.marker):
            Path(self.marker).write_text("killed")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(i)


class KillIterable(RangeIterable):
    """An iterable whose worker 0 kills itself at its second item."""

    def __iter__(self):
        info = get_worker_info()
        for k, item in enumerate(super().__iter__()):
            if info is not None and info.id == 0 and k == 1:
                os.kill(os.getpid(), signal.SIGKILL)
            yield item


class HangOnce(IndexDataset):
    """Sleeps ``seconds`` on ``index`` the first time (marker file)."""

    def __init__(self, n: int, index: int, marker: str, seconds: float):
        super().__init__(n)
        self.index = index
        self.marker = marker
        self.seconds = seconds

    def __getitem__(self, i: int) -> dict[str, Any]:
        if i == self.index and not os.path.exists(self.marker):
            Path(self.marker).write_text("hung")
            time.sleep(self.seconds)
        return super().__getitem__(i)


class SlowDataset(IndexDataset):
    """Sleeps ``seconds`` per sample."""

    def __init__(self, n: int, seconds: float):
        super().__init__(n)
        self.seconds = seconds

    def __getitem__(self, i: int) -> dict[str, Any]:
        time.sleep(self.seconds)
        return super().__getitem__(i)


class BigDataset(Dataset):
    """Samples of 64 KiB, for the memory test."""

    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.full((16384,), float(i))


class KeyedNoise:
    """A keyed transform in plain numpy: adds noise drawn from (seed, epoch, index)."""

    def __call__(self, sample: dict[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        rng = np.random.default_rng([seed, epoch, index])
        out = dict(sample)
        out["image"] = sample["image"] + rng.standard_normal(sample["image"].shape).astype(np.float32)
        return out


def record_worker(worker_id: int) -> None:
    """worker_init_fn: tags the worker's dataset (seen through get_worker_info) with its id."""
    info = get_worker_info()
    assert info is not None and info.id == worker_id
    info.dataset.tag = f"w{worker_id}"  # type: ignore[attr-defined]


class TaggedDataset(IndexDataset):
    """Returns the tag its worker_init_fn set on it."""

    tag = "main"

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"i": i, "tag": self.tag}


def to_py(data: Any) -> Any:
    """A batch as plain Python values (tensors and arrays keep dtype and shape), for exact comparison."""
    if isinstance(data, torch.Tensor):
        return ("tensor", str(data.dtype), tuple(data.shape), data.tolist())
    if isinstance(data, np.ndarray):
        return ("ndarray", str(data.dtype), data.shape, data.tolist())
    if isinstance(data, dict):
        return {k: to_py(v) for k, v in data.items()}
    if isinstance(data, tuple | list):
        return (type(data).__name__, [to_py(v) for v in data])
    return data


def indices(batches: list[dict[str, Any]]) -> list[int]:
    """Flattened ``"i"`` of dict batches."""
    return [int(v) for b in batches for v in b["i"]]


class BatchedDataset(FailingDataset):
    """Has ``__getitems__`` (batched fetch, as torch calls it), failing as a whole if one index is bad."""

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        return [self[i] for i in indices]
