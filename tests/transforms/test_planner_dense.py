"""The planner skips the source footprint of axis-aligned plans: for them it could not narrow a read.

Oracle: :class:`~fastmed.transforms.footprint_shape.SourceFootprint` itself. For every plan
``planner._dense`` calls dense, the footprint touches every single voxel of the plan's source
box (so reading the whole box reads nothing the footprint would have skipped; a plan whose taps all fall
outside the volume keeps a small placeholder box); rotations,
shears and zooms with steps above a voxel are not called dense.
"""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.transforms.footprint import source_bbox
from fastmed.transforms.footprint_shape import SourceFootprint
from fastmed.transforms.plan import ArrayPlan, IntensityProgram, SamplePlan, SpatialMap
from fastmed.transforms.planner import _dense

EMPTY = IntensityProgram.build([])
MODES = ["constant", "edge", "reflect"]


@st.composite
def axis_aligned(draw: st.DrawFn) -> tuple[SamplePlan, tuple[int, int, int]]:
    """An axis-aligned plan (permuted axes, flips, steps in (0, 1], any offset) and its volume shape."""
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    out = (draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    perm = draw(st.permutations(range(3)))
    m = np.eye(4)
    m[:3, :3] = 0.0
    for src, dst in enumerate(perm):
        step = draw(st.sampled_from([1.0, 0.5, 0.75, 1 / 3, 0.999]))
        m[src, dst] = step if draw(st.booleans()) else -step
        m[src, 3] = (
            draw(st.floats(-6.0, 14.0, allow_nan=False)) if draw(st.booleans()) else float(draw(st.integers(-4, 8)))
        )
    interp = draw(st.sampled_from(["linear", "nearest"]))
    arrays = (ArrayPlan("image", interp, draw(st.sampled_from(MODES)), 0.0, EMPTY),)  # type: ignore[arg-type]
    return SamplePlan(SpatialMap(m, out, (1.0, 1.0, 1.0)), arrays, (1, 2), 0), shape


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=axis_aligned())
def test_dense_plans_touch_every_voxel_of_their_box(case) -> None:  # type: ignore[no-untyped-def]
    plan, shape = case
    assert _dense(np.asarray(plan.spatial.matrix)[None]).tolist() == [True]
    lo, hi = source_bbox(plan, shape)
    voxels = np.asarray(list(itertools.product(*(range(a, b) for a, b in zip(lo, hi, strict=True)))), dtype=np.int64)
    if not len(voxels):
        return
    touched = SourceFootprint(plan, shape).touches_boxes(voxels, voxels + 1)
    if not touched.any():  # every tap outside the volume (constant padding): a placeholder box, nothing is read
        assert plan.arrays[0].pad_mode == "constant"
        return
    assert touched.all(), f"{int((~touched).sum())} voxels of the box [{lo}, {hi}) are never read"


def test_rotations_shears_and_coarse_zooms_are_not_dense() -> None:
    c, s = np.cos(0.3), np.sin(0.3)
    rot = np.eye(4)
    rot[1:3, 1:3] = [[c, -s], [s, c]]
    shear = np.eye(4)
    shear[0, 1] = 0.2
    zoom = np.diag([1.0, 1.5, 1.0, 1.0])
    two_from_one = np.eye(4)
    two_from_one[:3, :3] = [[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0]]
    crop = np.eye(4)
    crop[:3, 3] = (3.0, -2.0, 5.5)
    got = _dense(np.stack([rot, shear, zoom, two_from_one, crop]))
    assert got.tolist() == [False, False, False, False, True]
