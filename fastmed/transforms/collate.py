"""Collation of a batch's non-image values the way ``torch.utils.data.default_collate`` does.

With torch installed the result equals ``default_collate`` on the same values: Python ints
and bools become an int64 / bool tensor, floats a float64 tensor, numpy scalars and arrays
(and tensors) are stacked into one tensor, strings and bytes stay a list, mappings collate
per key, sequences (tuples, lists) are transposed into a list of collated columns.

Without torch the same rules give numpy arrays (``np.asarray`` of the numbers: int64,
float64, bool; ``np.stack`` of arrays). Two differences from ``default_collate``, both for
values it refuses with an error: ``None`` and other objects are kept as a list, and arrays
whose shapes differ (or sequences whose lengths differ) are kept as a list.

:class:`KeepReplay` wraps a ``collate_fn`` (``fastmed.DataLoader`` wraps torch's
``default_collate`` with it): a Compose's replay record (``params``) stays a list of
per-sample records, as ``Compose.batch(stack=True)`` keeps it. Collating the records
themselves fails whenever their shapes differ across samples (``RandomElastic``'s
control grid follows each sample's geometry) and makes a tensor of every number.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def _torch() -> Any | None:
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def collate(batch: Sequence[Any], use_torch: bool | None = None) -> Any:
    """Collate one value per sample into a batch value (see the module docstring).

    Parameters
    ----------
    batch
        The values, one per sample, all of the same kind.
    use_torch
        Make tensors (``True``), numpy arrays (``False``), or tensors when torch is
        installed (``None``).
    """
    torch = _torch() if use_torch in (None, True) else None
    return _collate(batch, torch)


REPLAY_KEY = "params"
REPLAY_FIELDS = ("seed", "epoch", "index", "ops")
"""A Compose output's replay record: ``sample[REPLAY_KEY]``, a mapping with these fields."""


def is_replay_record(v: Any) -> bool:
    """Whether ``v`` is a Compose's replay record (what :meth:`Compose.replay` takes)."""
    return isinstance(v, Mapping) and all(f in v for f in REPLAY_FIELDS)


class KeepReplay:
    """A ``collate_fn`` that keeps a Compose's replay records as a list and collates the rest.

    When every sample is a mapping whose ``params`` is a replay record, the wrapped
    ``collate_fn`` gets the samples without it and the batch gets ``params`` back as the
    list of records (in the samples' key order); other batches go to ``collate_fn`` as they are.

    Parameters
    ----------
    collate_fn
        The collate function for everything else (e.g. ``torch.utils.data.default_collate``).
    """

    def __init__(self, collate_fn: Callable[[Any], Any]):
        self.collate_fn = collate_fn

    def __call__(self, samples: Sequence[Any]) -> Any:
        """Collate ``samples`` (see the class docstring)."""
        if not samples or not all(isinstance(s, Mapping) and is_replay_record(s.get(REPLAY_KEY)) for s in samples):
            return self.collate_fn(samples)
        data = self.collate_fn([{k: v for k, v in s.items() if k != REPLAY_KEY} for s in samples])
        if not isinstance(data, Mapping):
            return data
        records = [s[REPLAY_KEY] for s in samples]
        return {k: records if k == REPLAY_KEY else data[k] for k in samples[0] if k == REPLAY_KEY or k in data}


def _same_shape(batch: Sequence[Any]) -> bool:
    return all(tuple(b.shape) == tuple(batch[0].shape) for b in batch)


def _collate(batch: Sequence[Any], torch: Any | None) -> Any:
    elem = batch[0]
    if isinstance(elem, str | bytes):
        return batch
    if torch is not None and isinstance(elem, torch.Tensor):
        return torch.stack(list(batch)) if _same_shape(batch) else batch
    if isinstance(elem, np.ndarray | np.generic):
        if elem.dtype.kind in "OSUV":  # strings and objects: no tensor for them
            return batch
        if not _same_shape([np.asarray(b) for b in batch]):
            return batch
        stacked = np.stack([np.asarray(b) for b in batch])
        return stacked if torch is None else torch.as_tensor(stacked)
    if isinstance(elem, bool | int | float):
        if not all(isinstance(b, bool | int | float) for b in batch):
            return batch
        if isinstance(elem, float):  # floats: float64, ints and bools: what the values give, as torch does
            return np.asarray(batch, dtype=np.float64) if torch is None else torch.tensor(batch, dtype=torch.float64)
        return np.asarray(batch) if torch is None else torch.tensor(batch)
    if hasattr(elem, "__dlpack__") and hasattr(elem, "__array_namespace__"):  # CuPy and other array-API arrays
        xp = elem.__array_namespace__()
        return xp.stack(list(batch)) if _same_shape(batch) else batch
    if isinstance(elem, Mapping):
        if not all(isinstance(b, Mapping) and set(b) == set(elem) for b in batch):
            return batch
        return {k: _collate([b[k] for b in batch], torch) for k in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(_collate(col, torch) for col in zip(*batch, strict=True)))
    if isinstance(elem, Sequence):
        if not all(isinstance(b, Sequence) and len(b) == len(elem) for b in batch):
            return batch
        return [_collate(col, torch) for col in zip(*batch, strict=True)]
    return batch
