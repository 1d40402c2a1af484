"""The exact source footprint of a plan: which boxes of source voxels its output can read.

:func:`~fastmed.transforms.footprint.source_bbox` gives the axis-aligned box of every voxel a
plan can read. Under a rotation that box is much larger than the region actually sampled:
the source coordinates of the output patch lie in the image of the output box under the
plan's matrix (a parallelepiped ``P``), widened by the elastic grid's displacement (a box
``D``: cubic B-spline weights are non-negative and sum to one) and the float32 slack of
:func:`~fastmed.transforms.footprint.coord_range`. A box ``B`` of source voxels is read only
when some coordinate ``c`` of ``P + D`` has a tap (linear: ``floor(c)`` and ``floor(c) + 1``;
nearest: ``floor(c + 0.5)``) that the array's padding maps into ``B``.

:class:`SourceFootprint` answers that question for many boxes at once. Per axis the taps are
split into cells on which the padding is one affine map (inside: ``v = t``; reflect: mirrored
copies ``v = ±t + o``; edge: the constant border voxel), so the taps landing in ``B`` from one
cell form a box; widened by the tap support and by ``D`` it becomes a box of coordinates that
``P`` must meet. That is decided exactly by the separating-axis test of two convex polytopes
(the 3 box normals, the 3 face normals of ``P`` and the 9 cross products of their edges), up
to a small tolerance on the side of "touches". A reader may skip every chunk (and every
z-slice) of the bbox for which the answer is no: the kernel never samples it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from fastmed.transforms.footprint import coord_range

if TYPE_CHECKING:
    from fastmed.transforms.plan import SamplePlan

# Relative tolerance of the separating-axis comparisons (float64; errs on the side of "touches").
_TOL = 1e-9

# One cell of an axis: taps ``[t0, t1]`` map to voxel ``s * t + o`` (``s == 0``: always voxel ``o``).
Cell = tuple[int, int, int, int]

# Arrays of :meth:`SourceFootprint.compiled`.
CompiledFootprint = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
]


def tap_cells(t_lo: int, t_hi: int, n: int, pad_mode: str) -> list[Cell]:
    """The taps ``[t_lo, t_hi]`` of an axis of ``n`` voxels, cut where the padding's map changes."""
    cells: list[Cell] = []

    def add(a: int, b: int, s: int, o: int) -> None:
        a, b = max(a, t_lo), min(b, t_hi)
        if a <= b:
            cells.append((a, b, s, o))

    if pad_mode == "constant":  # taps outside read the constant, no voxel
        add(0, n - 1, 1, 0)
    elif pad_mode == "edge":
        add(t_lo, -1, 0, 0)
        add(0, n - 1, 1, 0)
        add(n, t_hi, 0, n - 1)
    elif n == 1:  # reflect on one voxel
        add(t_lo, t_hi, 0, 0)
    else:  # reflect: t mod 2(n-1), mirrored above n - 1 (the kernel's and numpy's "reflect")
        period = 2 * (n - 1)
        for k in range(t_lo // period, t_hi // period + 1):
            base = k * period
            add(base, base + n - 1, 1, -base)
            add(base + n, base + period - 1, -1, base + period)
    return cells


class SourceFootprint:
    """Which boxes of source voxels a plan's output can read (see the module docstring).

    Parameters
    ----------
    plan
        The sample's plan (matrix, elastic grid, and each array's interpolation and padding).
    volume_shape
        The volume's spatial shape, (D, H, W) or (H, W) for 2D samples.
    """

    def __init__(self, plan: SamplePlan, volume_shape: Sequence[int]):
        vol = tuple(int(n) for n in volume_shape)
        self.ndim = len(vol)
        self.volume: tuple[int, ...] = (1, *vol) if len(vol) == 2 else vol
        if len(self.volume) != 3 or any(n <= 0 for n in self.volume):
            raise ValueError(f"volume shape must be 2 or 3 positive extents, got {tuple(volume_shape)}")
        sp = plan.spatial
        m = np.asarray(sp.matrix, dtype=np.float64)[:3, :4]
        edges = m[:, :3] * (np.asarray(sp.out_shape, dtype=np.float64) - 1.0)  # column i: edge along output axis i
        corner = m[:, 3]
        lo, hi = coord_range(plan)  # with the elastic displacement and the float slack
        plain_lo = corner + np.minimum(edges, 0.0).sum(axis=1)
        plain_hi = corner + np.maximum(edges, 0.0).sum(axis=1)
        # D = [-below, above]: the coordinates lie in P + D.
        self._below = np.maximum(plain_lo - lo, 0.0)
        self._above = np.maximum(hi - plain_hi, 0.0)
        cols = edges.T
        # Candidate axes: the box normals, P's face normals, and the cross products of their edges.
        left = np.concatenate([cols[[0, 0, 1]], np.repeat(cols, 3, axis=0)])
        right = np.concatenate([cols[[1, 2, 2]], np.tile(np.eye(3), (3, 1))])
        cands = np.concatenate([np.eye(3), np.cross(left, right)])
        norm = np.sqrt((cands * cands).sum(axis=1))
        keep = norm > 1e-12
        self._axes = cands[keep] / norm[keep, None]  # (A, 3) unit vectors
        self._abs_axes = np.abs(self._axes)
        centre = corner + edges.sum(axis=1) / 2.0
        self._c = self._axes @ centre
        self._r = np.abs(self._axes @ edges).sum(axis=1) / 2.0
        self._tol = _TOL * (1.0 + np.abs(self._c) + self._r)
        # Per distinct (interpolation, padding): the tap support and the cells of every axis.
        self._kinds: list[tuple[float, list[list[Cell]]]] = []
        for interp, pad in dict.fromkeys((a.interp, a.pad_mode) for a in plan.arrays):
            if interp == "nearest":
                t_lo, t_hi, w = np.floor(lo + 0.5), np.floor(hi + 0.5), 0.5
            else:
                t_lo, t_hi, w = np.floor(lo), np.floor(hi) + 1, 1.0
            cells = [tap_cells(int(t_lo[k]), int(t_hi[k]), self.volume[k], pad) for k in range(3)]
            self._kinds.append((w, cells))
        self._compiled: CompiledFootprint | None = None

    def compiled(self) -> CompiledFootprint:
        """The footprint's arrays, for the native window reader (``fastmed._core.store_read_box``).

        ``(axes (A, 3), c (A,), r (A,), tol (A,), below (3,), above (3,), w (K,), cells (M, 6))``:
        the separating-axis candidates and ``P``'s centre, radius and tolerance along each, the
        displacement box ``D``, and per tap kind its support ``w`` and its cells as rows
        ``(kind, axis, t0, t1, s, o)``. The native test runs :meth:`touches_boxes`' arithmetic on them.
        Built once per footprint.
        """
        if self._compiled is None:
            rows = [(q, k, *cell) for q, (_, cells) in enumerate(self._kinds) for k in range(3) for cell in cells[k]]
            self._compiled = (
                self._axes,
                self._c,
                self._r,
                self._tol,
                self._below,
                self._above,
                np.asarray([w for w, _ in self._kinds], dtype=np.float64),
                np.asarray(rows, dtype=np.int64).reshape(-1, 6),
            )
        return self._compiled

    def touches(self, lo: Sequence[int], hi: Sequence[int]) -> bool:
        """Whether the output can read a voxel of the half-open box ``[lo, hi)``."""
        return bool(self.touches_boxes(np.asarray([lo]), np.asarray([hi]))[0])

    def touches_boxes(self, lo: npt.ArrayLike, hi: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """:meth:`touches` of ``N`` boxes: ``lo``, ``hi`` of shape ``(N, ndim)``; ``(N, 3)`` also for 2D plans.

        Conservative: ``True`` for every box holding a voxel the kernel reads (also a tap of
        zero weight), and exact up to a relative 1e-9 and the float32 slack otherwise.
        """
        a = np.asarray(lo, dtype=np.int64).reshape(-1, np.shape(lo)[-1] if np.ndim(lo) else 1)
        b = np.asarray(hi, dtype=np.int64).reshape(a.shape)
        if a.shape[1] == 2 and self.ndim == 2:
            a = np.concatenate([np.zeros((len(a), 1), np.int64), a], axis=1)
            b = np.concatenate([np.ones((len(b), 1), np.int64), b], axis=1)
        if a.shape[1] != 3:
            raise ValueError(f"boxes of {a.shape[1]} axes for a {self.ndim}-D footprint")
        v0, v1 = a, b - 1  # inclusive voxel ranges
        hit = np.zeros(len(a), dtype=bool)
        nonempty = (v0 <= v1).all(axis=1)
        for w, cells in self._kinds:
            for combo in itertools.product(*cells):
                ok = nonempty.copy()
                x0 = np.empty(a.shape)
                x1 = np.empty(a.shape)
                for k, (t0, t1, s, o) in enumerate(combo):
                    if s == 1:
                        ta, tb = np.maximum(v0[:, k] - o, t0), np.minimum(v1[:, k] - o, t1)
                    elif s == -1:
                        ta, tb = np.maximum(o - v1[:, k], t0), np.minimum(o - v0[:, k], t1)
                    else:
                        inside = (v0[:, k] <= o) & (o <= v1[:, k])
                        ta, tb = np.where(inside, t0, 1), np.where(inside, t1, 0)
                    ok &= ta <= tb
                    # Coordinates with a tap in [ta, tb], moved back by the displacement box D.
                    x0[:, k] = ta - w - self._above[k]
                    x1[:, k] = tb + w + self._below[k]
                if ok.any():
                    hit[ok] |= self._meets(x0[ok], x1[ok])
        return hit

    def _meets(self, x0: npt.NDArray[np.float64], x1: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Whether the parallelepiped ``P`` meets each closed box ``[x0, x1]`` (separating axes)."""
        centre = (x0 + x1) / 2.0
        half = (x1 - x0) / 2.0
        gap = np.abs(centre @ self._axes.T - self._c)
        reach = half @ self._abs_axes.T + self._r + self._tol
        return np.asarray((gap <= reach).all(axis=1))


def source_footprint(plan: SamplePlan, volume_shape: Sequence[int]) -> SourceFootprint:
    """The :class:`SourceFootprint` of ``plan`` on a volume of ``volume_shape``."""
    return SourceFootprint(plan, volume_shape)
