"""The CPU backend: runs fused plans with the native kernel (fastmed._core).

One ``core.augment`` call resamples every array of every sample in the batch (rows
of all jobs in one parallel loop, GIL released); the patch passes (blur, low-res,
patch statistics, program segments after them) then run per array, also natively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed._native import core
from fastmed.backends import register_backend
from fastmed.backends.common import align_corners as _align_corners
from fastmed.backends.common import bf16_bits, host_slots
from fastmed.errors import TransformError
from fastmed.transforms.plan import (
    INTERP,
    PAD_MODES,
    ArrayPlan,
    BlurPass,
    IntensityProgram,
    LowResPass,
    PatchNormalizePass,
    ProgramPass,
    PythonPass,
    SamplePlan,
    Window,
)

SUPPORTED = (np.uint8, np.int16, np.uint16, np.int32, np.float32)
_EMPTY = IntensityProgram.build([])


def as_source(a: Any, ndim: int, key: str) -> npt.NDArray[np.generic]:
    """View a channel-first array as (C, D, H, W) without copying; check its dtype."""
    arr = np.asarray(a)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if arr.dtype.type not in SUPPORTED:
        raise TransformError(
            f"sample[{key!r}]: dtype {arr.dtype} is not supported (uint8, int16, uint16, int32, float32); "
            "convert once when caching, the kernel never makes a float copy of a volume"
        )
    if arr.ndim != ndim + 1:
        raise TransformError(f"sample[{key!r}]: expected channel-first {ndim}-D (C, ...), got shape {arr.shape}")
    if arr.dtype.byteorder == ">":
        raise TransformError(f"sample[{key!r}]: big-endian arrays are not supported")
    return arr[:, None] if ndim == 2 else arr


def _job(
    src: npt.NDArray[np.generic],
    out: npt.NDArray[np.generic],
    out_kind: str,
    matrix: npt.NDArray[np.float64],
    grid: npt.NDArray[np.float32] | None,
    grid_inv: Sequence[float],
    interp: str,
    pad_mode: str,
    pad_value: float,
    program: IntensityProgram,
    key: tuple[int, int],
    index: int,
    window: Window | None = None,
) -> dict[str, Any]:
    """One kernel job; ``window`` says where ``src`` sits in its volume (None: it is the volume)."""
    return {
        "volume": None if window is None else list(window.volume),
        "origin": None if window is None else list(window.origin),
        "src": src,
        "out": out,
        "out_dtype": out_kind,
        "matrix": np.ascontiguousarray(matrix[:3, :4], dtype=np.float32),
        "grid": None if grid is None else np.ascontiguousarray(grid, dtype=np.float32),
        "grid_inv": [float(v) for v in grid_inv],
        "interp": INTERP[interp],
        "pad_mode": PAD_MODES[pad_mode],
        "cval": float(pad_value),
        "ops": program.ops,
        "params": program.params,
        "key": [int(key[0]), int(key[1])],
        "index": int(index),
    }


def _out_array(
    ap: ArrayPlan, src: npt.NDArray[np.generic], shape: tuple[int, ...]
) -> tuple[npt.NDArray[np.generic], str]:
    if ap.out_dtype == "same":
        return np.empty(shape, dtype=src.dtype), "same"
    if ap.passes or ap.out_dtype == "float32":  # passes work in float32; convert at the end
        return np.empty(shape, dtype=np.float32), "float32"
    if ap.out_dtype == "float16":
        return np.empty(shape, dtype=np.float16), "float16"
    return np.empty(shape, dtype=np.uint16), "bfloat16"


def low_res(patch: npt.NDArray[np.float32], zoom: Sequence[float], threads: int) -> npt.NDArray[np.float32]:
    """Nearest down-sampling by ``zoom`` then linear up-sampling back (corners aligned)."""
    shape = patch.shape[1:]
    small = tuple(max(1, int(round(n * z))) for n, z in zip(shape, zoom, strict=True))
    down = np.empty((patch.shape[0], *small), dtype=np.float32)
    core.augment(
        [
            _job(
                patch,
                down,
                "float32",
                _align_corners(shape, small),
                None,
                (0, 0, 0),
                "nearest",
                "edge",
                0.0,
                _EMPTY,
                (0, 0),
                0,
            )
        ],
        threads,
    )
    up = np.empty_like(patch)
    core.augment(
        [
            _job(
                down,
                up,
                "float32",
                _align_corners(small, shape),
                None,
                (0, 0, 0),
                "linear",
                "edge",
                0.0,
                _EMPTY,
                (0, 0),
                0,
            )
        ],
        threads,
    )
    return up


def run_passes(out: npt.NDArray[np.float32], ap: ArrayPlan, plan: SamplePlan, threads: int) -> npt.NDArray[np.float32]:
    """Run an array's patch passes in order on its float32 (C, D, H, W) patch."""
    for ps in ap.passes:
        if isinstance(ps, ProgramPass):
            core.apply_program(
                out, ps.program.ops, ps.program.params, plan.key[0], plan.key[1], plan.index, False, threads
            )
        elif isinstance(ps, BlurPass):
            core.gaussian_blur(out, list(ps.sigma), ps.truncate, threads)
        elif isinstance(ps, LowResPass):
            out = low_res(out, ps.zoom, threads)
        elif isinstance(ps, PatchNormalizePass):
            for c in range(out.shape[0]):
                v = out[c]
                mean = float(v.mean(dtype=np.float64))
                std = float(v.std(dtype=np.float64))
                v -= np.float32(mean)
                v *= np.float32(1.0 / (std + ps.eps))
        elif isinstance(ps, PythonPass):
            out = ps.runner.cpu(out, plan.ndim, threads)
        else:  # pragma: no cover - a new pass type without CPU support
            raise TransformError(f"CPU backend: unsupported patch pass {type(ps).__name__}")
    return out


def _slot(
    slots: Mapping[str, npt.NDArray[np.generic]], ap: ArrayPlan, k: int, ndim: int
) -> npt.NDArray[np.generic] | None:
    """Sample k's slot of the batch array for ``ap``, as (C, D, H, W); None without one."""
    v = slots.get(ap.key)
    if v is None:
        return None
    return v[k][:, None] if ndim == 2 else v[k]


def _kind(ap: ArrayPlan) -> str:
    return "same" if ap.out_dtype == "same" else ap.out_dtype


class CpuBackend:
    """Executes plans with the native C++ kernel on the thread pool."""

    name = "cpu"
    #: ``Compose.batch(stack=True)`` may hand this backend host batch arrays to write into.
    host_batch_out = True

    def _kernel(self, jobs: list[dict[str, Any]], threads: int) -> None:
        core.augment(jobs, threads)

    def run(
        self,
        plans: Sequence[SamplePlan],
        samples: Sequence[Mapping[str, Any]],
        threads: int = 0,
        out: Mapping[str, Any] | None = None,
    ) -> list[dict[str, npt.NDArray[np.generic]]]:
        """Resample every array of every sample in one native call, then the patch passes.

        ``out`` maps array keys to preallocated host batch arrays (N, C, *patch) of the output
        dtype (numpy, torch CPU or pinned; a torch bfloat16 tensor for bfloat16): the kernel
        writes sample k straight into ``out[key][k]`` (arrays with patch passes are copied in
        once from their float32 patch). The returned dicts then hold numpy views of the slots.
        """
        slots = host_slots(plans, samples, out)
        jobs: list[dict[str, Any]] = []
        where: list[tuple[int, ArrayPlan, npt.NDArray[np.generic]]] = []
        for k, (plan, sample) in enumerate(zip(plans, samples, strict=True)):
            sp = plan.spatial
            for ap in plan.arrays:
                src = as_source(sample[ap.key], plan.ndim, ap.key)
                slot = _slot(slots, ap, k, plan.ndim)
                if slot is not None and not ap.passes and slot.flags.c_contiguous:
                    out_arr, kind = slot, _kind(ap)
                else:
                    out_arr, kind = _out_array(ap, src, (src.shape[0], *sp.out_shape))
                jobs.append(
                    _job(
                        src,
                        out_arr,
                        kind,
                        sp.matrix,
                        sp.grid,
                        sp.grid_inv,
                        ap.interp,
                        ap.pad_mode,
                        ap.pad_value,
                        ap.program,
                        plan.key,
                        plan.index,
                        plan.windows.get(ap.key),
                    )
                )
                where.append((k, ap, out_arr))
        try:
            self._kernel(jobs, threads)
        except (ValueError, TypeError) as exc:
            raise TransformError(f"CPU backend: {exc}") from exc
        results: list[dict[str, npt.NDArray[np.generic]]] = [{} for _ in plans]
        for k, ap, res in where:
            plan = plans[k]
            if ap.passes:
                res = run_passes(res, ap, plan, threads)  # type: ignore[arg-type]
                if ap.out_dtype == "float16":
                    res = res.astype(np.float16)
                elif ap.out_dtype == "bfloat16":
                    res = bf16_bits(res)
            slot = _slot(slots, ap, k, plan.ndim)
            if slot is not None and res is not slot:
                slot[...] = res  # a pass's result (or a non-contiguous slot): the one copy into the batch
                res = slot
            results[k][ap.key] = res[:, 0] if plan.ndim == 2 else res
        return results


class CpuReferenceBackend(CpuBackend):
    """The GPU kernel's per-voxel code (``fastmed/augment.h``) run on the CPU, one voxel at a time.

    Slower than :class:`CpuBackend`; it exists so CPU tests check the math the CUDA
    kernel runs, and the fast row-wise kernel is checked against it.
    """

    name = "cpu-reference"

    def _kernel(self, jobs: list[dict[str, Any]], threads: int) -> None:
        core.augment_reference(jobs, threads)


register_backend("cpu", CpuBackend)
register_backend("cpu-reference", CpuReferenceBackend)


def resample(
    src: npt.NDArray[np.generic],
    matrix: npt.ArrayLike,
    out_shape: Sequence[int],
    interp: str = "linear",
    pad_mode: str = "constant",
    pad_value: float = 0.0,
    grid: npt.NDArray[np.float32] | None = None,
    grid_inv: Sequence[float] = (0.0, 0.0, 0.0),
    threads: int = 0,
) -> npt.NDArray[np.float32]:
    """Resample a (C, D, H, W) source through a 4x4 output-to-source voxel matrix (no intensity ops).

    The bare fused gather: the floor every pipeline is measured against, and the
    entry point of the kernel tests.
    """
    s = as_source(src, 3, "src")
    if interp not in INTERP or pad_mode not in PAD_MODES:
        raise TransformError(f"resample: bad interp {interp!r} or pad_mode {pad_mode!r}")
    out = np.empty((s.shape[0], *[int(n) for n in out_shape]), dtype=np.float32)
    m = np.asarray(matrix, dtype=np.float64)
    core.augment([_job(s, out, "float32", m, grid, grid_inv, interp, pad_mode, pad_value, _EMPTY, (0, 0), 0)], threads)
    return out
