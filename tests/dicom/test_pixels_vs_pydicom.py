"""Oracle: read_pixels == pydicom's pixel_array, read_header == pydicom's values."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from fastmed.dicom import DEFAULT_TAGS, read_header, read_headers, read_pixels
from fastmed.errors import DicomError

from ._testdata import label, pixel_bearing, pydicom_read

pydicom = pytest.importorskip("pydicom")

FILES = pixel_bearing()


def _reference(path: str) -> tuple[Any, BaseException | None]:
    """pydicom's array, reading as dcmread does by default; files it refuses without
    force (no 'DICM' preamble) are compared with force=True, since fastmed reads raw
    datasets too."""
    try:
        try:
            ds = pydicom_read(path, False)
        except pydicom.errors.InvalidDicomError:
            ds = pydicom_read(path, True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.pixel_array, None
    except Exception as exc:  # pydicom's refusal is the oracle
        return None, exc


def test_corpus_found() -> None:
    assert len(FILES) >= 150, "pydicom + pydicom-data test files not found"


@pytest.mark.parametrize("path", FILES, ids=[label(p) for p in FILES])
def test_pixels_match_pydicom(path) -> None:  # type: ignore[no-untyped-def]
    ref, err = _reference(str(path))
    if err is not None:
        with pytest.raises(DicomError) as info:
            read_pixels(path)
        assert str(path) in str(info.value)
        return
    arr = read_pixels(path)
    assert arr.shape == ref.shape
    assert arr.dtype == ref.dtype
    assert np.array_equal(arr, ref)


def _norm(v: Any) -> Any:
    from pydicom.multival import MultiValue
    from pydicom.sequence import Sequence

    if isinstance(v, Sequence):
        return len(v)
    if isinstance(v, (MultiValue, list)):
        return [y if isinstance(y, str) else _norm(y) for y in v]
    if isinstance(v, pydicom.valuerep.DSfloat):
        return float(v)
    if isinstance(v, pydicom.valuerep.IS):
        return int(v)
    if isinstance(v, str):
        return str(v) if v != "" else None
    if isinstance(v, bytes):
        return v if v else None
    return v


@pytest.mark.parametrize("path", FILES, ids=[label(p) for p in FILES])
def test_header_matches_pydicom(path) -> None:  # type: ignore[no-untyped-def]
    try:
        ds = pydicom_read(str(path), False)
    except pydicom.errors.InvalidDicomError:
        ds = pydicom_read(str(path), True)
    if len(ds) == 0:
        pytest.skip("pydicom reads no dataset elements (broken file); nothing to compare")
    h = read_header(path)
    for kw, (tag, _vr) in DEFAULT_TAGS.items():
        src = ds.file_meta if tag >> 16 == 2 else ds
        expected = _norm(src[tag].value) if tag in src else None
        if expected == []:
            expected = None
        assert h.get(kw) == expected, kw


def test_batch_equals_single() -> None:
    paths = list(FILES[:40])
    batch = read_headers(paths, threads=2)
    for p, b in zip(paths, batch, strict=True):
        assert not isinstance(b, Exception)
        assert b.values == read_header(p).values


def test_bytes_and_memoryview_equal_path() -> None:
    p = FILES[0]
    data = p.read_bytes()
    a = read_header(p)
    assert read_header(data).values == a.values
    assert read_header(memoryview(data)).values == a.values
    assert np.array_equal(read_pixels(data), read_pixels(p))


def test_rescale_matches_formula() -> None:
    ct = next(p for p in FILES if p.name == "CT_small.dcm")
    ds = pydicom_read(str(ct), False)
    raw = ds.pixel_array
    out = read_pixels(ct, rescale=True)
    expected = raw.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
    assert out.dtype in (np.int16, np.float32)
    assert np.array_equal(out.astype(np.float64), expected)


@pytest.mark.parametrize("slope,intercept,dtype", [(1, -1024, np.int16), (0.5, 0, np.float32), (1, 40000, np.float32)])
def test_rescale_dtype_rule(slope: float, intercept: float, dtype: type) -> None:
    from fastmed.dicom.rescale import apply_rescale

    arr = np.arange(0, 4096, dtype=np.uint16).reshape(64, 64)
    out = apply_rescale(arr, slope, intercept)
    assert out.dtype == dtype
    assert np.allclose(out.astype(np.float64), arr.astype(np.float64) * slope + intercept)
