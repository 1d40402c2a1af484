"""Series assembly against the geometry the test wrote, and every irregularity named."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed as fm
from fastmed.dicom import read_series
from fastmed.dicom.index import index, wait_for_cache_writes
from fastmed.dicom.manifest import Manifest
from tests.dicom.series_builder import rotation, series_array, write_series


def test_plain_series_round_trip(tmp_path: Path) -> None:
    arr = series_array(7)
    names = [f"x{(i * 5) % 7}.dcm" for i in range(7)]  # file names do not follow slice order
    write_series(tmp_path, arr, names=names)
    vol = read_series(tmp_path)
    np.testing.assert_array_equal(vol.array, arr.astype(np.int32) - 1024)
    assert vol.array.dtype == np.int16
    assert vol.spacing == pytest.approx((2.5, 0.8, 0.7))
    assert vol.origin == pytest.approx((-100.0, -120.0, 30.0))
    np.testing.assert_allclose(vol.direction, np.eye(3), atol=1e-6)
    assert vol.meta["problems"] == []


def test_matches_pydicom_per_file(tmp_path: Path) -> None:
    arr = series_array(5, seed=1)
    paths = write_series(tmp_path, arr, slope=2.0, intercept=-1000.0)
    vol = read_series(tmp_path)
    for i, p in enumerate(paths):
        ds = pydicom.dcmread(p)
        expected = pydicom.pixels.apply_rescale(ds.pixel_array, ds)
        np.testing.assert_array_equal(vol.array[i], expected)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    angles=st.tuples(st.floats(-40, 40), st.floats(-40, 40), st.floats(-40, 40)),
    dz=st.floats(0.5, 6.0),
    reverse=st.booleans(),
)
def test_oblique_geometry(
    tmp_path_factory: pytest.TempPathFactory, angles: tuple[float, float, float], dz: float, reverse: bool
) -> None:
    rot = rotation(angles[0], 0) @ rotation(angles[1], 1) @ rotation(angles[2], 2)
    r, c = rot[:, 0], rot[:, 1]
    n = np.cross(r, c)
    arr = series_array(4, seed=2)
    origin = np.array([10.0, -20.0, 5.0])
    positions = [origin + i * dz * n for i in range(4)]
    order = list(range(4))[::-1] if reverse else list(range(4))  # instance numbers run against position
    folder = tmp_path_factory.mktemp("obl")
    write_series(
        folder,
        arr[order],
        spacing=(dz, 0.9, 0.6),
        row_dir=tuple(r),
        col_dir=tuple(c),
        positions=[positions[i] for i in order],
    )
    vol = read_series(folder)
    np.testing.assert_array_equal(vol.array, arr.astype(np.int32) - 1024)
    assert vol.spacing == pytest.approx((dz, 0.9, 0.6), rel=1e-4)
    np.testing.assert_allclose(vol.direction, np.stack([r, c, n], 1), atol=1e-5)
    # The affine maps voxel (k, j, i) to the position the file says.
    m = vol.index_to_patient()
    np.testing.assert_allclose((m @ [3, 0, 0, 1])[:3], positions[3], atol=1e-3)


def _expect_problem(folder: Path, kind: str) -> fm.SeriesError:
    with pytest.raises(fm.SeriesError) as info:
        read_series(folder)
    vol = read_series(folder, on_irregular="allow")
    assert kind in vol.meta["problem_kinds"]
    return info.value


def test_missing_slice(tmp_path: Path) -> None:
    arr = series_array(6)
    paths = write_series(tmp_path, arr)
    paths[3].unlink()
    err = _expect_problem(tmp_path, "missing_slice")
    assert "1 slice(s) missing" in str(err)
    vol = read_series(tmp_path, on_irregular="resample")
    assert vol.shape[0] == 6 and vol.meta["resampled"]
    # The missing slice is interpolated from its neighbours, the rest kept exactly.
    expected = arr.astype(np.float64) - 1024
    np.testing.assert_array_equal(vol.array[[0, 1, 2, 4, 5]], expected[[0, 1, 2, 4, 5]].astype(np.int16))
    np.testing.assert_allclose(vol.array[3], (expected[2] + expected[4]) / 2, atol=0.51)


def test_duplicate_position(tmp_path: Path) -> None:
    arr = series_array(5)
    pos = [np.array([0.0, 0.0, 2.5 * i]) for i in range(5)]
    pos[3] = pos[2]
    write_series(tmp_path, arr, positions=pos)
    _expect_problem(tmp_path, "duplicate_position")
    assert read_series(tmp_path, on_irregular="allow").shape[0] == 4


def test_nonuniform_spacing(tmp_path: Path) -> None:
    z = [0.0, 2.5, 5.0, 6.3, 8.8]
    write_series(tmp_path, series_array(5), positions=[np.array([0.0, 0.0, v]) for v in z])
    err = _expect_problem(tmp_path, "nonuniform_spacing")
    assert "spacing varies" in str(err)


def test_gantry_tilt(tmp_path: Path) -> None:
    tilt = np.radians(12.0)
    pos = [np.array([0.0, 2.0 * i * np.tan(tilt), 2.0 * i]) for i in range(5)]
    arr = series_array(5, rows=16, cols=16)
    write_series(tmp_path, arr, positions=pos, spacing=(2.0, 1.0, 1.0))
    err = _expect_problem(tmp_path, "gantry_tilt")
    assert "12.00 degrees" in str(err)
    kept = read_series(tmp_path, on_irregular="allow")
    m = kept.index_to_patient()
    np.testing.assert_allclose((m @ [4, 0, 0, 1])[:3], pos[4], atol=1e-6)
    fixed = read_series(tmp_path, on_irregular="resample")
    np.testing.assert_allclose(fixed.direction, np.eye(3), atol=1e-9)
    assert fixed.spacing[0] == pytest.approx(2.0)


def test_localizer_is_split_off_not_an_error(tmp_path: Path) -> None:
    arr = series_array(4)
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "axial", arr, series_uid=uid)

    def scout(i: int, ds: pydicom.Dataset) -> None:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]

    write_series(
        tmp_path / "scout",
        series_array(1, rows=12, cols=10),
        series_uid=uid,
        row_dir=(1.0, 0.0, 0.0),
        col_dir=(0.0, 0.0, -1.0),
        mutate=scout,
    )
    vol = read_series(tmp_path)
    assert vol.shape == (4, 12, 10)
    assert any("localizer" in n for n in vol.meta["notes"])


def test_mixed_orientation_and_size(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "a", series_array(5), series_uid=uid)
    write_series(tmp_path / "b", series_array(3), series_uid=uid, row_dir=(0.0, 1.0, 0.0), col_dir=(0.0, 0.0, -1.0))
    write_series(tmp_path / "c", series_array(2, rows=8, cols=8), series_uid=uid, origin=(-100.0, -120.0, 60.0))
    with pytest.raises(fm.SeriesError) as info:
        read_series(tmp_path)
    assert "another orientation" in str(info.value) and "another size" in str(info.value)
    assert read_series(tmp_path, on_irregular="allow").shape == (5, 12, 10)


def test_inconsistent_rescale(tmp_path: Path) -> None:
    arr = series_array(4)

    def vary(i: int, ds: pydicom.Dataset) -> None:
        ds.RescaleIntercept = -1024 if i < 2 else -1000

    write_series(tmp_path, arr, mutate=vary)
    _expect_problem(tmp_path, "inconsistent_rescale")
    vol = read_series(tmp_path, on_irregular="allow")
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array[3], arr[3].astype(np.float32) - 1000)


def test_several_series_need_a_choice(tmp_path: Path) -> None:
    write_series(tmp_path / "s1", series_array(3))
    write_series(tmp_path / "s2", series_array(4, seed=5))
    with pytest.raises(fm.SeriesError, match="2 series found"):
        read_series(tmp_path)
    man = index(tmp_path, cache=False)
    assert len(man) == 2
    shapes = sorted(read_series(tmp_path, series=row.series_id).shape[0] for row in man)
    assert shapes == [3, 4]


def test_errors_carry_no_identifiers(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    paths = write_series(tmp_path, series_array(5), series_uid=uid)
    paths[2].unlink()
    with pytest.raises(fm.SeriesError) as info:
        read_series(tmp_path)
    text = str(info.value)
    assert uid not in text and "SECRET" not in text and "424242" not in text


def test_index_manifest_round_trip_and_rejects(tmp_path: Path) -> None:
    arch = tmp_path / "arch"
    write_series(arch / "good", series_array(4))
    bad = write_series(arch / "gappy", series_array(5, seed=3))
    bad[1].unlink()
    (arch / "notes.txt").write_text("not dicom")
    (arch / "empty.dcm").write_bytes(b"")
    cache = tmp_path / "cache.parquet"
    man = index(arch, cache=cache)
    assert len(man) == 2
    assert sorted(r.valid for r in man) == [False, True]
    assert set(man.rejected) == {"notes.txt", "empty.dcm"}
    gappy = next(r for r in man if not r.valid)
    assert any("missing" in p for p in gappy.problems)
    good = next(r for r in man if r.valid)
    assert good.shape == (4, 12, 10) and good.spacing == pytest.approx((2.5, 0.8, 0.7))
    out = tmp_path / "m.parquet"
    man.to_parquet(out)
    back = Manifest.from_parquet(out)
    assert back.rows == man.rows and back.rejected == man.rejected
    wait_for_cache_writes()  # the cache is written in the background
    raw = out.read_bytes() + cache.read_bytes()
    assert b"SECRET" not in raw and b"424242" not in raw
    vol = read_series(good.paths)
    assert vol.shape == good.shape


def test_reindex_reuses_unchanged_headers(tmp_path: Path) -> None:
    write_series(tmp_path / "a", series_array(3))
    cache = tmp_path.parent / (tmp_path.name + "-cache.parquet")
    calls: list[str] = []

    from fastmed.dicom.slice_reader import read_slice_infos

    def counting(path: str):  # type: ignore[no-untyped-def]
        calls.append(path)
        return read_slice_infos(path)

    first = index(tmp_path, cache=cache, header_reader=counting)
    assert len(calls) == 3
    calls.clear()
    again = index(tmp_path, cache=cache, header_reader=counting)
    assert calls == [] and again.rows == first.rows
    write_series(tmp_path / "b", series_array(2, seed=9))
    index(tmp_path, cache=cache, header_reader=counting)
    assert len(calls) == 2


def test_classic_multiframe_without_geometry() -> None:
    path = pydicom.data.get_testdata_file("emri_small.dcm")
    with pytest.raises(fm.SeriesError, match="geometry tags missing"):
        read_series(path)
    vol = read_series(path, on_irregular="allow")
    np.testing.assert_array_equal(vol.array, pydicom.dcmread(path).pixel_array)


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("ImagePositionPatient", "geometry tags missing in 1 of 6 slice\\(s\\): ImagePositionPatient"),
        ("PixelSpacing", "1 slice\\(s\\) have another size or pixel spacing"),  # split off as its own stack
        ("ImageOrientationPatient", "1 slice\\(s\\) have another orientation"),  # split off as its own stack
    ],
)
def test_a_later_slice_without_geometry_is_a_problem_not_a_crash(tmp_path: Path, tag: str, why: str) -> None:
    """Only slice 3 of 6 lacks the tag: the index marks the row invalid and read_series names why."""

    def drop(i: int, ds: pydicom.Dataset) -> None:
        if i == 3:
            delattr(ds, tag)

    write_series(tmp_path, series_array(6), mutate=drop)
    (row,) = index(tmp_path, cache=False).rows
    assert not row.valid and any(re.search(why, p) for p in row.problems)
    with pytest.raises(fm.SeriesError, match=why):
        read_series(tmp_path)


def _enhanced_ct(path: Path, arr: np.ndarray, positions: list[np.ndarray], spacing_yx: tuple[float, float]) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT Image Storage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.NumberOfFrames = arr.shape[0]
    ds.Rows, ds.Columns = arr.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    shared = Dataset()
    orient = Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures = Dataset()
    measures.PixelSpacing = list(spacing_yx)
    measures.SliceThickness = 3.0
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = 1, 0, "HU"
    shared.PlaneOrientationSequence = Sequence([orient])
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PixelValueTransformationSequence = Sequence([transform])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for p in positions:
        item = Dataset()
        plane = Dataset()
        plane.ImagePositionPatient = [float(v) for v in p]
        item.PlanePositionSequence = Sequence([plane])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = arr.astype(np.int16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def test_enhanced_multiframe_per_frame_geometry(tmp_path: Path) -> None:
    arr = series_array(6, rows=9, cols=11).astype(np.int16) - 500
    order = [3, 0, 5, 1, 4, 2]  # frames stored out of spatial order
    positions = [np.array([5.0, -3.0, 2.0 * k]) for k in order]
    _enhanced_ct(tmp_path / "enh.dcm", arr[np.argsort(order)], positions, (0.6, 0.7))
    vol = read_series(tmp_path / "enh.dcm")
    stored = pydicom.dcmread(tmp_path / "enh.dcm").pixel_array
    z = np.array([p[2] for p in positions])
    np.testing.assert_array_equal(vol.array, stored[np.argsort(z)])
    assert vol.spacing == pytest.approx((2.0, 0.6, 0.7))
    assert vol.origin == pytest.approx((5.0, -3.0, 0.0))
    row = index(tmp_path, cache=False)[0]
    assert row.valid and row.shape == (6, 9, 11) and row.files == ("enh.dcm",)
