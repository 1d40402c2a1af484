"""read_series' pixel paths (plain read-into, pooled codec decode) against pydicom, per syntax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed.dicom.series_assembly import _apply_rescale, read_series
from fastmed.dicom.slice_info import SliceInfo

pydicom = pytest.importorskip("pydicom")
synth = pytest.importorskip("fastmed.synth")

SYNTAXES = ("explicit", "implicit", "deflated", "rle", "jpegls", "j2k", "htj2k")


@pytest.fixture(scope="module", params=SYNTAXES)
def series_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp(f"synth-{request.param}")
    synth.generate_archive(root, studies=1, seed=3, shape=(8, 48, 40), transfer_syntaxes=[request.param])
    return root / "study_000" / "series_000"


def _pydicom_stack(vol_files: list[str], rescale: bool) -> np.ndarray:
    planes = []
    for f in vol_files:
        ds = pydicom.dcmread(f)
        arr = ds.pixel_array
        planes.append(pydicom.pixels.apply_rescale(arr, ds) if rescale else arr)
    return np.stack(planes)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("rescale", [False, True])
def test_series_pixels_match_pydicom(series_dir: Path, threads: int, rescale: bool) -> None:
    vol = read_series(series_dir, threads=threads, rescale=rescale)
    expected = _pydicom_stack(vol.meta["files"], rescale)
    if rescale:
        np.testing.assert_array_equal(vol.array.astype(np.float64), expected)
    else:
        assert vol.array.dtype == expected.dtype
        np.testing.assert_array_equal(vol.array, expected)


def test_custom_pixel_reader_agrees(series_dir: Path) -> None:
    from fastmed.dicom.pixels import read_pixels

    fast = read_series(series_dir, threads=2, rescale=False)
    slow = read_series(series_dir, threads=2, rescale=False, pixel_reader=lambda p: read_pixels(p, threads=1))
    np.testing.assert_array_equal(fast.array, slow.array)


def _slices(n: int, slope: float, inter: float) -> list[SliceInfo]:
    return [
        SliceInfo(f"f{i}", "s", 2, 2, None, None, None, rescale_slope=slope, rescale_intercept=inter) for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(["u1", "i1", "u2", "i2", "u4", "i4"]),
    slope=st.integers(-4, 4).filter(bool),
    inter=st.integers(-40000, 40000),
    seed=st.integers(0, 2**31),
)
def test_int_rescale_equals_exact_formula(dtype: str, slope: int, inter: int, seed: int) -> None:
    info = np.iinfo(dtype)
    rng = np.random.default_rng(seed)
    lo, hi = max(info.min, -70000), min(info.max, 70000)
    arr = rng.integers(lo, hi, size=(3, 2, 2), endpoint=True).astype(dtype)
    out = _apply_rescale(arr, _slices(3, float(slope), float(inter)))
    exact = arr.astype(np.int64) * slope + inter
    if slope == 1 and inter == 0:
        assert out.dtype == arr.dtype  # identity rescale keeps the stored values and dtype
    elif exact.min() >= -32768 and exact.max() <= 32767:
        assert out.dtype == np.int16
    np.testing.assert_array_equal(
        out.astype(np.float64), exact.astype(np.float32).astype(np.float64) if out.dtype == np.float32 else exact
    )
