"""The augmentation suites (r3d, xray2d) at size tiny: every installed peer makes a real patch.

Each implementation's callable is run and what it returns is checked (float32, the patch
shape, finite, a fresh patch per call); peers that are absent must be listed in
``Case.missing`` with a reason; the floor is checked against scipy's ``map_coordinates``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from fastmed.bench.harness import Case, run_case
from fastmed.bench.peers import fastmed_aug, floor_gather
from fastmed.bench.peers.bgv2_r3d import initial_region
from fastmed.bench.peers.geometry import random_patch_map
from fastmed.bench.registry import get_suite
from fastmed.bench.report import write_reports
from fastmed.bench.suites import augment_2d, augment_r3d

SUITES = {"r3d": augment_r3d, "xray2d": augment_2d}

# Row name -> the package that must be importable for the row to be expected.
PACKAGES = {
    "monai": "monai",
    "monai-lazy": "monai",
    "torchio": "torchio",
    "torchio-2pass": "torchio",
    "bgv2": "batchgeneratorsv2",
    "bgv2-nnunet": "batchgeneratorsv2",
    "floor-gather": "numba",
}


@pytest.fixture(scope="module", params=sorted(SUITES))
def built(request: pytest.FixtureRequest) -> tuple[str, list[Case]]:
    name = request.param
    return name, get_suite(name)(size="tiny", threads=(1,))


def test_every_row_is_run_or_missing_with_reason(built: tuple[str, list[Case]]) -> None:
    name, cases = built
    (case,) = cases
    rows = {e.name for e in SUITES[name].ENTRIES}
    ran = {i.name for i in case.impls}
    assert ran | set(case.missing) >= rows
    assert all(reason.strip() for reason in case.missing.values())
    for row in rows & set(PACKAGES):
        if importlib.util.find_spec(PACKAGES[row]) is not None:
            assert row in ran, f"{row} is installed but was not run: {case.missing.get(row)}"
    if "fastmed" not in ran:
        assert case.missing["fastmed"].startswith(fastmed_aug.UNAVAILABLE) or "failed" in case.missing["fastmed"]


def test_every_impl_returns_a_fresh_float32_patch(built: tuple[str, list[Case]]) -> None:
    name, cases = built
    _, spec = SUITES[name].spec_for("tiny")
    for impl in cases[0].impls:
        a, b = impl.fn(), impl.fn()
        for out in (a, b):
            assert isinstance(out, np.ndarray), impl.name
            assert out.dtype == np.float32, impl.name
            assert out.shape == (1, *spec.patch), impl.name
            assert np.isfinite(out).all(), impl.name
            assert out.std() > 0, impl.name
        assert not np.array_equal(a, b), f"{impl.name}: two calls gave the same patch"


def test_suite_reports(built: tuple[str, list[Case]], tmp_path: Path) -> None:
    name, cases = built
    results = [r for c in cases for r in run_case(c, repeat=2, warmup=0)]
    missing = {c.name: c.missing for c in cases}
    paths = write_reports(name, results, missing, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert {r["impl"] for r in data["results"]} == {i.name for i in cases[0].impls}
    assert all(r["median_s"] > 0 and r["unit"] == "patch" for r in data["results"])
    md = paths["md"].read_text()
    assert "floor-gather" in md and "Peers not run" in md


@pytest.mark.parametrize("shape", [(12, 17, 15), (9, 9, 21)])
@pytest.mark.parametrize("index", [0, 3])
def test_floor_gather_matches_scipy_map_coordinates(shape: tuple[int, int, int], index: int) -> None:
    rng = np.random.default_rng(index)
    vol = rng.integers(-1000, 1000, (1, *shape)).astype(np.int16)
    _, spec = augment_r3d.spec_for("tiny")
    spec = type(spec)(**{**spec.__dict__, "patch": (6, 5, 7)})
    fn = floor_gather.make(vol, spec, threads=1)
    for _ in range(index + 1):
        out = fn()
    m, t = random_patch_map(spec, shape, 0, index)
    grid = np.indices(spec.patch, dtype=np.float64).reshape(3, -1)
    coords = m @ grid + t[:, None]
    want = ndimage.map_coordinates(vol[0].astype(np.float64), coords, order=1, mode="constant", cval=0.0)
    # scipy zeroes a point once it leaves the grid; the gather fades out over the last voxel.
    inside = np.all((coords >= 0) & (coords <= np.array(shape)[:, None] - 1), axis=0)
    np.testing.assert_allclose(out[0].reshape(-1)[inside], want[inside], rtol=1e-4, atol=1e-2)


def test_floor_gather_2d_matches_scipy() -> None:
    img = np.random.default_rng(1).integers(0, 4096, (1, 40, 33)).astype(np.uint16)
    _, spec = augment_2d.spec_for("tiny")
    spec = type(spec)(**{**spec.__dict__, "patch": (9, 11)})
    out = floor_gather.make(img, spec, threads=1)()
    m, t = random_patch_map(spec, img.shape[1:], 0, 0)
    coords = m @ np.indices(spec.patch, dtype=np.float64).reshape(2, -1) + t[:, None]
    want = ndimage.map_coordinates(img[0].astype(np.float64), coords, order=1, mode="constant", cval=0.0)
    np.testing.assert_allclose(out[0].reshape(-1), want, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("size", ["tiny", "full"])
def test_nnunet_region_holds_every_rotated_scaled_patch(size: str) -> None:
    _, spec = augment_r3d.spec_for(size)
    region = np.asarray(initial_region(spec))
    rng = np.random.default_rng(0)
    half = np.asarray(spec.patch) / 2.0
    corners = np.array(np.meshgrid(*[(-h, h) for h in half], indexing="ij")).reshape(3, -1)
    from fastmed.bench.peers.geometry import rotation

    for _ in range(50):
        angles = rng.uniform(-spec.radians, spec.radians, 3)
        m = rotation(angles) @ np.diag(rng.uniform(*spec.scale, 3))
        assert np.all(np.abs(m @ corners).max(axis=1) <= region / 2.0)
