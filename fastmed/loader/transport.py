"""How a worker's batch crosses to the main process: small tensors inside the pickle.

torch sends every tensor of a worker's batch through shared memory, one file (and one
passed file descriptor) per tensor: about a millisecond each, whatever its size. A batch of
dicts with many scalars (the replay ``params`` of a fastmed ``Compose``: ~30 numbers per
sample, each collated into its own tensor) spent most of its time there. :func:`pack`
replaces each small plain CPU tensor by a stand-in that pickles as its numpy bytes and
unpickles as an equal tensor (same dtype, shape and values; contiguous, not shared); large
tensors still go through shared memory. Only the transport changes: the batch the
consumer gets is equal to torch's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

INLINE_BYTES = 64 * 1024
"""Tensors up to this size travel inside the pickle."""


def _rebuild(arr: npt.NDArray[Any]) -> torch.Tensor:
    return torch.from_numpy(arr)


class _Inline:
    """A small tensor's numpy view; unpickles as a tensor."""

    __slots__ = ("arr",)

    def __init__(self, arr: npt.NDArray[Any]):
        self.arr = arr

    def __reduce__(self) -> tuple[Any, tuple[npt.NDArray[Any]]]:
        arr = self.arr if self.arr.flags.c_contiguous else np.ascontiguousarray(self.arr)  # keeps 0-d as 0-d
        return (_rebuild, (arr,))


def _inline(t: torch.Tensor) -> Any:
    if (
        type(t) is not torch.Tensor
        or t.requires_grad
        or t.device.type != "cpu"
        or t.layout is not torch.strided
        or t.element_size() * t.nelement() > INLINE_BYTES
    ):
        return t
    try:
        return _Inline(t.numpy())
    except (TypeError, RuntimeError):  # dtypes numpy lacks (bfloat16, ...), conjugate views
        return t


def pack(data: Any) -> Any:
    """``data`` with its small plain CPU tensors replaced by inline stand-ins (containers rebuilt)."""
    if isinstance(data, torch.Tensor):
        return _inline(data)
    if isinstance(data, Mapping):
        packed = {k: pack(v) for k, v in data.items()}
        try:
            return type(data)(packed)  # type: ignore[call-arg]
        except TypeError:
            return packed
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(pack(v) for v in data))
    if isinstance(data, tuple | list):
        return type(data)(pack(v) for v in data)
    return data
