"""RandomAffine: rotation, scale, shear and translation about the image centre, in mm."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms._geometry import rotation, rotations
from fastmed.transforms.base import BatchSteps, Context, Params, SpatialOp, SpatialStep, as_range, check_p, register

Range = tuple[float, float]


def _degree_ranges(degrees: Any) -> tuple[Range, ...]:
    if isinstance(degrees, int | float):
        return ((-float(degrees), float(degrees)),) * 3
    if len(degrees) == 2 and all(isinstance(v, int | float) for v in degrees):
        return (as_range(degrees, "degrees"),) * 3
    if len(degrees) == 3:
        return tuple(as_range(v, "degrees", symmetric=True) for v in degrees)
    raise TransformError(f"RandomAffine: degrees must be a number, (lo, hi) or 3 of them, got {degrees!r}")


@register
@dataclass(frozen=True)
class RandomAffine(SpatialOp):
    """Random rotation, scaling, shear and translation about the centre of the image.

    The content is rotated by angles about the z, y and x axes (2D: one angle in the
    (y, x) plane, taken from the z-axis range), magnified by ``scale`` (> 1 zooms in),
    sheared and moved by ``translate`` mm. A rotation by +90 degrees about z equals
    ``numpy.rot90(k=1, axes=(y, x))`` on a cube. The output grid keeps the input shape.

    Parameters
    ----------
    degrees
        Symmetric bound, ``(lo, hi)`` for every axis, or one of those per axis (z, y, x).
    scale
        Magnification range ``(lo, hi)`` (or one number: fixed).
    isotropic
        One scale factor for every axis (else one per axis).
    shear
        Shear factor range for each off-diagonal term (a number means ``(-v, v)``).
    translate
        Translation range in mm for every axis (a number means ``(-v, v)``).
    p
        Probability of applying the transform.
    """

    degrees: Any = 0.0
    scale: Any = 1.0
    isotropic: bool = True
    shear: Any = 0.0
    translate: Any = 0.0
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomAffine")
        _degree_ranges(self.degrees)
        lo, _ = as_range(self.scale, "scale")
        if lo <= 0:
            raise TransformError(f"RandomAffine: scale must be positive, got {self.scale!r}")
        as_range(self.shear, "shear", symmetric=True)
        as_range(self.translate, "translate", symmetric=True)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply, angles (deg), scale factors, shear factors and translation (mm)."""
        d = ctx.ndim
        apply = rng.bernoulli(self.p)
        ranges = _degree_ranges(self.degrees)[: (3 if d == 3 else 1)]
        angles = [float(rng.uniform(lo, hi)) for lo, hi in ranges]
        s_lo, s_hi = as_range(self.scale, "scale")
        n_scale = 1 if self.isotropic else d
        scales = [float(rng.uniform(s_lo, s_hi)) for _ in range(n_scale)]
        sh_lo, sh_hi = as_range(self.shear, "shear", symmetric=True)
        shear = [float(rng.uniform(sh_lo, sh_hi)) for _ in range(d * (d - 1))]
        t_lo, t_hi = as_range(self.translate, "translate", symmetric=True)
        shift = [float(rng.uniform(t_lo, t_hi)) for _ in range(d)]
        if not apply:
            angles = [0.0] * len(angles)
            scales = [1.0] * n_scale
            shear = [0.0] * len(shear)
            shift = [0.0] * d
        return {"apply": apply, "degrees": angles, "scale": scales, "shear": shear, "translate": shift}

    def draw_batch(self, rng: BatchRNG, ctxs: Sequence[Context]) -> list[Params]:
        """:meth:`sample_params` of every row in one draw (the same uniforms in the same order)."""
        d = ctxs[0].ndim
        n_scale = 1 if self.isotropic else d
        ranges = [
            *_degree_ranges(self.degrees)[: (3 if d == 3 else 1)],
            *[as_range(self.scale, "scale")] * n_scale,
            *[as_range(self.shear, "shear", symmetric=True)] * (d * (d - 1)),
            *[as_range(self.translate, "translate", symmetric=True)] * d,
        ]
        u = rng.random(1 + len(ranges))
        lo = np.asarray([r[0] for r in ranges])
        hi = np.asarray([r[1] for r in ranges])
        vals = (lo + (hi - lo) * u[:, 1:]).tolist()
        apply = (u[:, 0] < self.p).tolist()
        na = 3 if d == 3 else 1
        cuts = np.cumsum([na, n_scale, d * (d - 1)]).tolist()
        out: list[Params] = []
        for a, row in zip(apply, vals, strict=True):
            if not a:
                row = [0.0] * na + [1.0] * n_scale + [0.0] * (len(row) - na - n_scale)
            out.append(
                {
                    "apply": a,
                    "degrees": row[: cuts[0]],
                    "scale": row[cuts[0] : cuts[1]],
                    "shear": row[cuts[1] : cuts[2]],
                    "translate": row[cuts[2] :],
                }
            )
        return out

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """``in = c + S^-1 A^-1 (S (out - c) - t)`` with S = diag(spacing), A the content map."""
        d = ctx.ndim
        rot = rotation(np.deg2rad(params["degrees"]), d)
        scales = np.asarray(params["scale"], dtype=np.float64)
        zoom = np.diag(np.broadcast_to(scales, (d,)).astype(np.float64))
        shear = np.eye(d)
        off = [(i, j) for i in range(d) for j in range(d) if i != j]
        for (i, j), v in zip(off, params["shear"], strict=True):
            shear[i, j] = v
        a = rot @ zoom @ shear
        sp = np.asarray(ctx.spacing, dtype=np.float64)
        lin = np.diag(1.0 / sp) @ np.linalg.inv(a) @ np.diag(sp)
        c = (np.asarray(ctx.shape, dtype=np.float64) - 1.0) / 2.0
        t_vox = np.diag(1.0 / sp) @ np.linalg.inv(a) @ np.asarray(params["translate"], dtype=np.float64)
        m = np.eye(d + 1)
        m[:d, :d] = lin
        m[:d, d] = c - lin @ c - t_vox
        return SpatialStep(m, ctx.shape, ctx.spacing)

    def steps(self, params: Sequence[Params], ctxs: Sequence[Context]) -> BatchSteps:
        """:meth:`step` of every row, bit for bit: the same products, stacked (numpy runs them matrix by matrix).

        A product with a diagonal matrix is a row or column scaling here: it has one non-zero
        term per entry, so it rounds the same.
        """
        d, n = ctxs[0].ndim, len(ctxs)
        rot = rotations(np.deg2rad(np.asarray([p["degrees"] for p in params], dtype=np.float64)), d)
        scales = np.broadcast_to(np.asarray([p["scale"] for p in params], dtype=np.float64), (n, d))
        shear = np.zeros((n, d, d))
        shear.reshape(n, -1)[:, :: d + 1] = 1.0
        off = [(i, j) for i in range(d) for j in range(d) if i != j]
        shear[:, [i for i, _ in off], [j for _, j in off]] = [p["shear"] for p in params]
        a = (rot * scales[:, None, :]) @ shear  # rot @ diag(scale) @ shear
        sp = np.asarray([ctx.spacing for ctx in ctxs], dtype=np.float64)
        to_vox = (1.0 / sp)[:, :, None] * np.linalg.inv(a)  # diag(1 / sp) @ inv(a)
        lin = to_vox * sp[:, None, :]  # ... @ diag(sp)
        centre = (np.asarray([ctx.shape for ctx in ctxs], dtype=np.float64) - 1.0) / 2.0
        t = np.asarray([p["translate"] for p in params], dtype=np.float64)
        m = np.zeros((n, d + 1, d + 1))
        m[:, d, d] = 1.0
        m[:, :d, :d] = lin
        m[:, :d, d] = centre - (lin @ centre[:, :, None])[:, :, 0] - (to_vox @ t[:, :, None])[:, :, 0]
        return BatchSteps(m, [ctx.shape for ctx in ctxs], [ctx.spacing for ctx in ctxs])
