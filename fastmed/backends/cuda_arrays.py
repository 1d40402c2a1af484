"""Inputs of the CUDA backend: checked from their metadata, then moved (or not) to the device.

The checks (dtype, dimensions, strides) read only ``shape``, ``dtype`` and ``strides``,
so they run before the device is touched and on machines without one. Moving data:
numpy arrays (and CPU torch tensors) are copied to the device; CuPy arrays are used
as they are; torch CUDA tensors and any other CUDA DLPack producer are wrapped by
``cupy.from_dlpack`` without a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.backends.cuda_jobs import element_strides, source_dtype_code
from fastmed.errors import TransformError

# DLPack device types that CuPy can wrap in place (kDLCUDA, kDLCUDAManaged).
CUDA_DLPACK_DEVICES = (2, 13)

_TORCH_DTYPES = {
    "torch.uint8": np.uint8,
    "torch.bool": np.bool_,
    "torch.int16": np.int16,
    "torch.uint16": np.uint16,
    "torch.int32": np.int32,
    "torch.float32": np.float32,
    "torch.float16": np.float16,
    "torch.float64": np.float64,
    "torch.int64": np.int64,
}


def is_torch(a: Any) -> bool:
    """Whether ``a`` is a DLPack tensor without an array namespace that counts strides in elements (torch).

    Read from the protocols and the API, not the module name (nothing is imported).
    """
    return hasattr(a, "__dlpack__") and not hasattr(a, "__array_namespace__") and callable(getattr(a, "stride", None))


def is_cupy(a: Any, cp: Any = None) -> bool:
    """Whether ``a``'s array namespace is CuPy's (``cp``, or any namespace of a CUDA DLPack array)."""
    get = getattr(a, "__array_namespace__", None)
    if get is None or not hasattr(a, "__dlpack_device__"):
        return False
    if cp is not None:
        return bool(get() is cp)
    return int(a.__dlpack_device__()[0]) in CUDA_DLPACK_DEVICES


@dataclass(frozen=True)
class ArrayInfo:
    """What the kernel needs to know about one source array, from metadata only.

    Parameters
    ----------
    shape
        Channel-first shape as given.
    dtype
        numpy dtype (bool reads as uint8).
    strides
        Element strides.
    dtype_code
        The kernel's source dtype code.
    """

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    strides: tuple[int, ...]
    dtype_code: int


def describe(a: Any, key: str, ndim: int) -> ArrayInfo:
    """Check a channel-first source array (numpy, CuPy, torch, DLPack) without reading its data."""
    dtype: np.dtype[Any]
    if is_torch(a):
        dt = _TORCH_DTYPES.get("torch." + str(a.dtype).removeprefix("torch."))
        if dt is None:
            raise TransformError(f"sample[{key!r}]: torch dtype {a.dtype} is not supported")
        dtype = np.dtype(dt)
        strides = tuple(int(s) * dtype.itemsize for s in a.stride())
        shape = tuple(int(n) for n in a.shape)
    elif hasattr(a, "dtype") and hasattr(a, "shape") and hasattr(a, "strides"):
        dtype = np.dtype(a.dtype)
        shape = tuple(int(n) for n in a.shape)
        strides = tuple(int(s) for s in a.strides)
    else:
        arr = np.asarray(a)
        dtype, shape, strides = arr.dtype, arr.shape, arr.strides
    if dtype == np.bool_:
        dtype = np.dtype(np.uint8)
    code = source_dtype_code(dtype, key)
    if len(shape) != ndim + 1:
        raise TransformError(f"sample[{key!r}]: expected channel-first {ndim}-D (C, ...), got shape {shape}")
    if any(n <= 0 for n in shape):
        raise TransformError(f"sample[{key!r}]: empty axis in shape {shape}")
    return ArrayInfo(shape, dtype, element_strides(strides, dtype.itemsize, key), code)


def to_device(a: Any, key: str, cp: Any) -> Any:
    """The array as a CuPy array on the current device (zero copy where it already is on one)."""
    if is_cupy(a, cp):
        arr = a
    elif is_torch(a):
        t = a.detach()
        arr = cp.from_dlpack(t) if t.is_cuda else cp.asarray(t.numpy())
    elif hasattr(a, "__dlpack_device__") and not isinstance(a, np.ndarray):
        dev_type = int(a.__dlpack_device__()[0])
        arr = cp.from_dlpack(a) if dev_type in CUDA_DLPACK_DEVICES else cp.asarray(np.asarray(a))
    else:
        arr = cp.asarray(np.asarray(a))
    here = int(cp.cuda.runtime.getDevice())
    if int(arr.device.id) != here:
        raise TransformError(f"sample[{key!r}] lives on CUDA device {arr.device.id}, the backend runs on device {here}")
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    return arr
