"""Foreign transforms (MONAI, TorchIO, any callable) on the loader's worker path, keyed per sample.

fastmed's own ``Compose`` takes ``seed=``, ``index=`` and ``epoch=`` and needs nothing. Other
libraries keep their randomness in state: MONAI's ``Randomizable`` transforms in their own
``RandomState`` (``self.R``), TorchIO (and most torch code) in torch's global generator. In
worker processes that state is a per-worker copy, so which augmentation a sample gets would
depend on the worker that happens to fetch it. :class:`SeededTransform` removes that: before
each sample it derives a seed from ``(seed, epoch, index)`` (fastmed's keyed Philox stream) and

- calls ``set_random_state(seed=...)`` on a MONAI ``Randomizable`` (a MONAI ``Compose``
  passes derived seeds on to its random members);
- runs the call inside a saved-and-restored context where torch's CPU generator and numpy's
  global generator are seeded from the same key (TorchIO draws from torch's; the caller's
  global RNG state is unchanged afterwards). This is the one place in the package that
  touches a global RNG, on purpose and scoped (an allow-listed exception to the house rule):
  foreign code draws from them and cannot be given a keyed generator.

The augmentation of a sample is then the same for any ``num_workers``, after a resume, and
across runs. :func:`adapt_transform` wraps MONAI and TorchIO transforms automatically; a
callable from anywhere else is called plainly (``transform(sample)``), its randomness its own;
wrap it in ``SeededTransform`` yourself if it draws from the global RNGs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from fastmed.rng import KeyedRNG

FOREIGN_STREAM = 0x46524E  # a Philox stream of its own ("FRN"), apart from Compose's op positions
_MONAI = ("monai.",)
_TORCHIO = ("torchio.", "torchio")


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 64-bit seed for sample ``index`` of ``epoch``: a pure function of the three.

    Examples
    --------
    >>> sample_seed(0, 1, 7) == sample_seed(0, 1, 7) != sample_seed(0, 1, 8)
    True
    """
    w = KeyedRNG(seed, epoch, index & 0xFFFFFFFF, FOREIGN_STREAM).words(2)
    return (int(w[0]) << 32) | int(w[1])


def _library(transform: Any) -> str | None:
    module = type(transform).__module__ or ""
    if module.startswith(_MONAI):
        return "monai"
    if module.startswith(_TORCHIO):
        return "torchio"
    return None


@contextmanager
def seeded_globals(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator and numpy's global RNG for a foreign call; restore both afterwards."""
    np_state = np.random.get_state()  # noqa: NPY002  (foreign code draws from the global RNG)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed & 0xFFFFFFFF)  # noqa: NPY002
        try:
            yield
        finally:
            np.random.set_state(np_state)  # noqa: NPY002


class SeededTransform:
    """Call a stateful-random transform with its randomness keyed by ``(seed, epoch, index)``.

    Parameters
    ----------
    transform
        Any callable taking one sample. If it has ``set_random_state`` (MONAI's
        ``Randomizable``), that is called with a derived 32-bit seed before every sample.
    globals_
        Also seed (and afterwards restore) torch's and numpy's global RNGs around the call
        (TorchIO, batchgenerators and plain torch code draw from them).

    Examples
    --------
    >>> import torch
    >>> noise = SeededTransform(lambda x: x + torch.rand(()))
    >>> bool(noise(torch.zeros(()), seed=0, index=3, epoch=0) == noise(torch.zeros(()), seed=0, index=3, epoch=0))
    True
    """

    def __init__(self, transform: Callable[[Any], Any], globals_: bool = True):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform
        self.globals_ = globals_

    def __repr__(self) -> str:
        return f"SeededTransform({self.transform!r})"

    def __call__(self, sample: Any, *, seed: int, index: int, epoch: int) -> Any:
        """The transformed sample; its random draws depend only on ``(seed, epoch, index)``."""
        key = sample_seed(seed, epoch, index)
        set_state = getattr(self.transform, "set_random_state", None)
        if callable(set_state):
            set_state(seed=key & 0xFFFFFFFF)
        if not self.globals_:
            return self.transform(sample)
        with seeded_globals(key):
            return self.transform(sample)


def adapt_transform(transform: Callable[..., Any] | None) -> Callable[..., Any] | None:
    """The transform the loader calls: MONAI and TorchIO transforms wrapped in :class:`SeededTransform`.

    Everything else (fastmed's ``Compose``, callables taking ``seed``/``index``/``epoch``,
    plain callables, ``None``) is returned unchanged.
    """
    if transform is None or isinstance(transform, SeededTransform):
        return transform
    if _library(transform) is not None:
        return SeededTransform(transform)
    return transform


class DatasetSeeder:
    """Re-seed a MONAI dataset's random transform before each sample it produces.

    MONAI's ``Dataset``/``CacheDataset``/``PersistentDataset`` run their random transforms
    inside ``__getitem__`` with the transform's own ``RandomState``; MONAI's DataLoader
    seeds it once per worker (``worker_init_fn``), so the result depends on the worker.
    fm.DataLoader with ``seed=`` instead calls ``dataset.transform.set_random_state`` with
    the sample's key before every fetch: per-sample, worker-independent augmentation.
    """

    def __init__(self, dataset: Any, seed: int):
        self.dataset = dataset
        self.seed = seed

    def __call__(self, index: int, epoch: int) -> None:
        """Key the dataset's transform to sample ``index`` of ``epoch``."""
        set_state = self.dataset.transform.set_random_state
        set_state(seed=sample_seed(self.seed, epoch, index) & 0xFFFFFFFF)


def dataset_seeder(dataset: Any, seed: int | None) -> DatasetSeeder | None:
    """A :class:`DatasetSeeder` for a MONAI dataset with a ``Randomizable`` transform (when ``seed`` is set)."""
    if seed is None or not (type(dataset).__module__ or "").startswith(_MONAI):
        return None
    transform = getattr(dataset, "transform", None)
    if transform is None or not callable(getattr(transform, "set_random_state", None)):
        return None
    return DatasetSeeder(dataset, seed)
