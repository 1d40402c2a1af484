"""Real-world DICOM structures (issue 7 part 2): fastmed decodes them as pydicom does, or refuses them.

Files are written with pydicom (tests/dicom/_realworld.py); the oracle is pydicom's own reading
of the same file (``pixel_array``, its header values) and the geometry the test wrote.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

import fastmed as fm
from fastmed.dicom import read_header, read_pixels, read_series
from fastmed.dicom.index import index
from fastmed.dicom.slice_columns import OK, SLOW, read_columns
from fastmed.dicom.slice_info import SliceInfo, slice_infos_from_dataset
from fastmed.dicom.slice_reader import read_slice_infos, read_slice_infos_many
from tests.dicom import _realworld as rw
from tests.dicom._testdata import data_dirs
from tests.dicom.series_builder import series_array, write_series


def _write(path: Path, data: bytes | pydicom.Dataset) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else rw.to_bytes(data))
    return path


def _same_pixels(path: Path) -> None:
    want = pydicom.dcmread(path).pixel_array
    got = read_pixels(path)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _three_readers_agree(path: Path) -> list[SliceInfo]:
    """The index's native fast path, the native header path and the pydicom path give the same records."""
    fast = read_slice_infos_many([str(path)], threads=1)[0]
    assert not isinstance(fast, Exception), fast
    assert fast == read_slice_infos(str(path))
    ref = slice_infos_from_dataset(pydicom.dcmread(path, stop_before_pixels=True), str(path))
    assert [(s.frame, s.rows, s.columns, s.position, s.orientation) for s in fast] == [
        (s.frame, s.rows, s.columns, s.position, s.orientation) for s in ref
    ]
    return fast


# --- 1. encapsulated pixel data inside a sequence item ----------------------------------


@pytest.mark.parametrize("nested", [False, True], ids=["icon", "icon_in_private_item"])
@pytest.mark.parametrize("undefined", [True, False], ids=["undefined_len", "defined_len"])
@pytest.mark.parametrize("ts", [JPEG2000Lossless, RLELossless, ExplicitVRLittleEndian], ids=["j2k", "rle", "native"])
def test_icon_sequence_pixel_data(tmp_path: Path, ts: str, undefined: bool, nested: bool) -> None:
    p = _write(tmp_path / "icon.dcm", rw.with_icon(ts, undefined=undefined, nested=nested))
    h = read_header(p)
    ds = pydicom.dcmread(p)
    assert (h.rows, h.columns) == (ds.Rows, ds.Columns)  # the top-level image, not the icon
    _same_pixels(p)
    _three_readers_agree(p)


def test_icon_larger_than_the_index_prefix(tmp_path: Path) -> None:
    """The index reads 8 KiB first; an icon that runs past it makes it read the whole file."""
    p = _write(tmp_path / "big_icon.dcm", rw.with_icon(RLELossless, icon_shape=(120, 100)))
    assert p.stat().st_size > 8192 + 4096
    infos = _three_readers_agree(p)
    assert (infos[0].rows, infos[0].columns) == (10, 12)
    _same_pixels(p)
    vol = read_series(p)
    np.testing.assert_array_equal(vol.array[0], pydicom.dcmread(p).pixel_array)


def test_icon_with_a_jpeg2000_icon(tmp_path: Path) -> None:
    p = _write(tmp_path / "icon.dcm", rw.with_icon(RLELossless, icon_ts=JPEG2000Lossless))
    _same_pixels(p)


def test_icon_in_an_undefined_length_un_sequence(tmp_path: Path) -> None:
    p = _write(tmp_path / "un.dcm", rw.icon_in_un_sequence())
    ds = pydicom.dcmread(p)
    assert (read_header(p).rows, read_header(p).columns) == (ds.Rows, ds.Columns) == (4, 4)
    _same_pixels(p)
    _three_readers_agree(p)


# --- 2. frames placed by Frame Increment Pointer -> Grid Frame Offset Vector ------------


def _expected_positions(ds: pydicom.Dataset) -> np.ndarray:
    o = np.asarray(ds.ImageOrientationPatient, float)
    n = np.cross(o[:3], o[3:])
    ipp = np.asarray(ds.ImagePositionPatient, float)
    off = np.asarray(ds.GridFrameOffsetVector, float)
    return ipp + (off - off[0])[:, None] * n


@pytest.mark.parametrize(
    "offsets,orientation",
    [
        ([2.5 * k for k in range(98)], (1, 0, 0, 0, 1, 0)),  # the 98-frame dose grid
        ([0.0, -3.0, -6.0, -9.0], (1, 0, 0, 0, 1, 0)),  # offsets against the normal
        ([0.0, 2.0, 4.0], (0.8, 0.6, 0.0, 0.0, 0.0, -1.0)),  # oblique
    ],
    ids=["98_frames", "descending", "oblique"],
)
def test_rt_dose_frames_get_their_offsets(tmp_path: Path, offsets: list[float], orientation: tuple) -> None:
    ds = rw.rt_dose(offsets, orientation)
    p = _write(tmp_path / "dose.dcm", ds)
    infos = _three_readers_agree(p)
    want_pos = _expected_positions(ds)
    np.testing.assert_allclose([s.position for s in infos], want_pos, atol=1e-6)
    vol = read_series(p)  # no "share a position" error
    pix = pydicom.dcmread(p).pixel_array
    order = np.argsort(np.asarray(offsets) * 1.0)
    assert vol.shape == (len(offsets), 6, 5)
    np.testing.assert_array_equal(vol.array, pix[order])
    assert vol.spacing[0] == pytest.approx(abs(offsets[1] - offsets[0]))
    np.testing.assert_allclose(vol.origin, want_pos[order[0]], atol=1e-6)
    assert vol.meta["problems"] == []
    row = index(tmp_path, cache=False).rows[0]
    assert row.valid and row.shape == vol.shape


def test_index_fast_path_hands_only_grid_offset_files_to_the_header_path(tmp_path: Path) -> None:
    dose = _write(tmp_path / "dose.dcm", rw.rt_dose([0.0, 2.0, 4.0]))
    ds = rw.rt_dose([0.0, 2.0, 4.0])
    ds.FrameIncrementPointer = 0x00181063  # Frame Time: a cine, frames share the one geometry
    ds.FrameTime = 40.0
    del ds.GridFrameOffsetVector
    cine = _write(tmp_path / "cine.dcm", ds)
    cols = read_columns([str(dose), str(cine)], threads=1)
    assert cols["status"].tolist() == [SLOW, OK]
    assert len({s.position for s in _three_readers_agree(cine)}) == 1
    with pytest.raises(fm.SeriesError, match="share a position"):
        read_series(cine)


def test_rt_dose_absolute_offsets(tmp_path: Path) -> None:
    """PS3.3 C.8.8.3.2 type b: the first offset is the z of ImagePositionPatient (transverse only)."""
    ds = rw.rt_dose([20.0, 23.0, 26.0], position=(-50.0, -60.0, 20.0))
    p = _write(tmp_path / "dose.dcm", ds)
    infos = _three_readers_agree(p)
    assert [s.position[2] for s in infos] == pytest.approx([20.0, 23.0, 26.0])
    # Normal -z (rows run -x): absolute offsets are still z coordinates.
    ds = rw.rt_dose([20.0, 23.0, 26.0], orientation=(-1, 0, 0, 0, 1, 0), position=(-50.0, -60.0, 20.0))
    p = _write(tmp_path / "flip" / "dose.dcm", ds)
    infos = _three_readers_agree(p)
    assert [s.position[2] for s in infos] == pytest.approx([20.0, 23.0, 26.0])
    vol = read_series(p)
    np.testing.assert_array_equal(vol.array, pydicom.dcmread(p).pixel_array[::-1])


def test_rt_dose_offsets_that_do_not_fit_are_an_error(tmp_path: Path) -> None:
    ds = rw.rt_dose([0.0, 2.5, 5.0])
    ds.GridFrameOffsetVector = ["0", "2.5"]  # one short
    p = _write(tmp_path / "dose.dcm", ds)
    with pytest.raises(fm.SeriesError, match="share a position"):
        read_series(p)
    assert not index(tmp_path, cache=False).rows[0].valid


# --- 3. frames of slightly different orientation -----------------------------------------


def test_enhanced_frames_with_tilted_orientations(tmp_path: Path) -> None:
    ds = rw.enhanced([rw.tilt(0), rw.tilt(1.5), rw.tilt(3)], [(0, 0, 0), (0, 0, 2), (0, 0, 4)])
    p = _write(tmp_path / "mpr.dcm", ds)
    with pytest.raises(fm.SeriesError, match="rotated up to 3 degrees"):
        read_series(p)
    vol = read_series(p, on_irregular="allow")
    assert vol.shape == (3, 8, 7)  # every frame kept
    np.testing.assert_array_equal(vol.array, pydicom.dcmread(p).pixel_array)
    assert "mixed_orientation" in vol.meta["problem_kinds"]
    assert not any("localizer" in n for n in vol.meta["notes"])
    row = index(tmp_path, cache=False).rows[0]
    assert not row.valid and row.shape == (3, 8, 7) and any("rotated" in m for m in row.problems)


def test_orthogonal_frame_of_an_enhanced_image_is_not_a_localizer(tmp_path: Path) -> None:
    sag = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    ds = rw.enhanced([rw.tilt(0), rw.tilt(0), sag], [(0, 0, 0), (0, 0, 2), (0, 0, 4)])
    p = _write(tmp_path / "mf.dcm", ds)
    with pytest.raises(fm.SeriesError, match="1 slice\\(s\\) have another orientation"):
        read_series(p)
    vol = read_series(p, on_irregular="allow")
    assert vol.shape[0] == 2 and vol.meta["problem_kinds"] == ["mixed_orientation"]


def test_enhanced_frame_whose_frame_type_says_localizer(tmp_path: Path) -> None:
    sag = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
    ds = rw.enhanced([rw.tilt(0), rw.tilt(0), sag], [(0, 0, 0), (0, 0, 2), (0, 0, 4)])
    for item, kind in zip(ds.PerFrameFunctionalGroupsSequence, ("AXIAL", "AXIAL", "LOCALIZER"), strict=True):
        frame_type = pydicom.Dataset()
        frame_type.FrameType = ["ORIGINAL", "PRIMARY", kind, "NONE"]
        item.CTImageFrameTypeSequence = [frame_type]
    p = _write(tmp_path / "mf.dcm", ds)
    vol = read_series(p)
    assert vol.shape == (2, 8, 7) and vol.meta["problems"] == []
    assert any("localizer" in n for n in vol.meta["notes"])
    np.testing.assert_array_equal(vol.array, pydicom.dcmread(p).pixel_array[:2])


def test_scout_without_localizer_image_type_is_still_one(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "axial", series_array(4), series_uid=uid)
    write_series(tmp_path / "scout", series_array(1), series_uid=uid, row_dir=(1, 0, 0), col_dir=(0, 0, -1))
    vol = read_series(tmp_path)
    assert vol.shape == (4, 12, 10) and vol.meta["problems"] == []
    assert any("localizer" in n for n in vol.meta["notes"])


def test_slightly_tilted_single_image_is_a_problem_not_a_localizer(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    arr = series_array(5)
    t = rw.tilt(4.0)
    paths = write_series(tmp_path / "a", arr[:4], series_uid=uid)
    write_series(tmp_path / "b", arr[4:], series_uid=uid, row_dir=t[:3], col_dir=t[3:], origin=(-100.0, -120.0, 40.0))
    with pytest.raises(fm.SeriesError, match="rotated"):
        read_series(tmp_path)
    vol = read_series(tmp_path, on_irregular="allow")
    assert vol.shape == (5, 12, 10)
    np.testing.assert_array_equal(vol.array[:4], arr[:4].astype(np.int32) - 1024)
    assert len(paths) == 4 and not any("localizer" in n for n in vol.meta["notes"])


# --- 4. colour / multi-sample ----------------------------------------------------------------


def _colour_series(folder: Path, n: int = 3) -> list[Path]:
    uid = pydicom.uid.generate_uid()
    out = []
    for k in range(n):
        ds = rw.dataset(series_uid=uid, modality="US", InstanceNumber=k + 1)
        rw.set_pixels(ds, rw.image((6, 5, 3), np.uint8, seed=k, high=255), samples=3)
        rw.geometry(ds, (0, 0, 2.0 * k), (1, 0, 0, 0, 1, 0))
        out.append(_write(folder / f"c{k}.dcm", ds))
    return out


def test_colour_series_is_invalid_and_refused(tmp_path: Path) -> None:
    paths = _colour_series(tmp_path)
    for p in paths:
        _same_pixels(p)  # per file: channel-last RGB, as pydicom
    row = index(tmp_path, cache=False).rows[0]
    assert not row.valid and any("colour" in m for m in row.problems)
    for policy in ("raise", "allow", "resample"):
        with pytest.raises(fm.SeriesError, match="colour"):
            read_series(tmp_path, on_irregular=policy)  # type: ignore[arg-type]


# --- 5. odd lengths, trailing bytes, DICOMDIR -----------------------------------------------


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_odd_length_values(tmp_path: Path, implicit: bool) -> None:
    p = _write(tmp_path / "odd.dcm", rw.odd_lengths(implicit))
    ds = pydicom.dcmread(p)
    h = read_header(p, tags=["SeriesDescription", "InstanceNumber", "ImagePositionPatient", "Rows", "Columns"])
    assert h.get("SeriesDescription") == ds.SeriesDescription
    assert h.get("InstanceNumber") == ds.InstanceNumber
    assert [float(v) for v in h.get("ImagePositionPatient")] == [float(v) for v in ds.ImagePositionPatient]
    _same_pixels(p)
    vol = read_series(p)
    np.testing.assert_array_equal(vol.array[0], ds.pixel_array)


@pytest.mark.parametrize("kind", ["padding_element", "zeros", "zeros_odd", "junk"])
def test_trailing_bytes_after_the_dataset(tmp_path: Path, kind: str) -> None:
    p = _write(tmp_path / "t.dcm", rw.trailing(kind))
    _same_pixels(p)
    _three_readers_agree(p)


def test_dicomdir_is_set_aside(tmp_path: Path) -> None:
    from pydicom.fileset import FileSet

    src = write_series(tmp_path / "src", series_array(3))
    fs = FileSet()
    for p in src:
        ds = pydicom.dcmread(p)
        for kw, v in (("StudyDate", "20200101"), ("StudyTime", "1200"), ("StudyID", "1"), ("SeriesNumber", 1)):
            setattr(ds, kw, v)
        ds.AccessionNumber = ds.ReferringPhysicianName = ""
        fs.add(ds)
    root = tmp_path / "media"
    fs.write(root)
    shutil.rmtree(tmp_path / "src")
    # As GDCM writes them: undefined-length records, one with an icon of encapsulated pixels.
    dd = pydicom.dcmread(root / "DICOMDIR")
    dd["DirectoryRecordSequence"].is_undefined_length = True
    record = dd.DirectoryRecordSequence[-1]
    record.is_undefined_length_sequence_item = True
    record.IconImageSequence = [rw.icon_item(undefined_item=True)]
    record["IconImageSequence"].is_undefined_length = True
    dd.save_as(root / "DICOMDIR")
    assert read_header(root / "DICOMDIR").rows is None
    m = index(root, cache=False)
    assert "DICOMDIR" in m.rejected and m.rejected["DICOMDIR"]
    assert len(m.rows) == 1 and m.rows[0].valid and m.rows[0].shape == (3, 12, 10)
    assert all("DICOMDIR" not in f for f in m.rows[0].files)
    assert read_series(root).shape == (3, 12, 10)


# --- 4 again: validity means "read_series accepts it", over a mixed tree -------------------


def test_index_valid_is_what_read_series_accepts(tmp_path: Path) -> None:
    uid = pydicom.uid.generate_uid()
    write_series(tmp_path / "ct", series_array(4))
    write_series(tmp_path / "loc" / "ax", series_array(3), series_uid=uid)
    write_series(tmp_path / "loc" / "scout", series_array(1), series_uid=uid, row_dir=(1, 0, 0), col_dir=(0, 0, -1))
    write_series(tmp_path / "gap", series_array(3), positions=[np.array([0.0, 0, z]) for z in (0.0, 2.0, 6.0)])
    _colour_series(tmp_path / "colour")
    _write(tmp_path / "dose.dcm", rw.rt_dose([0.0, 2.0, 4.0, 6.0]))
    _write(tmp_path / "mpr.dcm", rw.enhanced([rw.tilt(0), rw.tilt(2)], [(0, 0, 0), (0, 0, 2)]))
    _write(tmp_path / "icon.dcm", rw.with_icon(RLELossless))
    _write(tmp_path / "odd.dcm", rw.odd_lengths())
    m = index(tmp_path, cache=False)
    assert len(m.rows) == 8
    verdicts = {}
    for row in m.rows:
        try:
            vol = read_series(tmp_path, series=row.series_id)
        except fm.SeriesError:
            accepted = False
        else:
            accepted = True
            assert vol.shape == row.shape
        verdicts[row.files[0].split("/")[0]] = (row.valid, accepted)
        assert row.valid == accepted, (row.files, row.problems)
    assert sum(v for v, _ in verdicts.values()) == 5  # ct, loc, dose, icon, odd


@pytest.mark.parametrize("name", ["rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"])
def test_pydicom_rt_dose_files(name: str) -> None:
    paths = [d / name for d in data_dirs() if (d / name).is_file()]
    if not paths:
        pytest.skip(f"{name} not in the installed test data")
    p = paths[0]
    infos = _three_readers_agree(p)
    ds = pydicom.dcmread(p)
    np.testing.assert_allclose([s.position for s in infos], _expected_positions(ds), atol=1e-6)
    vol = read_series(p)
    assert vol.meta["problems"] == [] and vol.spacing[0] == pytest.approx(5.0)
    np.testing.assert_array_equal(vol.array, ds.pixel_array)
