"""The exact source footprint (``SamplePlan.source_footprint``): boxes it says are never read are not read.

Oracle: cut the volume into random chunks, and z-slices of chunks; poison with NaN every
chunk (slice) the footprint says the output cannot touch; the whole-volume output of the
kernel must not change, bit for bit (also taps of zero weight would turn NaN into NaN).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.transforms.footprint_shape import tap_cells
from fastmed.transforms.plan import ArrayPlan, SamplePlan, SpatialMap
from tests.transforms.test_window import EMPTY, _run, _volumes, cases


def _boxes(shape: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every chunk of a grid, as (lo, hi) rows."""
    starts = [range(0, n, c) for n, c in zip(shape, chunks, strict=True)]
    lo = np.asarray(list(itertools.product(*starts)), dtype=np.int64)
    return lo, np.minimum(lo + np.asarray(chunks), np.asarray(shape))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), seed=st.integers(0, 1000), chunks=st.tuples(*[st.integers(1, 6)] * 3))
def test_untouched_chunks_are_never_read(case, seed: int, chunks: tuple[int, int, int]) -> None:  # type: ignore[no-untyped-def]
    plan, shape = case
    sample = _volumes(shape, seed)
    clean = _run("cpu", plan, sample)
    fp = plan.source_footprint(shape)
    lo, hi = _boxes(shape, chunks)
    keep = fp.touches_boxes(lo, hi)
    assert keep.shape == (len(lo),)
    poisoned = {k: v.copy() for k, v in sample.items()}
    for a, b in zip(lo[~keep], hi[~keep], strict=True):
        for v in poisoned.values():
            v[(slice(None), *map(slice, a, b))] = np.nan
    got = _run("cpu", plan, poisoned)
    for k in clean:
        np.testing.assert_array_equal(got[k], clean[k], strict=True)
    for i in range(min(len(lo), 5)):  # single boxes agree with the batch
        assert fp.touches(lo[i], hi[i]) == keep[i]


def _rotated(angle: float, out: int, shape: tuple[int, int, int], mode: str = "constant") -> SamplePlan:
    c, s = np.cos(angle), np.sin(angle)
    lin = np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    m = np.eye(4)
    m[:3, :3] = lin
    m[:3, 3] = (np.asarray(shape) - 1) / 2 - lin @ np.full(3, (out - 1) / 2)
    sp = SpatialMap(m, (out, out, out), (1.0, 1.0, 1.0))
    return SamplePlan(sp, (ArrayPlan("image", "linear", mode, 0.0, EMPTY),), (0, 0), 0)  # type: ignore[arg-type]


def test_a_rotated_patch_skips_the_corners_of_its_bbox() -> None:
    """A 45° rotation about z: the bbox corners in y-x lie outside the rotated square."""
    shape = (64, 96, 96)
    plan = _rotated(np.pi / 4, 40, shape)
    fp = plan.source_footprint(shape)
    lo, hi = plan.source_bbox(shape)
    corner = (lo[0], lo[1], lo[2])
    assert not fp.touches(corner, (lo[0] + 8, lo[1] + 8, lo[2] + 8))
    mid = [(a + b) // 2 for a, b in zip(lo, hi, strict=True)]
    assert fp.touches(mid, [v + 1 for v in mid])
    lo8, hi8 = _boxes(shape, (8, 8, 8))
    inside = np.all((lo8 < np.asarray(hi)) & (hi8 > np.asarray(lo)), axis=1)
    frac = fp.touches_boxes(lo8[inside], hi8[inside]).mean()
    assert frac < 0.8  # the square rotated by 45° covers half its bbox


def test_2d_footprint_takes_2d_and_3d_boxes() -> None:
    m = np.eye(4)
    m[1:3, 3] = (5, 7)
    sp = SpatialMap(m, (1, 4, 4), (1.0, 1.0, 1.0))
    plan = SamplePlan(sp, (ArrayPlan("image", "linear", "constant", 0.0, EMPTY),), (0, 0), 0, ndim=2)
    fp = plan.source_footprint((32, 32))
    assert fp.touches((5, 7), (6, 8)) and fp.touches((0, 5, 7), (1, 6, 8))
    assert not fp.touches((0, 0), (4, 32)) and not fp.touches((0, 0, 0), (1, 4, 32))
    with pytest.raises(ValueError, match="axes"):
        fp.touches((0,), (1,))


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_tap_cells_map_taps_like_the_padding(mode: str) -> None:
    """Every tap lands in exactly one cell, on the voxel the bbox's padding formula gives."""
    n = 5
    for t in range(-13, 19):
        hits = [(s * t + o) for t0, t1, s, o in tap_cells(-13, 18, n, mode) if t0 <= t <= t1]
        if mode == "constant":
            want = [t] if 0 <= t < n else []
        elif mode == "edge":
            want = [min(max(t, 0), n - 1)]
        else:
            r = t % (2 * (n - 1))
            want = [r if r < n else 2 * (n - 1) - r]
        assert hits == want, (t, hits, want)
