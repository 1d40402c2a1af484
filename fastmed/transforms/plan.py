"""A fused augmentation plan: plain dataclasses and numpy arrays any backend can execute.

A :class:`SamplePlan` is everything a kernel needs for one sample and nothing it has
to compute: the map from output voxel to source coordinate (one matrix plus an
optional coarse elastic grid), and per array key the sampling mode, padding, the
fused per-voxel intensity program and the patch passes that run after it. The CPU
kernel (``csrc/cpu``), the CUDA kernel (``csrc/cuda``, same headers) and a DALI
pipeline read the same fields. Coordinates are voxel indices ``(z, y, x)``; 2D
samples are planned as 3D with a depth of one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from fastmed.transforms.schema import instructions, opcode

if TYPE_CHECKING:
    from fastmed.transforms.footprint_shape import SourceFootprint

# Opcodes, from the op schema (csrc/include/fastmed/opcodes.h is generated from it too).
OP_CLIP = opcode("clip")
OP_AFFINE = opcode("affine")
OP_GAMMA = opcode("gamma")
OP_NOISE = opcode("noise")
OP_BIAS_FIELD = opcode("bias_field")

# Fixed floats per opcode (a counted op's first float says how many more follow:
# ``schema.Instruction.param_count``).
OPCODE_PARAMS = {ins.code: len(ins.params) for ins in instructions()}

# Padding modes and interpolation of csrc/include/fastmed/sample.h.
PAD_MODES = {"constant": 0, "edge": 1, "reflect": 2}
INTERP = {"nearest": 0, "linear": 1}

PadMode = Literal["constant", "edge", "reflect"]
OutDType = Literal["float32", "float16", "bfloat16", "same"]


@dataclass(frozen=True)
class ProgramOp:
    """One instruction of an intensity program.

    Parameters
    ----------
    code
        Opcode (``OP_*``).
    params
        Its float parameters.
    channel
        The channel it applies to, ``-1`` for every channel.
    stream
        The op's position in the pipeline: the RNG stream of per-voxel draws.
    """

    code: int
    params: tuple[float, ...]
    channel: int = -1
    stream: int = 0


@dataclass(frozen=True, eq=False)
class IntensityProgram:
    """A per-voxel program: ``ops`` rows (opcode, channel, param offset, stream) and ``params``."""

    ops: npt.NDArray[np.int32]
    params: npt.NDArray[np.float32]

    @classmethod
    def build(cls, instrs: Sequence[ProgramOp]) -> IntensityProgram:
        """Pack instructions into the array layout the kernels read."""
        rows: list[tuple[int, int, int, int]] = []
        params: list[float] = []
        for ins in instrs:
            rows.append((ins.code, ins.channel, len(params), ins.stream))
            params.extend([float(v) for v in ins.params])
        ops = np.array(rows, dtype=np.int32).reshape(len(rows), 4)
        return cls(ops=ops, params=np.asarray(params if params else [0.0], dtype=np.float32))

    def __len__(self) -> int:
        return int(self.ops.shape[0])


@dataclass(frozen=True, eq=False)
class SpatialMap:
    """Output voxel ``o = (z, y, x)`` to source coordinate ``M @ (o, 1) + D(o)``.

    Parameters
    ----------
    matrix
        4x4 float64, voxel index space of the source.
    out_shape
        Output patch shape (D, H, W).
    out_spacing
        Output voxel spacing in mm (z, y, x).
    grid
        ``(3, gz, gy, gx)`` float32 control displacements in source voxels, or None.
        Node ``g`` of an axis sits at output coordinate ``(g - 1) / grid_inv``; cubic
        B-spline interpolation (see ``csrc/include/fastmed/spatial.h``).
    grid_inv
        Grid nodes per output voxel along (z, y, x).
    """

    matrix: npt.NDArray[np.float64]
    out_shape: tuple[int, int, int]
    out_spacing: tuple[float, float, float]
    grid: npt.NDArray[np.float32] | None = None
    grid_inv: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class BlurPass:
    """Separable Gaussian blur of the patch (sigma in output voxels per axis z, y, x)."""

    sigma: tuple[float, float, float]
    truncate: float = 4.0


@dataclass(frozen=True)
class LowResPass:
    """Down-sample the patch to ``shape * zoom`` (nearest), then back up (linear)."""

    zoom: tuple[float, float, float]


@dataclass(frozen=True)
class PatchNormalizePass:
    """Z-score with the statistics of the patch itself (per channel)."""

    eps: float = 1e-8


@dataclass(frozen=True, eq=False)
class ProgramPass:
    """An intensity program run in place on the patch (ops after a non-fusable pass)."""

    program: IntensityProgram


class PassRunner(Protocol):
    """Code written in Python that runs on a patch (custom ops, :mod:`fastmed.transforms.custom`).

    ``patch`` is the float32 (C, D, H, W) patch (D = 1 for 2D samples); ``ndim`` the
    sample's spatial dimensions. Both methods may work in place; they return the patch.
    """

    name: str

    def cpu(self, patch: npt.NDArray[np.float32], ndim: int, threads: int) -> npt.NDArray[np.float32]:
        """Run on a host (numpy) patch with up to ``threads`` threads (<= 0: all)."""
        ...

    def cuda(self, patch: Any, ndim: int, stream: int = 0) -> Any:
        """Run on a device patch (``__cuda_array_interface__``: CuPy, torch) on a raw stream pointer."""
        ...


@dataclass(frozen=True, eq=False)
class PythonPass:
    """A pass written in Python (a custom op), run on the patch after the fused kernel.

    It breaks fusion: the patch is written by the kernel, then read and written again
    by this pass (one extra trip through memory per custom op).
    """

    runner: PassRunner


PatchPass = BlurPass | LowResPass | PatchNormalizePass | ProgramPass | PythonPass


@dataclass(frozen=True, eq=False)
class ArrayPlan:
    """How one array of the sample (``image``, ``label`` ...) is produced.

    Parameters
    ----------
    key
        The sample key.
    interp
        ``"linear"`` or ``"nearest"``.
    pad_mode, pad_value
        What taps outside the source read.
    program
        The fused per-voxel intensity program (empty for labels).
    passes
        Patch passes after the fused kernel, in order.
    out_dtype
        ``"float32"``, ``"float16"``, ``"bfloat16"`` or ``"same"`` (the source dtype; labels).
    """

    key: str
    interp: Literal["linear", "nearest"]
    pad_mode: PadMode
    pad_value: float
    program: IntensityProgram
    passes: tuple[PatchPass, ...] = ()
    out_dtype: OutDType = "float32"


@dataclass(frozen=True)
class Window:
    """Where an array's source sits in its volume: the source holds ``[origin, origin + shape)``.

    Parameters
    ----------
    origin
        The window's first voxel in the volume, (z, y, x) (z = 0 for 2D samples).
    volume
        The whole volume's extents (D, H, W) (D = 1 for 2D samples). Padding is decided
        against it; the kernels read voxel ``i`` at window index ``i - origin``.
    """

    origin: tuple[int, int, int]
    volume: tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class SamplePlan:
    """Everything needed to produce one augmented sample.

    Parameters
    ----------
    spatial
        The fused spatial map.
    arrays
        One plan per array key.
    key
        Philox key words ``derive_key(seed, epoch)`` for per-voxel draws.
    index
        Sample index (counter word of per-voxel draws).
    ndim
        Spatial dimensions of the sample (2 or 3).
    windows
        Per array key, the :class:`Window` its source holds (absent: the whole volume).
    """

    spatial: SpatialMap
    arrays: tuple[ArrayPlan, ...]
    key: tuple[int, int]
    index: int
    ndim: int = 3
    notes: dict[str, object] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)

    def source_bbox(self, volume_shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The half-open box ``(lo, hi)`` of source voxels the output can read.

        See :func:`fastmed.transforms.footprint.source_bbox`.
        """
        from fastmed.transforms.footprint import source_bbox

        return source_bbox(self, volume_shape)

    def source_footprint(self, volume_shape: Sequence[int]) -> SourceFootprint:
        """Which boxes of source voxels the output can read (exact, unlike the bbox under rotations).

        See :class:`fastmed.transforms.footprint_shape.SourceFootprint`.
        """
        from fastmed.transforms.footprint_shape import SourceFootprint

        return SourceFootprint(self, volume_shape)
