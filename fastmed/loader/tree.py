"""Walks over a collated batch: its size in bytes and its move to a device."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

_SCALARS = (int, float, bool, complex, type(None))


def nbytes(data: Any) -> int:
    """Bytes held by the tensors, arrays, bytes and strings inside ``data``."""
    # Exact-type checks first: a batch's replay records hold thousands of scalars, and the ABC
    # isinstance checks below cost ~1 us each on the consumer's thread.
    kind = type(data)
    if kind in _SCALARS:
        return 0
    if kind is dict:
        return sum(nbytes(v) for v in data.values())
    if kind is list or kind is tuple:
        return sum(nbytes(v) for v in data)
    if isinstance(data, torch.Tensor):
        return data.element_size() * data.nelement()
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    if isinstance(data, bytes | bytearray):
        return len(data)
    if isinstance(data, str):
        return len(data.encode("utf-8", "replace"))
    if isinstance(data, Mapping):
        return sum(nbytes(v) for v in data.values())
    if isinstance(data, Sequence):
        return sum(nbytes(v) for v in data)
    return 0


def to_device(data: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """``data`` with every tensor moved to ``device`` (containers rebuilt, others kept)."""
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, Mapping):
        moved = {k: to_device(v, device, non_blocking) for k, v in data.items()}
        try:
            return type(data)(moved)  # type: ignore[call-arg]
        except TypeError:
            return moved
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(to_device(v, device, non_blocking) for v in data))
    if isinstance(data, tuple | list):
        return type(data)(to_device(v, device, non_blocking) for v in data)
    return data
