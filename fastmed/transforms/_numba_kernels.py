"""numba kernels that run a per-voxel Python function over a patch (CPU and CUDA).

A user function ``f(v, a, b, ...) -> float`` is compiled twice: with ``numba.njit``
for the host and with ``numba.cuda.jit(device=True)`` for the GPU. Each is called
from a small driver kernel whose source is generated for the function's arity (numba
cannot splat a parameter array into positional arguments); the generated text only
varies in the number of ``p[j]`` arguments, never in user-supplied names.

Both drivers walk the patch flattened as ``(C * N)`` voxels, apply the function where
the channel mask is set, and store the float result back into the float32 patch, so
the CPU and GPU results agree to float rounding of the function itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError

_CPU_SRC = """
def kernel(a, n, mask, p):
    for i in {loop}(a.size):
        if mask[i // n]:
            a[i] = fn(a[i]{args})
"""

_CUDA_SRC = """
def kernel(a, n, mask, p):
    i = cuda.grid(1)
    if i < a.size:
        if mask[i // n]:
            a[i] = fn(a[i]{args})
"""

# numba's workqueue threading layer aborts on concurrent parallel launches from several
# Python threads (fastmed's loader workers are threads): one parallel launch at a time.
_PARALLEL_LOCK = threading.Lock()
_CUDA_BLOCK = 128


def _args(arity: int) -> str:
    return "".join(f", p[{j}]" for j in range(arity))


def _generate(src: str, namespace: dict[str, Any], arity: int, loop: str = "range") -> Callable[..., None]:
    code = src.format(loop=loop, args=_args(arity))
    exec(compile(code, f"<fastmed voxel kernel arity {arity}>", "exec"), namespace)  # noqa: S102
    fn: Callable[..., None] = namespace["kernel"]
    return fn


class CpuVoxelKernel:
    """The host driver of one per-voxel function: a serial and a ``prange`` variant.

    Parameters
    ----------
    py_func
        The Python function ``f(v, *params) -> float``.
    arity
        Number of parameters after ``v``.
    name
        Name used in error messages.
    """

    def __init__(self, py_func: Callable[..., float], arity: int, name: str, fastmath: bool = False):
        import numba

        self.name = name
        try:
            dev = numba.njit(fastmath=fastmath)(py_func)
        except Exception as exc:  # numba raises many types for unsupported Python
            raise TransformError(f"voxel op {name}: numba cannot compile it: {exc}") from exc
        ns_serial: dict[str, Any] = {"fn": dev}
        ns_par: dict[str, Any] = {"fn": dev, "prange": numba.prange}
        self._serial = numba.njit(fastmath=fastmath)(_generate(_CPU_SRC, ns_serial, arity))
        self._parallel = numba.njit(parallel=True, fastmath=fastmath)(_generate(_CPU_SRC, ns_par, arity, loop="prange"))

    def __call__(
        self,
        flat: npt.NDArray[np.float32],
        per_channel: int,
        mask: npt.NDArray[np.bool_],
        params: npt.NDArray[np.float64],
        threads: int,
    ) -> None:
        """Apply in place to ``flat`` ((C * per_channel,) float32) with up to ``threads`` threads."""
        import numba

        try:
            if threads == 1:
                self._serial(flat, per_channel, mask, params)
                return
            limit = int(getattr(numba.config, "NUMBA_NUM_THREADS", 1))
            n = limit if threads <= 0 else min(threads, limit)
            with _PARALLEL_LOCK:
                before = numba.get_num_threads()
                numba.set_num_threads(n)
                try:
                    self._parallel(flat, per_channel, mask, params)
                finally:
                    numba.set_num_threads(before)
        except numba.core.errors.NumbaError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise TransformError(f"voxel op {self.name}: numba cannot compile it: {first}") from exc


class CudaVoxelKernel:
    """The CUDA driver of one per-voxel function (``numba.cuda``; the simulator works too)."""

    def __init__(self, py_func: Callable[..., float], arity: int, name: str, fastmath: bool = False):
        from numba import cuda

        self.name = name
        dev = cuda.jit(device=True)(py_func)
        ns: dict[str, Any] = {"fn": dev, "cuda": cuda}
        self._kernel = cuda.jit(fastmath=fastmath)(_generate(_CUDA_SRC, ns, arity))

    def __call__(
        self,
        patch: Any,
        per_channel: int,
        mask: npt.NDArray[np.bool_],
        params: npt.NDArray[np.float64],
        stream: int = 0,
    ) -> None:
        """Apply in place to a contiguous float32 device array (any shape) on a raw stream pointer."""
        from numba import cuda

        arr = cuda.as_cuda_array(patch) if hasattr(patch, "__cuda_array_interface__") else patch
        if not getattr(arr, "is_c_contiguous", lambda: True)():
            raise TransformError(f"voxel op {self.name}: the device patch must be C-contiguous")
        flat = arr.reshape(-1) if arr.ndim != 1 else arr
        size = int(np.prod(arr.shape))
        blocks = max(1, -(-size // _CUDA_BLOCK))
        s = cuda.external_stream(stream) if stream else 0
        d_mask = cuda.to_device(np.ascontiguousarray(mask, dtype=np.bool_), stream=s)
        d_params = cuda.to_device(np.ascontiguousarray(params, dtype=np.float64), stream=s)
        try:
            self._kernel[blocks, _CUDA_BLOCK, s](flat, per_channel, d_mask, d_params)
        except Exception as exc:  # typing errors surface at the first launch
            raise TransformError(f"voxel op {self.name}: numba.cuda cannot run it: {exc}") from exc
