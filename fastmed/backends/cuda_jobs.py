"""Host side of the CUDA backend that needs no device: the job table and the launch shape.

``fm_augment_batch`` (``csrc/cuda/augment_kernels.cu``) reads a table of
``fm::DeviceJob`` records (``csrc/include/fastmed/augment.h``) from device memory.
:data:`DEVICE_JOB_DTYPE` is that struct as a numpy structured dtype, laid out by
numpy's C alignment rules (``align=True``); the tests compare it with the offsets the
host compiler reports (``fastmed._core.device_job_layout``) and with ``sizeof`` under
NVRTC and nvcc, so a field added to one side only fails on a CPU. Pointers are plain
64-bit integers here: device addresses for the GPU, host addresses for the CPU check
(``fastmed._core._augment_packed_jobs``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.transforms.plan import INTERP, PAD_MODES
from fastmed.transforms.schema import DEVICE_SOURCE_DTYPES, DTYPE_CODES
from fastmed.transforms.schema import OUT_KINDS as SCHEMA_OUT_KINDS

# (name, numpy type, count) in declaration order of fm::DeviceJob.
FIELDS: tuple[tuple[str, str, int], ...] = (
    ("src", "<u8", 1),
    ("out", "<u8", 1),
    ("grid", "<u8", 1),
    ("ops", "<u8", 1),
    ("params", "<u8", 1),
    ("src_shape", "<i8", 4),
    ("src_stride", "<i8", 4),
    ("out_shape", "<i8", 4),
    ("gshape", "<i8", 3),
    ("vol_shape", "<i8", 3),
    ("origin", "<i8", 3),
    ("n_ops", "<i8", 1),
    ("m", "<f4", 12),
    ("ginv", "<f4", 3),
    ("cval", "<f4", 1),
    ("key", "<u4", 2),
    ("index", "<u4", 1),
    ("src_dtype", "<i4", 1),
    ("out_kind", "<i4", 1),
    ("interp", "<i4", 1),
    ("pad_mode", "<i4", 1),
)

DEVICE_JOB_DTYPE = np.dtype([(n, t) if c == 1 else (n, t, (c,)) for n, t, c in FIELDS], align=True)

# fm::DeviceDType and fm::DeviceOut (fastmed/opcodes.h), both from the op schema.
SRC_DTYPES: dict[np.dtype[np.generic], int] = {np.dtype(n): DTYPE_CODES[n] for n in DEVICE_SOURCE_DTYPES}
OUT_KINDS = dict(SCHEMA_OUT_KINDS)

# Kernel launch limits: gridDim.z (jobs per launch) and a cap on blocks per job
# (the kernel is grid-stride, so fewer blocks only means more voxels per thread).
MAX_JOBS_PER_LAUNCH = 65535
MAX_BLOCKS_X = 65535
BLOCK = 256


def source_dtype_code(dtype: npt.DTypeLike, key: str) -> int:
    """The kernel's code of a source dtype; TransformError for the unsupported ones."""
    dt = np.dtype(dtype)
    if dt == np.bool_:
        dt = np.dtype(np.uint8)
    if dt.byteorder == ">":
        raise TransformError(f"sample[{key!r}]: big-endian arrays are not supported")
    code = SRC_DTYPES.get(dt.newbyteorder("="))
    if code is None:
        raise TransformError(
            f"sample[{key!r}]: dtype {dt} is not supported (uint8, int16, uint16, int32, float32); "
            "convert once when caching, the kernel never makes a float copy of a volume"
        )
    return code


def element_strides(byte_strides: Sequence[int], itemsize: int, key: str) -> tuple[int, ...]:
    """Byte strides to element strides (the kernel indexes typed pointers)."""
    out = []
    for s in byte_strides:
        if int(s) % itemsize:
            raise TransformError(f"sample[{key!r}]: strides {tuple(byte_strides)} are not multiples of the item size")
        out.append(int(s) // itemsize)
    return tuple(out)


@dataclass(frozen=True)
class JobSpec:
    """One array of one sample, as the kernel sees it (pointers already resolved).

    Parameters
    ----------
    src, out, grid, ops, params
        Addresses (0 for no elastic grid).
    src_shape, src_stride
        Source (C, D, H, W) shape and element strides: the window the source holds.
    out_shape
        Output (C, D, H, W), C-contiguous.
    src_dtype
        Code from :data:`SRC_DTYPES`.
    out_kind
        ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"same"``.
    matrix
        4x4 (or 3x4) output-voxel to source-voxel map.
    gshape, ginv
        Elastic grid nodes (gz, gy, gx) and nodes per output voxel.
    n_ops
        Intensity program length.
    interp, pad_mode, cval
        Sampling (names of ``INTERP`` / ``PAD_MODES``) and the constant padding value.
    key, index
        Philox key words and sample index.
    vol_shape, origin
        The whole volume's (D, H, W) (None: the source is the whole volume) and the
        window's first voxel in it; padding is decided against the volume.
    """

    src: int
    out: int
    grid: int
    ops: int
    params: int
    src_shape: tuple[int, int, int, int]
    src_stride: tuple[int, int, int, int]
    out_shape: tuple[int, int, int, int]
    src_dtype: int
    out_kind: str
    matrix: npt.NDArray[np.float64]
    gshape: tuple[int, int, int] = (0, 0, 0)
    ginv: tuple[float, float, float] = (0.0, 0.0, 0.0)
    n_ops: int = 0
    interp: str = "linear"
    pad_mode: str = "constant"
    cval: float = 0.0
    key: tuple[int, int] = (0, 0)
    index: int = 0
    vol_shape: tuple[int, int, int] | None = None
    origin: tuple[int, int, int] = (0, 0, 0)


def pack_jobs(specs: Sequence[JobSpec]) -> npt.NDArray[np.void]:
    """Pack job specs into a :data:`DEVICE_JOB_DTYPE` table (the bytes the kernel reads)."""
    table = np.zeros(len(specs), dtype=DEVICE_JOB_DTYPE)
    for k, s in enumerate(specs):
        if s.interp not in INTERP or s.pad_mode not in PAD_MODES or s.out_kind not in OUT_KINDS:
            raise TransformError(f"job {k}: bad interp {s.interp!r}, pad_mode {s.pad_mode!r} or output {s.out_kind!r}")
        if s.src_dtype not in SRC_DTYPES.values():
            raise TransformError(f"job {k}: unknown source dtype code {s.src_dtype}")
        if s.src == 0 or s.out == 0 or (s.n_ops > 0 and (s.ops == 0 or s.params == 0)):
            raise TransformError(f"job {k}: null array address")
        if any(n <= 0 for n in (*s.src_shape, *s.out_shape)):
            raise TransformError(f"job {k}: empty axis in source {s.src_shape} or output {s.out_shape}")
        if s.src_shape[0] != s.out_shape[0]:
            raise TransformError(f"job {k}: source has {s.src_shape[0]} channels, output {s.out_shape[0]}")
        vol = tuple(s.src_shape[1:]) if s.vol_shape is None else tuple(s.vol_shape)
        if (
            len(vol) != 3
            or len(s.origin) != 3
            or any(o < 0 or n <= 0 or w > n - o for o, n, w in zip(s.origin, vol, s.src_shape[1:], strict=True))
        ):
            raise TransformError(f"job {k}: window {s.src_shape[1:]} at {s.origin} is not inside the volume {vol}")
        if s.grid and any(n <= 0 for n in s.gshape):
            raise TransformError(f"job {k}: elastic grid shape {s.gshape} is empty")
        m = np.asarray(s.matrix, dtype=np.float64)
        if m.shape not in ((4, 4), (3, 4)):
            raise TransformError(f"job {k}: matrix must be 4x4 or 3x4, got {m.shape}")
        r = table[k]
        r["src"], r["out"], r["grid"], r["ops"], r["params"] = s.src, s.out, s.grid, s.ops, s.params
        r["src_shape"], r["src_stride"], r["out_shape"] = s.src_shape, s.src_stride, s.out_shape
        r["gshape"] = s.gshape if s.grid else (0, 0, 0)
        r["vol_shape"], r["origin"] = vol, s.origin
        r["ginv"] = s.ginv if s.grid else (0.0, 0.0, 0.0)
        r["n_ops"] = s.n_ops
        r["m"] = m[:3, :4].astype(np.float32).ravel()
        r["cval"] = np.float32(s.cval)
        r["key"] = (s.key[0] & 0xFFFFFFFF, s.key[1] & 0xFFFFFFFF)
        r["index"] = s.index & 0xFFFFFFFF
        r["src_dtype"] = s.src_dtype
        r["out_kind"] = OUT_KINDS[s.out_kind]
        r["interp"] = INTERP[s.interp]
        r["pad_mode"] = PAD_MODES[s.pad_mode]
    return table


@dataclass(frozen=True)
class Launch:
    """One ``fm_augment_batch`` launch: jobs ``[first, first + count)`` of the table."""

    first: int
    count: int
    grid: tuple[int, int, int]
    block: tuple[int, int, int]


def launch_plan(voxels_per_job: Sequence[int], block: int = BLOCK) -> list[Launch]:
    """The launches that cover a batch: one, unless it holds more than 65535 jobs.

    Grid x covers the largest job's voxels (capped; the kernel strides over the rest),
    grid z indexes the job.
    """
    if block <= 0 or block > 1024 or block % 32:
        raise TransformError(f"block size must be a multiple of 32 in [32, 1024], got {block}")
    if any(int(n) <= 0 for n in voxels_per_job):
        raise TransformError("every job must have at least one output voxel")
    out: list[Launch] = []
    for first in range(0, len(voxels_per_job), MAX_JOBS_PER_LAUNCH):
        chunk = voxels_per_job[first : first + MAX_JOBS_PER_LAUNCH]
        bx = min(MAX_BLOCKS_X, max(1, math.ceil(max(int(n) for n in chunk) / block)))
        out.append(Launch(first, len(chunk), (bx, 1, len(chunk)), (block, 1, 1)))
    return out


def linear_launch(n: int, block: int = BLOCK) -> tuple[tuple[int], tuple[int]]:
    """Grid and block of a 1-D grid-stride kernel over ``n`` items."""
    return (min(MAX_BLOCKS_X * 16, max(1, math.ceil(n / block))),), (block,)
