"""From plans and samples to a packed ``fm::DeviceJob`` table, for any array library.

The CUDA backend builds its batch here with CuPy (:class:`CupyArrays`); the CPU tests
build the very same table with numpy (:class:`NumpyArrays`, host addresses) and run it
through ``augment_voxel`` on the CPU (``fastmed._core._augment_packed_jobs``), so the
packing is checked end to end without a GPU.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from fastmed.backends.cuda_arrays import ArrayInfo, describe, is_torch
from fastmed.backends.cuda_jobs import JobSpec, pack_jobs
from fastmed.errors import TransformError
from fastmed.transforms.plan import ArrayPlan, SamplePlan

_ALIGN = 256  # byte alignment of each piece of the upload buffer


class Arrays(Protocol):
    """What the batch builder needs from an array library."""

    def to_array(self, a: Any, key: str) -> Any:
        """The sample array in this library (bool viewed as uint8)."""
        ...

    def empty(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        """An uninitialised C-contiguous array."""
        ...

    def ptr(self, a: Any) -> int:
        """Address of element 0."""
        ...

    def upload(self, parts: Sequence[npt.NDArray[Any]]) -> tuple[Any, list[int]]:
        """Host arrays made readable by the kernel: (keep-alive handle, address of each)."""
        ...


def upload_layout(sizes: Sequence[int], align: int = _ALIGN) -> tuple[list[int], int]:
    """Offsets of pieces of the given byte sizes packed into one buffer, and its total size."""
    offsets, at = [], 0
    for n in sizes:
        offsets.append(at)
        at += -(-int(n) // align) * align
    return offsets, max(at, align)


def pack_parts(parts: Sequence[npt.NDArray[Any]]) -> tuple[npt.NDArray[np.uint8], list[int]]:
    """Host arrays copied into one aligned byte buffer, and each one's offset in it."""
    flat = [np.ascontiguousarray(p).reshape(-1).view(np.uint8) for p in parts]
    offsets, total = upload_layout([f.nbytes for f in flat])
    host = np.zeros(total, dtype=np.uint8)
    for f, off in zip(flat, offsets, strict=True):
        host[off : off + f.nbytes] = f
    return host, offsets


class NumpyArrays:
    """Host arrays and host addresses (the CPU check of the packing)."""

    def to_array(self, a: Any, key: str) -> Any:
        """The sample array as numpy (no copy when it already is one)."""
        arr = np.asarray(a)
        return arr.view(np.uint8) if arr.dtype == np.bool_ else arr

    def empty(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Any:
        """``np.empty``."""
        return np.empty(shape, dtype=dtype)

    def ptr(self, a: Any) -> int:
        """``a.ctypes.data``."""
        return int(a.ctypes.data)

    def upload(self, parts: Sequence[npt.NDArray[Any]]) -> tuple[Any, list[int]]:
        """One host buffer holding every part."""
        host, offsets = pack_parts(parts)
        base = int(host.ctypes.data)
        return host, [base + off for off in offsets]


def out_kind(ap: ArrayPlan) -> str:
    """What the fused kernel writes: with patch passes float32, converted at the end."""
    if ap.out_dtype == "same":
        return "same"
    return "float32" if ap.passes else ap.out_dtype


def out_dtype(kind: str, src_dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The array dtype of an output kind (bfloat16 travels as uint16 bits)."""
    table = {"float32": np.float32, "float16": np.float16, "bfloat16": np.uint16}
    return np.dtype(table[kind]) if kind in table else src_dtype


def check_batch(plans: Sequence[SamplePlan], samples: Sequence[Mapping[str, Any]]) -> list[list[ArrayInfo]]:
    """Validate every array of a batch from metadata alone (no device needed)."""
    if len(plans) != len(samples):
        raise TransformError(f"CUDA backend: {len(plans)} plans for {len(samples)} samples")
    infos: list[list[ArrayInfo]] = []
    for plan, sample in zip(plans, samples, strict=True):
        row = []
        for ap in plan.arrays:
            if ap.key not in sample:
                raise TransformError(f"CUDA backend: sample has no {ap.key!r} array")
            row.append(describe(sample[ap.key], ap.key, plan.ndim))
        infos.append(row)
    return infos


@dataclass
class Batch:
    """A built batch: the packed table and where each output goes.

    Parameters
    ----------
    table
        ``DEVICE_JOB_DTYPE`` records, addresses resolved.
    outputs
        ``(sample position, array plan, output (C, D, H, W), source was a torch tensor)``.
    keep
        Everything the addresses point into (sources, upload buffer).
    """

    table: npt.NDArray[np.void]
    outputs: list[tuple[int, ArrayPlan, Any, bool]]
    keep: list[Any]


def batch_slot(slots: Mapping[str, Any] | None, ap: ArrayPlan, k: int, ndim: int, dtype: np.dtype[Any]) -> Any | None:
    """Sample k's (C, D, H, W) slot of a batch output the kernel can write directly, else None.

    Not for arrays with patch passes (the kernel writes their float32 patch; the pass result
    is copied into the slot), nor for a slot of another dtype or a non-contiguous one.
    """
    if not slots or ap.key not in slots or ap.passes:
        return None
    v = slots[ap.key][k]
    v = v[:, None] if ndim == 2 else v
    return v if np.dtype(v.dtype) == dtype and v.flags.c_contiguous else None


def build_batch(
    plans: Sequence[SamplePlan],
    samples: Sequence[Mapping[str, Any]],
    xp: Arrays,
    slots: Mapping[str, Any] | None = None,
) -> Batch:
    """One job per array of every sample; programs and elastic grids in one upload.

    ``slots`` maps keys to batch outputs (N, C, *patch) in ``xp``'s array type, checked
    by the caller; the kernel writes straight into them where :func:`batch_slot` allows.
    """
    infos = check_batch(plans, samples)
    parts: list[npt.NDArray[Any]] = []
    specs: list[tuple[JobSpec, int, int, int]] = []  # spec, ops part, params part, grid part or -1
    outputs: list[tuple[int, ArrayPlan, Any, bool]] = []
    keep: list[Any] = []
    for k, (plan, sample) in enumerate(zip(plans, samples, strict=True)):
        sp = plan.spatial
        grid_part = -1
        if sp.grid is not None:
            parts.append(np.ascontiguousarray(sp.grid, dtype=np.float32))
            grid_part = len(parts) - 1
        for ap, info in zip(plan.arrays, infos[k], strict=True):
            src = xp.to_array(sample[ap.key], ap.key)
            src4 = src[:, None] if plan.ndim == 2 else src
            keep.append(src4)
            kind = out_kind(ap)
            odt = out_dtype(kind, info.dtype)
            out = batch_slot(slots, ap, k, plan.ndim, odt)
            if out is None:
                out = xp.empty((int(src4.shape[0]), *sp.out_shape), odt)
            parts.append(np.ascontiguousarray(ap.program.ops, dtype=np.int32))
            parts.append(np.ascontiguousarray(ap.program.params, dtype=np.float32))
            win = plan.windows.get(ap.key)  # the source is a window of its volume
            spec = JobSpec(
                src=xp.ptr(src4),
                out=xp.ptr(out),
                grid=0,
                ops=0,
                params=0,
                src_shape=tuple(int(n) for n in src4.shape),  # type: ignore[arg-type]
                src_stride=tuple(int(s) // src4.itemsize for s in src4.strides),
                out_shape=tuple(int(n) for n in out.shape),  # type: ignore[arg-type]
                src_dtype=info.dtype_code,
                out_kind=kind,
                matrix=sp.matrix,
                gshape=tuple(int(n) for n in sp.grid.shape[1:]) if sp.grid is not None else (0, 0, 0),  # type: ignore[arg-type]
                ginv=sp.grid_inv,
                n_ops=len(ap.program),
                interp=ap.interp,
                pad_mode=ap.pad_mode,
                cval=ap.pad_value,
                key=plan.key,
                index=plan.index,
                vol_shape=None if win is None else win.volume,
                origin=(0, 0, 0) if win is None else win.origin,
            )
            specs.append((spec, len(parts) - 2, len(parts) - 1, grid_part))
            outputs.append((k, ap, out, is_torch(sample[ap.key])))
    handle, ptrs = xp.upload(parts) if parts else (None, [])
    keep.append(handle)
    resolved = [
        dataclasses.replace(s, ops=ptrs[o], params=ptrs[p], grid=ptrs[g] if g >= 0 else 0) for s, o, p, g in specs
    ]
    return Batch(pack_jobs(resolved), outputs, keep)


def single_job(
    xp: Arrays, src: Any, out: Any, matrix: npt.NDArray[np.float64], interp: str, pad_mode: str = "edge"
) -> Batch:
    """A float32 -> float32 resampling job with no program (the steps of the low-res pass)."""
    empty_ops = np.zeros((0, 4), dtype=np.int32)
    handle, ptrs = xp.upload([empty_ops, np.zeros(1, np.float32)])
    spec = JobSpec(
        src=xp.ptr(src),
        out=xp.ptr(out),
        grid=0,
        ops=ptrs[0],
        params=ptrs[1],
        src_shape=tuple(int(n) for n in src.shape),  # type: ignore[arg-type]
        src_stride=tuple(int(s) // 4 for s in src.strides),  # type: ignore[arg-type]
        out_shape=tuple(int(n) for n in out.shape),  # type: ignore[arg-type]
        src_dtype=4,
        out_kind="float32",
        matrix=matrix,
        interp=interp,
        pad_mode=pad_mode,
    )
    return Batch(pack_jobs([spec]), [], [src, out, handle])
