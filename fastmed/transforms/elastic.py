"""RandomElastic: a smooth random displacement from a coarse control grid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms.base import (
    Context,
    Field,
    Params,
    SpatialOp,
    SpatialStep,
    as_range,
    check_p,
    register,
)


def grid_layout(
    out_shape: tuple[int, ...], out_spacing: tuple[float, ...], grid_spacing: float
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Control-grid shape and nodes-per-voxel for a patch (one extra node before, two after)."""
    shape: list[int] = []
    inv: list[float] = []
    for n, sp in zip(out_shape, out_spacing, strict=True):
        if n <= 1:
            shape.append(1)
            inv.append(0.0)
        else:
            k = float(sp) / float(grid_spacing)
            shape.append(int(np.floor((n - 1) * k + 1e-9)) + 4)
            inv.append(k)
    return tuple(shape), tuple(inv)


@register
@dataclass(frozen=True)
class RandomElastic(SpatialOp):
    """Displace every output voxel by a smooth random field (cubic B-spline of a control grid).

    Control vectors are standard normal, then scaled so the longest is ``magnitude``
    mm; B-spline weights are non-negative and sum to one, so no voxel moves further
    than that. The field lives on the output patch (its axes and spacing): its place
    among the spatial ops does not matter, and the fused kernel evaluates it on the fly.

    Parameters
    ----------
    magnitude
        Largest displacement in mm: a number or ``(lo, hi)`` to draw from.
    grid_spacing
        Distance between control points in mm (larger = smoother).
    p
        Probability of applying the transform.
    """

    contributes: ClassVar[str] = "displacement"

    magnitude: Any = (0.0, 5.0)
    grid_spacing: float = 32.0
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomElastic")
        lo, _ = as_range(self.magnitude, "magnitude")
        if lo < 0:
            raise TransformError("RandomElastic: magnitude must be >= 0")
        if not self.grid_spacing > 0:
            raise TransformError("RandomElastic: grid_spacing must be > 0")

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw the control grid ``(ndim, *grid_shape)`` in mm along the output axes."""
        out_shape = ctx.out_shape if ctx.out_shape is not None else ctx.shape
        out_spacing = ctx.out_spacing if ctx.out_spacing is not None else ctx.spacing
        gshape, inv = grid_layout(tuple(out_shape), tuple(out_spacing), self.grid_spacing)
        apply = rng.bernoulli(self.p)
        lo, hi = as_range(self.magnitude, "magnitude")
        mag = float(rng.uniform(lo, hi))
        g = np.asarray(rng.normal(size=(ctx.ndim, *gshape)), dtype=np.float64)
        for a, n in enumerate(gshape):
            if n == 1:  # a flat axis (2D depth) never moves
                g[a] = 0.0
        longest = float(np.sqrt((g**2).sum(axis=0)).max()) if g.size else 0.0
        grid = g * (mag / longest) if (apply and longest > 0) else np.zeros_like(g)
        return {
            "apply": apply,
            "magnitude": mag if apply else 0.0,
            "grid": grid.astype(np.float32),
            "grid_inv": list(inv),
        }

    def _layouts(self, ctxs: Sequence[Context]) -> list[tuple[tuple[int, ...], tuple[float, ...]]]:
        """:func:`grid_layout` of each row's final patch (computed once per distinct patch)."""
        seen: dict[tuple[Any, Any], tuple[tuple[int, ...], tuple[float, ...]]] = {}
        out = []
        for c in ctxs:
            key = (
                c.out_shape if c.out_shape is not None else c.shape,
                c.out_spacing if c.out_spacing is not None else c.spacing,
            )
            if key not in seen:
                seen[key] = grid_layout(tuple(key[0]), tuple(key[1]), self.grid_spacing)
            out.append(seen[key])
        return out

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw (rows whose grids differ in shape: row by row)."""
        layouts = self._layouts(ctxs)
        gshape = layouts[0][0]
        if any(lay[0] != gshape for lay in layouts):
            return super().draw_batch(rng, ctxs)
        d = ctxs[0].ndim
        lo, hi = as_range(self.magnitude, "magnitude")
        u = rng.random(2)
        apply = (u[:, 0] < self.p).tolist()
        mag = lo + (hi - lo) * u[:, 1]
        g = rng.normal(size=(d, *gshape))
        for a, n in enumerate(gshape):
            if n == 1:  # a flat axis (2D depth) never moves
                g[:, a] = 0.0
        longest = np.sqrt((g**2).sum(axis=1)).reshape(len(ctxs), -1).max(axis=1)
        scale = np.divide(mag, longest, out=np.zeros_like(mag), where=longest > 0)
        grid = (g * scale.reshape((-1,) + (1,) * (g.ndim - 1))).astype(np.float32)
        out: list[Params] = []
        for i, (a, m) in enumerate(zip(apply, mag.tolist(), strict=True)):
            ok = a and longest[i] > 0
            out.append(
                {
                    "apply": a,
                    "magnitude": m if a else 0.0,
                    "grid": grid[i] if ok else np.zeros(grid.shape[1:], dtype=np.float32),
                    "grid_inv": list(layouts[i][1]),
                }
            )
        return out

    def displacement(
        self, params: Params, matrix: npt.NDArray[np.float64], ctx: Context
    ) -> tuple[npt.NDArray[np.float32], tuple[float, float, float]] | None:
        """Control vectors in output mm -> output voxels -> source voxels (linear part of the map)."""
        p, m = params, matrix
        if not p.get("apply", True):
            return None
        d = ctx.ndim
        g = np.asarray(p["grid"], dtype=np.float64)
        if g.shape[0] != d:
            raise TransformError(f"RandomElastic params: grid has {g.shape[0]} components for a {d}-D sample")
        vox = g / np.asarray(ctx.spacing, dtype=np.float64).reshape((d,) + (1,) * d)
        # A d-term sum per component, not tensordot: a BLAS call here wakes OpenBLAS's
        # threads, which then spin beside the native kernel's threads.
        src = sum(m[:d, k, None].reshape((d,) + (1,) * d) * vox[k] for k in range(d))
        inv = [float(v) for v in p["grid_inv"]]
        if d == 2:
            src = np.concatenate([np.zeros((1, *src.shape[1:])), src])[:, None]
            inv = [0.0, *inv]
        return np.ascontiguousarray(src, dtype=np.float32), (inv[0], inv[1], inv[2])

    def displacements(
        self, params: Sequence[Params], matrices: npt.NDArray[np.float64], ctxs: Sequence[Context]
    ) -> list[Field | None]:
        """:meth:`displacement` of every row, vectorized over the rows that apply a grid of one shape."""
        rows = [i for i, p in enumerate(params) if p.get("apply", True)]
        d = ctxs[0].ndim
        grids = [np.asarray(params[i]["grid"]) for i in rows]
        if len(rows) < 2 or any(g.shape != grids[0].shape or g.shape[0] != d for g in grids):
            return super().displacements(params, matrices, ctxs)
        vox = np.stack(grids, dtype=np.float64)
        sp = np.asarray([ctxs[i].spacing for i in rows], dtype=np.float64)
        vox /= sp.reshape(sp.shape + (1,) * d)
        m = matrices[rows]
        lead = (len(rows), d) + (1,) * d
        # The order of the per-sample ``sum``: ((0 + term 0) + term 1) + term 2.
        src = m[:, :d, 0].reshape(lead) * vox[:, 0:1]
        src += 0.0
        for k in range(1, d):
            src += m[:, :d, k].reshape(lead) * vox[:, k : k + 1]
        if d == 2:
            src = np.concatenate([np.zeros((len(rows), 1, *src.shape[2:])), src], axis=1)[:, :, None]
        field = src.astype(np.float32)
        out: list[Field | None] = [None] * len(params)
        for pos, i in enumerate(rows):
            inv = [float(v) for v in params[i]["grid_inv"]]
            inv = [0.0, *inv] if d == 2 else inv
            out[i] = (field[pos], (inv[0], inv[1], inv[2]))
        return out

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """Identity: the displacement is added by the fused map, not the matrix."""
        return SpatialStep(np.eye(ctx.ndim + 1), ctx.shape, ctx.spacing)
