"""The native window plan (``store_plan_box``, ``store_footprint_touches``) against its Python oracle.

Oracles: :meth:`SourceFootprint.touches_boxes` for single boxes, and
``box_plan.narrowed(*box_plan.box_chunks(...))`` for the chunks, and z-ranges of them, that a
window read keeps: random plans (general affines, rotations, crops and flips, elastic grids,
constant / edge / reflect padding, 2D plans), random chunk shapes, boxes and slab sizes.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.store import box_plan
from fastmed.transforms.plan import ArrayPlan, SamplePlan, SpatialMap
from tests.transforms.test_window import EMPTY, MODES, cases


def _core():  # type: ignore[no-untyped-def]
    from fastmed._native import core

    if not hasattr(core, "store_plan_box"):
        pytest.skip("extension built without the native window plan")
    return core


@st.composite
def plans_2d(draw: st.DrawFn) -> tuple[SamplePlan, tuple[int, int]]:
    """A 2D plan (rotation, scale, shift in y-x) on an ``(H, W)`` image."""
    shape = (draw(st.integers(3, 40)), draw(st.integers(3, 40)))
    out = (1, draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    a = draw(st.floats(-np.pi, np.pi))
    scale = draw(st.floats(0.4, 1.6))
    c, s = np.cos(a) * scale, np.sin(a) * scale
    m = np.eye(4)
    m[1:3, 1:3] = [[c, -s], [s, c]]
    centre = np.asarray([0.0, *(draw(st.floats(-0.3, 1.3)) * n for n in shape)])
    m[:3, 3] = centre - m[:3, :3] @ ((np.asarray(out) - 1) / 2)
    arrays = (
        ArrayPlan("image", "linear", draw(st.sampled_from(MODES)), 0.0, EMPTY),
        ArrayPlan("label", "nearest", draw(st.sampled_from(MODES)), 0.0, EMPTY, out_dtype="same"),
    )
    sp = SpatialMap(m, out, (1.0, 1.0, 1.0))
    return SamplePlan(sp, arrays, (0, 0), 0, ndim=2), shape


Box = tuple[tuple[int, ...], tuple[int, ...]]


def _box(data: st.DataObject, shape: tuple[int, ...], bbox: Box) -> Box:
    """The plan's bbox, or a random box of the volume."""
    if data.draw(st.booleans()):
        return bbox
    lo = tuple(data.draw(st.integers(0, n - 1)) for n in shape)
    hi = tuple(data.draw(st.integers(a + 1, n)) for a, n in zip(lo, shape, strict=True))
    return lo, hi


def _pad3(v: tuple[int, ...] | np.ndarray, fill: int) -> list[int]:
    return [fill] * (3 - len(v)) + [int(x) for x in v]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=st.one_of(cases(), plans_2d()),
    chunks=st.tuples(*[st.integers(1, 9)] * 3),
    slab=st.integers(1, 8),
    data=st.data(),
)
def test_native_plan_equals_box_plan_narrowed(case, chunks: tuple[int, ...], slab: int, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    core = _core()
    plan, shape = case
    chunks = chunks[3 - len(shape) :]
    fp = plan.source_footprint(shape)
    lo, hi = _box(data, shape, plan.source_bbox(shape))
    idx, first, last = box_plan.box_chunks(chunks, lo, hi)
    want = box_plan.narrowed(idx, first, last, chunks[0], fp, slab)  # slabs along the array's first axis
    got = core.store_plan_box(_pad3(chunks, 1), _pad3(lo, 0), _pad3(hi, 1), fp.compiled(), slab, len(shape))
    for w, g in zip(want, got, strict=True):
        np.testing.assert_array_equal(g[:, 3 - len(shape) :], w)
    if len(shape) == 2:
        assert (got[1][:, 0] == 0).all() and (got[2][:, 0] == 1).all()
    # Without a footprint: every chunk of the box, whole.
    got_all = core.store_plan_box(_pad3(chunks, 1), _pad3(lo, 0), _pad3(hi, 1), None, slab, len(shape))
    for w, g in zip((idx, first, last), got_all, strict=True):
        np.testing.assert_array_equal(g[:, 3 - len(shape) :], w)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=st.one_of(cases(), plans_2d()), seed=st.integers(0, 2**31))
def test_native_touches_equals_touches_boxes(case, seed: int) -> None:  # type: ignore[no-untyped-def]
    core = _core()
    plan, shape = case
    fp = plan.source_footprint(shape)
    rng = np.random.default_rng(seed)
    full = np.asarray(fp.volume)
    lo = rng.integers(-2, full + 1, size=(64, 3))
    hi = lo + rng.integers(0, np.maximum(full // 2, 2) + 1, size=(64, 3))
    want = fp.touches_boxes(lo, hi)
    got = core.store_footprint_touches(fp.compiled(), lo, hi)
    np.testing.assert_array_equal(got, want)


def test_compiled_footprint_is_built_once() -> None:
    plan, shape = _rotated_plan()
    fp = plan.source_footprint(shape)
    assert fp.compiled() is fp.compiled()
    axes, c, r, tol, below, above, w, cells = fp.compiled()
    assert axes.shape == (len(c), 3) and r.shape == tol.shape == c.shape
    assert below.shape == above.shape == (3,) and cells.shape[1] == 6 and len(w) >= 1


def test_bad_compiled_footprints_are_refused() -> None:
    core = _core()
    plan, shape = _rotated_plan()
    parts = list(plan.source_footprint(shape).compiled())
    bad_cells = parts[7].copy()
    bad_cells[0, 1] = 3  # axis 3
    for broken in (parts[:7], [parts[0][:, :2], *parts[1:]], [*parts[:7], bad_cells]):
        with pytest.raises(ValueError):
            core.store_plan_box([4, 4, 4], [0, 0, 0], [8, 8, 8], tuple(broken), 2)
    with pytest.raises(ValueError):
        core.store_plan_box([4, 4, 4], [0, 0, 0], [8, 8, 8], tuple(parts), 0)
    with pytest.raises(ValueError):
        core.store_plan_box([4, 0, 4], [0, 0, 0], [8, 8, 8], None, 2)
    with pytest.raises(ValueError, match="too many chunks"):
        core.store_plan_box([1, 1, 1], [0, 0, 0], [1 << 20, 1 << 20, 1 << 20], None, 2)


def _rotated_plan() -> tuple[SamplePlan, tuple[int, int, int]]:
    shape = (40, 48, 48)
    a = np.pi / 5
    c, s = np.cos(a), np.sin(a)
    lin = np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    m = np.eye(4)
    m[:3, :3] = lin
    m[:3, 3] = (np.asarray(shape) - 1) / 2 - lin @ np.full(3, 9.5)
    sp = SpatialMap(m, (20, 20, 20), (1.0, 1.0, 1.0))
    return SamplePlan(sp, (ArrayPlan("image", "linear", "reflect", 0.0, EMPTY),), (0, 0), 0), shape
