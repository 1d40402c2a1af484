"""The CUDA backend (CuPy): the same fused plans, executed on the GPU.

``fm_augment_batch`` (``csrc/cuda/augment_kernels.cu``, compiled at run time with
NVRTC through :func:`fastmed.cuda_modules.load_module`) runs the per-voxel code of
``csrc/include/fastmed/augment.h`` -- the function the ``cpu-reference`` backend runs
on the CPU -- for every array of every sample of a batch in ONE launch: the host
packs one ``fm::DeviceJob`` per array (:mod:`fastmed.backends.cuda_jobs`), uploads the
table, the programs and the elastic grids as one buffer, and grid z picks the job.

Inputs: numpy arrays (copied to the device), CuPy arrays, torch CUDA tensors or any
CUDA DLPack producer (wrapped without a copy). Outputs are CuPy arrays, or torch
tensors (through DLPack, no copy) with ``output="torch"``, or when ``output="auto"``
(the default) and the sample's arrays came as torch tensors.

Supported ops: every op of :mod:`fastmed.transforms` (crop, flip, rot90, affine,
elastic, resample; window, clip, normalize, scale, gamma, contrast, brightness, noise,
bias field fused; blur, low-res and patch normalisation as patch passes on the GPU).
Patch passes: blur is a separable kernel (``csrc/cuda/patch_kernels.cu``, the
weights and taps of ``fastmed/blur.h`` that the CPU pass uses); low-res is two
``fm_augment_batch`` launches on the float32 patch (nearest down, linear up, as on the
CPU); patch statistics are CuPy reductions. Results match the CPU backend within
float tolerance (FMA contraction and the device's libm), with the same Philox noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed._native import core
from fastmed.backends import register_backend
from fastmed.backends.common import align_corners
from fastmed.backends.cuda_arrays import to_device
from fastmed.backends.cuda_batch import Batch, build_batch, check_batch, pack_parts, single_job
from fastmed.backends.cuda_jobs import BLOCK, launch_plan, linear_launch
from fastmed.errors import TransformError
from fastmed.transforms.batch_out import check_out, describe_out, host_view, patch_shapes
from fastmed.transforms.plan import (
    ArrayPlan,
    BlurPass,
    LowResPass,
    PatchNormalizePass,
    ProgramPass,
    PythonPass,
    SamplePlan,
)

OUTPUTS = ("auto", "cupy", "torch")


def require_cupy() -> Any:
    """Return the ``cupy`` module if a CUDA device is usable; TransformError saying why not."""
    try:
        import cupy
    except ImportError as exc:
        raise TransformError(f"CUDA backend: CuPy is not installed (pip install cupy-cuda12x): {exc}") from exc
    try:
        n = int(cupy.cuda.runtime.getDeviceCount())
    except RuntimeError as exc:  # CUDARuntimeError: no driver, driver too old, no device
        raise TransformError(f"CUDA backend: no CUDA device available ({exc})") from exc
    if n == 0:
        raise TransformError("CUDA backend: no CUDA device available (0 devices)")
    return cupy


class CupyArrays:
    """Device arrays for :func:`fastmed.backends.cuda_batch.build_batch`."""

    def __init__(self, cp: Any):
        self.cp = cp

    def to_array(self, a: Any, key: str) -> Any:
        """On the current device; zero copy for CuPy arrays and CUDA DLPack producers."""
        return to_device(a, key, self.cp)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        """``cupy.empty``."""
        return self.cp.empty(shape, dtype=dtype)

    def ptr(self, a: Any) -> int:
        """Device address of element 0."""
        return int(a.data.ptr)

    def upload(self, parts: Sequence[npt.NDArray[Any]]) -> tuple[Any, list[int]]:
        """Every part in one host-to-device copy."""
        host, offsets = pack_parts(parts)
        dev = self.cp.asarray(host)
        base = int(dev.data.ptr)
        return dev, [base + off for off in offsets]


def split_out(
    plans: Sequence[SamplePlan], samples: Sequence[Mapping[str, Any]], out: Mapping[str, Any] | None
) -> tuple[dict[str, Any], dict[str, npt.NDArray[np.generic]]]:
    """Check ``out`` (no device needed) and split it into device arrays and numpy views of host ones."""
    if not out:
        return {}, {}
    infos = check_out(out, patch_shapes(plans, samples), len(plans))
    dev = {key: a for key, a in out.items() if not infos[key].on_host}
    host = {key: host_view(a, infos[key], key) for key, a in out.items() if infos[key].on_host}
    return dev, host


def device_view(cp: Any, a: Any) -> Any:
    """A CuPy view of a CUDA DLPack array (bfloat16 as uint16 bits); zero copy."""
    if describe_out(a, "out").dtype == "bfloat16" and not hasattr(a, "__array_namespace__"):
        import torch  # a torch CUDA bfloat16 tensor: DLPack refuses bfloat16, view the bits

        return cp.from_dlpack(a.view(torch.int16)).view(cp.uint16)
    return cp.from_dlpack(a)


def _module(name: str) -> Any:
    from fastmed.cuda_modules import load_module

    return load_module(name)


class CudaBackend:
    """Executes plans on the current CUDA device with CuPy.

    Parameters
    ----------
    output
        ``"cupy"``, ``"torch"`` (DLPack, no copy) or ``"auto"`` (torch if the sample's
        arrays were torch tensors, else CuPy).
    block
        Threads per block of the voxel kernels.
    """

    name = "cuda"

    def __init__(self, output: str = "auto", block: int = BLOCK):
        if output not in OUTPUTS:
            raise TransformError(f"CUDA backend: output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        self.block = int(block)
        launch_plan([1], self.block)  # validates the block size

    def _launch(self, cp: Any, batch: Batch) -> None:
        """Upload the job table and launch ``fm_augment_batch`` (once per 65535 jobs)."""
        table = batch.table
        dev_table = cp.asarray(table.view(np.uint8))
        fn = _module("augment_kernels").get_function("fm_augment_batch")
        size = table.dtype.itemsize
        voxels = [int(np.prod(r["out_shape"][1:])) for r in table]
        for ln in launch_plan(voxels, self.block):
            fn(ln.grid, ln.block, (dev_table[ln.first * size :], np.int32(ln.count)))
        # Temporaries go back to CuPy's stream-ordered pool: reuse is ordered after the launch.
        batch.keep.append(dev_table)

    def _low_res(self, cp: Any, out: Any, zoom: Sequence[float]) -> Any:
        xp = CupyArrays(cp)
        shape = tuple(int(n) for n in out.shape[1:])
        small = tuple(max(1, int(round(n * z))) for n, z in zip(shape, zoom, strict=True))
        down = cp.empty((out.shape[0], *small), dtype=cp.float32)
        self._launch(cp, single_job(xp, out, down, align_corners(shape, small), "nearest"))
        up = cp.empty_like(out)
        self._launch(cp, single_job(xp, down, up, align_corners(small, shape), "linear"))
        return up

    def _program(self, cp: Any, out: Any, ps: ProgramPass, plan: SamplePlan) -> None:
        c, d, h, w = (int(n) for n in out.shape)
        prog = ps.program
        fn = _module("augment_kernels").get_function("fm_apply_program")
        grid, block = linear_launch(int(out.size), self.block)
        args = (out, np.int64(c), np.int64(d), np.int64(h), np.int64(w), cp.asarray(prog.ops), np.int64(len(prog)))
        keys = (np.uint32(plan.key[0]), np.uint32(plan.key[1]), np.uint32(plan.index & 0xFFFFFFFF))
        fn(grid, block, (*args, cp.asarray(prog.params), *keys))

    def _blur(self, cp: Any, out: Any, ps: BlurPass) -> Any:
        fn = _module("patch_kernels").get_function("fm_blur_axis")
        c, d, h, w = (int(n) for n in out.shape)
        grid, block = linear_launch(int(out.size), self.block)
        tmp = cp.empty_like(out)
        for axis, (sigma, n) in enumerate(zip(ps.sigma, (d, h, w), strict=True)):
            if not sigma > 0.0 or n <= 1:
                continue
            wts = cp.asarray(core.blur_weights(float(sigma), float(ps.truncate)))
            radius = (int(wts.size) - 1) // 2
            dims = (np.int64(c), np.int64(d), np.int64(h), np.int64(w))
            fn(grid, block, (out, tmp, *dims, np.int32(axis), wts, np.int64(radius)))
            out, tmp = tmp, out
        return out

    def _passes(self, cp: Any, out: Any, ap: ArrayPlan, plan: SamplePlan) -> Any:
        """An array's patch passes in order, on its float32 (C, D, H, W) patch."""
        for ps in ap.passes:
            if isinstance(ps, ProgramPass):
                self._program(cp, out, ps, plan)
            elif isinstance(ps, BlurPass):
                out = self._blur(cp, out, ps)
            elif isinstance(ps, LowResPass):
                out = self._low_res(cp, out, ps.zoom)
            elif isinstance(ps, PatchNormalizePass):
                for k in range(int(out.shape[0])):
                    v = out[k]
                    mean = float(v.mean(dtype=cp.float64))
                    std = float(v.std(dtype=cp.float64))
                    v -= np.float32(mean)
                    v *= np.float32(1.0 / (std + ps.eps))
            elif isinstance(ps, PythonPass):  # custom op: numba.cuda on the device patch
                out = ps.runner.cuda(out, plan.ndim, cp.cuda.get_current_stream().ptr)
            else:  # pragma: no cover - a new pass type without GPU support
                raise TransformError(f"CUDA backend: unsupported patch pass {type(ps).__name__}")
        return out

    def _to_16bit(self, cp: Any, out: Any, kind: str) -> Any:
        bits = cp.empty(out.shape, dtype=cp.uint16)
        fn = _module("patch_kernels").get_function("fm_f32_to_16bit")
        grid, block = linear_launch(int(out.size), self.block)
        fn(grid, block, (out, bits, np.int64(out.size), np.int32(1 if kind == "float16" else 2)))
        return bits.view(cp.float16) if kind == "float16" else bits

    def run(
        self,
        plans: Sequence[SamplePlan],
        samples: Sequence[Mapping[str, Any]],
        threads: int = 0,
        out: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Resample every array of every sample in one launch, then the patch passes.

        Inputs are checked before the device is touched; without a device the error is
        a :class:`fastmed.TransformError`. ``threads`` is part of the backend interface
        and unused here. ``out`` maps keys to preallocated batch arrays (N, C, *patch):
        CuPy or torch CUDA ones are written by the kernel in place (arrays with patch
        passes get one device copy of their result), host ones (numpy, torch, pinned)
        receive one device-to-host copy per sample.
        """
        check_batch(plans, samples)
        dev_slots, host = split_out(plans, samples, out)
        cp = require_cupy()
        slots = {key: device_view(cp, a) for key, a in dev_slots.items()}
        batch = build_batch(plans, samples, CupyArrays(cp), slots)
        if len(batch.table):
            self._launch(cp, batch)
        results: list[dict[str, Any]] = [{} for _ in plans]
        for k, ap, res, was_torch in batch.outputs:
            plan = plans[k]
            if ap.passes:
                res = self._passes(cp, res, ap, plan)
                if ap.out_dtype in ("float16", "bfloat16"):
                    res = self._to_16bit(cp, res, ap.out_dtype)
            res = res[:, 0] if plan.ndim == 2 else res
            if ap.key in slots:
                slot = slots[ap.key][k]
                if res.data.ptr != slot.data.ptr:
                    slot[...] = res.view(slot.dtype)
                res = slot
            elif ap.key in host:
                res.get(out=host[ap.key][k])  # into pinned memory this is a direct DMA
                results[k][ap.key] = host[ap.key][k]
                continue
            results[k][ap.key] = self._wrap(res, was_torch)
        return results

    def _wrap(self, out: Any, was_torch: bool) -> Any:
        if self.output == "torch" or (self.output == "auto" and was_torch):
            import torch

            return torch.from_dlpack(out)
        return out


register_backend("cuda", CudaBackend)
