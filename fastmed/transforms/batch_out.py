"""Preallocated batch outputs: which array library and device an ``out=`` array lives on, and its checks.

Detection goes through the array protocols, never the module name: ``__dlpack_device__``
says where the memory is (DLPack device type 1 = CPU, 2 = CUDA, 3 = CUDA host / pinned),
``__dlpack__`` gives a zero-copy view (numpy for host memory, CuPy for device memory), and
``__array_namespace__`` (numpy, CuPy) names the array library when the caller wants it.
Dtype names are read from ``str(a.dtype)`` with a ``torch.`` prefix dropped, so a torch
``bfloat16`` tensor (a dtype numpy has no name for) is recognised without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError

DL_CPU, DL_CUDA, DL_CUDA_HOST = 1, 2, 3


@dataclass(frozen=True)
class OutInfo:
    """What a batch output array is, from its protocols only.

    Parameters
    ----------
    shape
        Its shape.
    dtype
        Its dtype name (``"float32"``, ``"bfloat16"`` ...).
    device_type
        DLPack device type (1 CPU, 2 CUDA, 3 CUDA host memory).
    device_id
        DLPack device ordinal.
    """

    shape: tuple[int, ...]
    dtype: str
    device_type: int
    device_id: int

    @property
    def on_host(self) -> bool:
        """Whether host code can write it (plain or pinned host memory)."""
        return self.device_type in (DL_CPU, DL_CUDA_HOST)


def dtype_name(a: Any) -> str:
    """``str(a.dtype)`` without a ``torch.`` prefix (``"float32"``, ``"bfloat16"``, ``"uint8"``)."""
    return str(getattr(a, "dtype", "?")).removeprefix("torch.")


def describe_out(a: Any, key: str) -> OutInfo:
    """Read an ``out=`` array's shape, dtype and device through DLPack; TransformError if it is no array."""
    if not (hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__")):
        raise TransformError(
            f"out[{key!r}]: {type(a).__name__} is not a DLPack array (numpy, torch or CuPy, with __dlpack__)"
        )
    dev_type, dev_id = a.__dlpack_device__()
    return OutInfo(tuple(int(n) for n in a.shape), dtype_name(a), int(dev_type), int(dev_id))


def namespace(a: Any) -> Any | None:
    """The array API namespace of ``a`` (numpy, CuPy), or None when it declares none (torch)."""
    get = getattr(a, "__array_namespace__", None)
    return None if get is None else get()


def out_mapping(out: Any, image_key: str) -> dict[str, Any]:
    """``out=`` as a mapping key -> array: one array is the first image key's output."""
    if out is None:
        return {}
    if isinstance(out, Mapping):
        return {str(k): v for k, v in out.items()}
    return {image_key: out}


def check_out(
    out: Mapping[str, Any], expected: Mapping[str, tuple[tuple[int, ...], str]], n: int
) -> dict[str, OutInfo]:
    """Check each ``out`` array is (n, *shape) of the given dtype; return their descriptions.

    ``expected`` maps a key to its per-sample output shape (C, *patch) and dtype name; a key
    of ``out`` with no expected output is refused, as is one with another shape or dtype.
    """
    infos: dict[str, OutInfo] = {}
    for key, a in out.items():
        if key not in expected:
            raise TransformError(
                f"out[{key!r}]: the pipeline writes no such array in every sample (batch arrays: {sorted(expected)})"
            )
        info = describe_out(a, key)
        shape, dt = expected[key]
        if info.shape != (n, *shape):
            raise TransformError(f"out[{key!r}]: shape {info.shape}, the batch needs {(n, *shape)}")
        if info.dtype != dt:
            raise TransformError(f"out[{key!r}]: dtype {info.dtype}, the batch needs {dt}")
        infos[key] = info
    return infos


def host_view(a: Any, info: OutInfo, key: str) -> npt.NDArray[np.generic]:
    """A writable numpy view of a host ``out`` array (bfloat16 as its uint16 bits); no copy."""
    if not info.on_host:
        raise TransformError(
            f"out[{key!r}]: on DLPack device type {info.device_type} (a GPU), this backend writes host memory"
        )
    if info.dtype == "bfloat16":
        if isinstance(a, np.ndarray):  # already bfloat16 bits
            v = a
        else:  # a torch tensor: numpy has no bfloat16, DLPack refuses it; view its bits as int16
            import torch

            v = np.from_dlpack(a.view(torch.int16)).view(np.uint16)
    else:
        v = np.from_dlpack(a)
    if not v.flags.writeable:
        raise TransformError(f"out[{key!r}]: the array is read-only")
    return v


def slot_kind(expected_dtype: str) -> str:
    """The kernel's output kind for an image dtype name (``"same"`` for labels)."""
    return expected_dtype if expected_dtype in ("float32", "float16", "bfloat16") else "same"


def patch_shapes(plans: Sequence[Any], samples: Sequence[Mapping[str, Any]]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Per key: the (C, *patch) shape and output dtype name every plan of the batch writes.

    A key whose shape or dtype differs between samples cannot go into one batch array; a
    key that some samples lack is left out (no batch array can be filled for it).
    """
    found: dict[str, tuple[tuple[int, ...], str]] = {}
    count: dict[str, int] = {}
    for plan, sample in zip(plans, samples, strict=True):
        sp = plan.spatial.out_shape
        patch = tuple(int(n) for n in (sp[1:] if plan.ndim == 2 else sp))
        for ap in plan.arrays:
            src = sample[ap.key]
            c = int(np.shape(src)[0]) if not hasattr(src, "shape") else int(src.shape[0])
            dt = ap.out_dtype if ap.out_dtype != "same" else dtype_name(src)
            if dt == "bool":
                dt = "uint8"
            got = ((c, *patch), dt)
            count[ap.key] = count.get(ap.key, 0) + 1
            if found.setdefault(ap.key, got) != got:
                raise TransformError(
                    f"out[{ap.key!r}]: samples give different outputs {found[ap.key]} and {got}; "
                    "one batch array needs one shape and dtype"
                )
    return {key: v for key, v in found.items() if count[key] == len(plans)}
