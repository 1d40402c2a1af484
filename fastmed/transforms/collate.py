"""Collation of a batch's non-image values the way ``torch.utils.data.default_collate`` does.

With torch installed the result equals ``default_collate`` on the same values: Python ints
and bools become an int64 / bool tensor, floats a float64 tensor, numpy scalars and arrays
(and tensors) are stacked into one tensor, strings and bytes stay a list, mappings collate
per key, sequences (tuples, lists) are transposed into a list of collated columns.

Without torch the same rules give numpy arrays (``np.asarray`` of the numbers: int64,
float64, bool; ``np.stack`` of arrays). Two differences from ``default_collate``, both for
values it refuses with an error: ``None`` and other objects are kept as a list, and arrays
whose shapes differ (or sequences whose lengths differ) are kept as a list.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
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
