"""Op specs: frozen dataclasses with a registry keyed by op name.

An op is its configuration. ``sample_params(rng, ctx)`` draws its random numbers on
the host (from a :class:`fastmed.rng.KeyedRNG` keyed by seed, epoch, sample index and
the op's position); turning params into plan pieces is a separate, deterministic
step, so any augmentation can be replayed from its params.

The batch planner draws and compiles many samples at once: ``draw_batch`` (from a
:class:`fastmed.rng.BatchRNG`), ``SpatialOp.steps`` and ``SpatialOp.displacements`` take
lists of samples and must equal the per-sample methods row by row, bit for bit. The
defaults here loop over the per-sample methods; ops on the hot path override them with
vectorized numpy code that does the same arithmetic in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms.plan import PatchPass, ProgramOp

Params = dict[str, Any]
_REGISTRY: dict[str, type[Op]] = {}
T = TypeVar("T", bound="type[Op]")


def register(cls: T) -> T:
    """Class decorator adding an op to the registry under its class name."""
    name = cls.__name__
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise TransformError(f"op {name!r} is registered twice")
    _REGISTRY[name] = cls
    return cls


def registered_ops() -> dict[str, type[Op]]:
    """Return a copy of the registry (op name to class)."""
    return dict(_REGISTRY)


def op_from_dict(d: dict[str, Any]) -> Op:
    """Rebuild an op from :meth:`Op.to_dict` output."""
    name = d.get("op")
    if name not in _REGISTRY:
        raise TransformError(f"unknown op {name!r} (registered: {sorted(_REGISTRY)})")
    return _REGISTRY[str(name)].from_dict(d)


def _to_tuple(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return tuple(_to_tuple(x) for x in v)
    return v


def _to_list(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_to_list(x) for x in v]
    return v


@dataclass(frozen=True)
class Context:
    """What an op may know about the sample when drawing its params.

    Parameters
    ----------
    ndim
        Spatial dimensions (2 or 3).
    shape
        Current spatial shape (after the spatial ops before this one).
    spacing
        Current spacing in mm, same axis order.
    channels
        Number of image channels.
    out_shape, out_spacing
        Shape and spacing of the final patch (known to RandomElastic and intensity ops).
    """

    ndim: int
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    channels: int = 1
    out_shape: tuple[int, ...] | None = None
    out_spacing: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Op:
    """Base of every op spec (frozen dataclass config)."""

    kind: ClassVar[str] = "op"

    def to_dict(self) -> dict[str, Any]:
        """Serialize the config to a JSON-friendly dict with an ``op`` name."""
        d: dict[str, Any] = {"op": type(self).__name__}
        for f in dataclasses.fields(self):
            d[f.name] = _to_list(getattr(self, f.name))
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Op:
        """Build the op from :meth:`to_dict` output (lists become tuples)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names - {"op"}
        if unknown:
            raise TransformError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
        return cls(**{k: _to_tuple(v) for k, v in d.items() if k in names})

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw this op's parameters (deterministic ops return their fixed values)."""
        return {}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of many samples: row ``i`` of ``rng`` with ``ctxs[i]``, bit for bit.

        The default draws row by row; ops on the hot path override it with one vectorized draw.
        """
        if type(self).sample_params is Op.sample_params:
            return [{} for _ in ctxs]
        return [self.sample_params(rng.row(i), ctx) for i, ctx in enumerate(ctxs)]


@dataclass(frozen=True)
class SpatialStep:
    """The backward map of one spatial op: its output voxel to its input voxel.

    ``matrix`` is (ndim+1)x(ndim+1) in the op's own voxel index spaces.
    """

    matrix: npt.NDArray[np.float64]
    out_shape: tuple[int, ...]
    out_spacing: tuple[float, ...]


@dataclass(frozen=True)
class BatchSteps:
    """The backward maps of one spatial op for many samples.

    ``matrices`` is ``(n, ndim+1, ndim+1)``; ``out_shapes`` and ``out_spacings`` one tuple per sample.
    """

    matrices: npt.NDArray[np.float64]
    out_shapes: list[tuple[int, ...]]
    out_spacings: list[tuple[float, ...]]


Field = tuple[npt.NDArray[np.float32], tuple[float, float, float]]


@dataclass(frozen=True)
class SpatialOp(Op):
    """An op that changes where output voxels read from."""

    kind: ClassVar[str] = "spatial"
    #: What the op contributes to the fused spatial map: ``"matrix"`` (a backward affine
    #: :meth:`step`, composed in order; its params see the grid left by the ops before it)
    #: or ``"displacement"`` (a field on the output patch from :meth:`displacement`, drawn
    #: after the matrix walk with the final patch known; at most one per pipeline).
    contributes: ClassVar[str] = "matrix"

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """The backward map for these params at this context."""
        raise NotImplementedError

    def displacement(
        self, params: Params, matrix: npt.NDArray[np.float64], ctx: Context
    ) -> tuple[npt.NDArray[np.float32], tuple[float, float, float]] | None:
        """A ``"displacement"`` op's field in source voxels (3, gz, gy, gx) and its inverse grid spacing.

        ``matrix`` is the composed output-to-source voxel map of the matrix ops and ``ctx``
        the final patch; None when these params leave voxels in place.
        """
        return None

    def padding(self) -> tuple[str, float] | None:
        """Padding mode and value this op asks for, or None to keep the pipeline's."""
        return None

    def steps(self, params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
        """:meth:`step` of many samples (one ndim), stacked; vectorized ops override it."""
        out = [self.step(p, c) for p, c in zip(params, ctxs, strict=True)]
        return BatchSteps(
            np.stack([np.asarray(s.matrix, dtype=np.float64) for s in out]),
            [tuple(int(n) for n in s.out_shape) for s in out],
            [tuple(float(v) for v in s.out_spacing) for s in out],
        )

    def displacements(
        self, params: Sequence[Params], matrices: npt.NDArray[np.float64], ctxs: Sequence[Context]
    ) -> list[Field | None]:
        """:meth:`displacement` of many samples (``matrices`` stacked); vectorized ops override it."""
        return [self.displacement(p, m, c) for p, m, c in zip(params, matrices, ctxs, strict=True)]


@dataclass(frozen=True)
class IntensityContext:
    """What an intensity op may use when emitting instructions.

    Parameters
    ----------
    channels
        Number of image channels.
    position
        The op's position in the pipeline (its RNG stream).
    value_range
        The value range known from earlier ops (Window, ScaleIntensity ...), or None.
    stats
        ``stats(channel) -> (mean, std, min, max)`` of the image as produced by the
        instructions emitted so far, estimated from a strided subsample of the source
        (see :mod:`fastmed.transforms.stats`).
    """

    channels: int
    position: int
    value_range: tuple[float, float] | None
    stats: Callable[[int], tuple[float, float, float, float]]


Instr = ProgramOp | PatchPass


@dataclass(frozen=True)
class IntensityOp(Op):
    """An op on voxel values: emits program instructions or a patch pass."""

    kind: ClassVar[str] = "intensity"

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """The instructions for these params."""
        raise NotImplementedError

    def output_range(self, params: Params, in_range: tuple[float, float] | None) -> tuple[float, float] | None:
        """The value range after this op, if known."""
        return None


def as_range(v: float | tuple[float, float], name: str, symmetric: bool = False) -> tuple[float, float]:
    """Normalize ``v`` or ``(lo, hi)`` to a ``(lo, hi)`` tuple (``(-v, v)`` if symmetric)."""
    if isinstance(v, int | float):
        return (-float(v), float(v)) if symmetric else (float(v), float(v))
    if len(v) != 2 or v[0] > v[1]:
        raise TransformError(f"{name} must be a number or (low, high) with low <= high, got {v!r}")
    return (float(v[0]), float(v[1]))


def check_p(p: float, name: str) -> None:
    """Raise TransformError unless 0 <= p <= 1."""
    if not 0.0 <= p <= 1.0:
        raise TransformError(f"{name}: p must be in [0, 1], got {p}")


def draw_fields(rng: BatchRNG, p: float, fields: Sequence[tuple[str, float, float]]) -> list[Params]:
    """``{"apply": bernoulli(p), name: uniform(lo, hi), ...}`` per row, drawn in that order.

    The vectorized form of an op whose ``sample_params`` is one Bernoulli then one
    ``uniform`` per field (each a float, as ``float(rng.uniform(lo, hi))`` gives).
    """
    u = rng.random(1 + len(fields))
    apply = (u[:, 0] < p).tolist()
    cols = [(lo + (hi - lo) * u[:, 1 + k]).tolist() for k, (_, lo, hi) in enumerate(fields)]
    names = [name for name, _, _ in fields]
    out: list[Params] = []
    for i, a in enumerate(apply):
        d: Params = {"apply": a}
        for name, col in zip(names, cols, strict=True):
            d[name] = col[i]
        out.append(d)
    return out


def skip(rng: KeyedRNG, p: float) -> bool:
    """One Bernoulli draw (always made first, so the rest of the stream is fixed): True = not applied."""
    return not rng.bernoulli(p)
