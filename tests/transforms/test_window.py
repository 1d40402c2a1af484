"""Window-aware jobs and the source footprint (issue 8, part 1).

A plan run on a window of the volume (``SamplePlan.windows``) must give exactly, bit
for bit, the patch it gives on the whole volume, on ``cpu`` and ``cpu-reference``, for
any window that holds ``SamplePlan.source_bbox``. The bbox itself is checked by
poisoning every voxel outside it with NaN: the whole-volume output must not change.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.backends import get_backend
from fastmed.errors import TransformError
from fastmed.transforms.plan import ArrayPlan, IntensityProgram, SamplePlan, SpatialMap, Window

BACKENDS = ["cpu", "cpu-reference"]
MODES = ["constant", "edge", "reflect"]
EMPTY = IntensityProgram.build([])


def _matrix(draw: st.DrawFn, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Crops, flips and rot90 (signed integer permutations), or a general affine map."""
    kind = draw(st.sampled_from(["permutation", "affine", "scale"]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    m = np.eye(4)
    if kind == "permutation":
        m[:3, :3] = 0
        perm = rng.permutation(3)
        for k in range(3):
            m[perm[k], k] = rng.choice([-1.0, 1.0])
        m[:3, 3] = [rng.integers(-3, n + 3) for n in shape]
        return m
    if kind == "affine":
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        lin = q @ np.diag(rng.uniform(0.6, 1.4, 3))
    else:
        lin = np.diag(rng.uniform(0.3, 1.5, 3))
    centre = (np.asarray(shape) - 1) / 2 + rng.uniform(-0.6, 0.6, 3) * np.asarray(shape)
    m[:3, :3] = lin
    m[:3, 3] = centre - lin @ ((np.asarray(out_shape) - 1) / 2)
    return m


@st.composite
def cases(draw: st.DrawFn) -> tuple[SamplePlan, tuple[int, int, int]]:
    shape = tuple(draw(st.integers(3, 16)) for _ in range(3))
    out_shape = tuple(draw(st.integers(1, 7)) for _ in range(3))
    m = _matrix(draw, shape, out_shape)
    grid = None
    ginv: tuple[float, ...] = (0.0, 0.0, 0.0)
    if draw(st.booleans()):
        rng = np.random.default_rng(draw(st.integers(0, 2**31)))
        gshape = tuple(draw(st.integers(4, 6)) for _ in range(3))
        grid = (rng.normal(size=(3, *gshape)) * draw(st.floats(0.1, 3.0))).astype(np.float32)
        ginv = tuple(float((g - 3) / max(n - 1, 1)) for g, n in zip(gshape, out_shape, strict=True))
    arrays = (
        ArrayPlan("image", "linear", draw(st.sampled_from(MODES)), draw(st.sampled_from([0.0, -7.5])), EMPTY),
        ArrayPlan("label", "nearest", draw(st.sampled_from(MODES)), 0.0, EMPTY, out_dtype="same"),
    )
    sp = SpatialMap(m, out_shape, (1.0, 1.0, 1.0), grid, ginv)  # type: ignore[arg-type]
    return SamplePlan(sp, arrays, (1, 2), 0), shape  # type: ignore[return-value]


def _volumes(shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "image": rng.normal(size=(2, *shape)).astype(np.float32),
        "label": rng.integers(0, 5, size=(1, *shape)).astype(np.float32),
    }


def _run(backend: str, plan: SamplePlan, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return get_backend(backend).run([plan], [sample], threads=1)[0]


def _windowed(plan: SamplePlan, sample: dict[str, np.ndarray], lo: tuple[int, ...], hi: tuple[int, ...]):  # type: ignore[no-untyped-def]
    vol = tuple(sample["image"].shape[1:])
    box = (slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))
    win = Window(tuple(lo), vol)  # type: ignore[arg-type]
    wplan = SamplePlan(plan.spatial, plan.arrays, plan.key, plan.index, plan.ndim, windows={k: win for k in sample})
    return wplan, {k: v[box] for k, v in sample.items()}


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), seed=st.integers(0, 1000), grow=st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_window_result_equals_whole_volume(backend: str, case, seed: int, grow: list[int]) -> None:  # type: ignore[no-untyped-def]
    plan, shape = case
    sample = _volumes(shape, seed)
    whole = _run(backend, plan, sample)
    lo, hi = plan.source_bbox(shape)
    assert all(0 <= a < b <= n for a, b, n in zip(lo, hi, shape, strict=True))
    # The bbox itself, and a larger window around it (any window holding the bbox).
    big_lo = tuple(max(0, a - g) for a, g in zip(lo, grow[:3], strict=True))
    big_hi = tuple(min(n, b + g) for b, g, n in zip(hi, grow[3:], shape, strict=True))
    for wlo, whi in ((lo, hi), (big_lo, big_hi)):
        wplan, wsample = _windowed(plan, sample, wlo, whi)
        got = _run(backend, wplan, wsample)
        for k in whole:
            np.testing.assert_array_equal(got[k], whole[k], strict=True)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases(), seed=st.integers(0, 1000))
def test_no_voxel_outside_the_bbox_is_read(backend: str, case, seed: int) -> None:  # type: ignore[no-untyped-def]
    plan, shape = case
    sample = _volumes(shape, seed)
    clean = _run(backend, plan, sample)
    lo, hi = plan.source_bbox(shape)
    inside = np.zeros(shape, dtype=bool)
    inside[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = True
    poisoned = {k: np.where(inside, v, np.float32(np.nan)).astype(np.float32) for k, v in sample.items()}
    got = _run(backend, plan, poisoned)
    for k in clean:
        assert not np.isnan(got[k]).any(), k
        np.testing.assert_array_equal(got[k], clean[k], strict=True)


def test_bbox_is_smaller_than_the_volume_for_a_centred_crop() -> None:
    shape = (40, 64, 64)
    m = np.eye(4)
    m[:3, 3] = (12, 20, 20)
    sp = SpatialMap(m, (16, 16, 16), (1.0, 1.0, 1.0))
    plan = SamplePlan(sp, (ArrayPlan("image", "linear", "constant", 0.0, EMPTY),), (0, 0), 0)
    lo, hi = plan.source_bbox(shape)
    assert lo == (12, 20, 20)
    assert hi == (29, 37, 37)  # 16 voxels plus the zero-weight upper linear tap


@pytest.mark.parametrize(
    ("mode", "expect"),
    [("constant", ((7, 0, 0), (8, 4, 4))), ("edge", ((7, 0, 0), (8, 4, 4))), ("reflect", ((3, 0, 0), (6, 4, 4)))],
)
def test_bbox_pads_like_the_kernel(mode: str, expect: tuple) -> None:
    """Coordinates z in [9, 11] of an 8-deep volume: all padding, mapped per mode
    (constant: one voxel that is never read keeps the window non-empty)."""
    m = np.eye(4)
    m[0, 3] = 9.0
    sp = SpatialMap(m, (3, 4, 4), (1.0, 1.0, 1.0))
    plan = SamplePlan(sp, (ArrayPlan("image", "nearest", mode, 0.0, EMPTY),), (0, 0), 0)  # type: ignore[arg-type]
    assert plan.source_bbox((8, 4, 4)) == expect


@pytest.mark.parametrize("backend", BACKENDS)
def test_window_outside_the_volume_is_refused(backend: str) -> None:
    sp = SpatialMap(np.eye(4), (2, 2, 2), (1.0, 1.0, 1.0))
    plan = SamplePlan(
        sp,
        (ArrayPlan("image", "linear", "constant", 0.0, EMPTY),),
        (0, 0),
        0,
        windows={"image": Window((3, 0, 0), (4, 4, 4))},
    )
    with pytest.raises(TransformError, match="not inside the volume"):
        _run(backend, plan, {"image": np.zeros((1, 2, 4, 4), np.float32)})


@pytest.mark.parametrize(
    ("volume", "origin", "match"),
    [
        ((4, 4, 4), (-1, 0, 0), "not inside the volume"),
        ((4, 4, 4), (0, 1, 0), "not inside the volume"),
        ((4, 0, 4), (0, 0, 0), "out of range"),
        ((4, 2**31, 4), (0, 0, 0), "out of range"),
        ((4, 4), (0, 0, 0), "3 values"),
    ],
)
def test_native_boundary_checks_the_window(volume: tuple, origin: tuple, match: str) -> None:
    from fastmed._native import core
    from fastmed.errors import KernelArgumentError

    job = {
        "src": np.zeros((1, 2, 4, 4), np.float32),
        "out": np.zeros((1, 2, 2, 2), np.float32),
        "out_dtype": "float32",
        "matrix": np.eye(4, dtype=np.float32)[:3],
        "grid": None,
        "grid_inv": [0.0, 0.0, 0.0],
        "interp": 1,
        "pad_mode": 0,
        "cval": 0.0,
        "ops": EMPTY.ops,
        "params": EMPTY.params,
        "key": [0, 0],
        "index": 0,
        "volume": list(volume),
        "origin": list(origin),
    }
    for run in (core.augment, core.augment_reference):
        with pytest.raises((KernelArgumentError, ValueError), match=match):
            run([job], 1)
