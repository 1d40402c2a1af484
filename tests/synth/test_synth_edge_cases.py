"""Each edge case does exactly what truth.json says it did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from fastmed.synth import EDGE_CASES, ArchiveInfo, SeriesInfo, generate_archive


def _with(info: ArchiveInfo, name: str) -> tuple[SeriesInfo, dict]:
    hits = [(s, e) for s in info.all_series() for e in s.edge_cases if e["name"] == name]
    assert len(hits) == 1, name
    return hits[0]


def _ipp(info: ArchiveInfo, path: str) -> np.ndarray:
    ds = pydicom.dcmread(info.path(path), stop_before_pixels=True)
    return np.array([float(v) for v in ds.ImagePositionPatient])


def test_every_edge_case_recorded(edge_archive: ArchiveInfo) -> None:
    assert sorted(edge_archive.edge_cases) == sorted(EDGE_CASES)
    for name in EDGE_CASES:
        _with(edge_archive, name)


def test_missing_slice(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "missing_slice")
    files = s.slice_files()
    k = rec["removed_index"]
    assert len(files) == s.shape[0] - 1
    assert k not in [f.slice_index for f in files]
    folder = Path(edge_archive.root) / s.folder
    uids = {pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID for p in folder.glob("*.dcm")}
    on_disk = [
        p for p in folder.glob("*.dcm") if pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID == s.series_uid
    ]
    assert len(on_disk) == len(s.files) and s.series_uid in uids
    before = next(f for f in files if f.slice_index == k - 1)
    after = next(f for f in files if f.slice_index == k + 1)
    gap = np.linalg.norm(_ipp(edge_archive, after.path) - _ipp(edge_archive, before.path))
    assert gap == pytest.approx(2 * s.spacing[0], abs=1e-3)
    assert rec["removed_instance_number"] not in [f.instance_number for f in s.files]


def test_duplicate_slice(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "duplicate_slice")
    k = rec["duplicated_index"]
    dup = pydicom.dcmread(edge_archive.path(rec["file"]))
    orig_info = next(f for f in s.slice_files() if f.slice_index == k)
    orig = pydicom.dcmread(edge_archive.path(orig_info.path))
    assert dup.SeriesInstanceUID == orig.SeriesInstanceUID
    assert dup.SOPInstanceUID != orig.SOPInstanceUID
    assert dup.InstanceNumber == rec["instance_number"] != orig.InstanceNumber
    assert list(dup.ImagePositionPatient) == list(orig.ImagePositionPatient)
    np.testing.assert_array_equal(dup.pixel_array, orig.pixel_array)
    assert len(s.files) == s.shape[0] + 1


def test_shuffled_names(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "shuffled_names")
    names = [Path(f.path).name for f in s.slice_files()]
    assert rec["names_in_slice_order"] == [f.path for f in s.slice_files()]
    by_instance = [Path(f.path).name for f in sorted(s.slice_files(), key=lambda f: f.instance_number)]
    assert names != sorted(names) and by_instance != sorted(by_instance)
    folder = sorted(p.name for p in (Path(edge_archive.root) / s.folder).glob("*.dcm"))
    assert folder == [f"IM_{i + 1:04d}.dcm" for i in range(len(folder))]  # still a dense numbering


def test_gantry_tilt(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "gantry_tilt")
    files = s.slice_files()
    ds = pydicom.dcmread(edge_archive.path(files[0].path), stop_before_pixels=True)
    assert float(ds.GantryDetectorTilt) == pytest.approx(rec["tilt_deg"], abs=1e-4)
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    step = _ipp(edge_archive, files[1].path) - _ipp(edge_archive, files[0].path)
    step /= np.linalg.norm(step)
    np.testing.assert_allclose(step, rec["step_direction"], atol=1e-5)
    angle = np.degrees(np.arccos(np.clip(step @ normal, -1, 1)))
    assert angle == pytest.approx(abs(rec["tilt_deg"]), abs=1e-3)  # steps leave the normal by the tilt
    np.testing.assert_allclose(normal, rec["normal"], atol=1e-5)


def test_localizer(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "localizer")
    loc = pydicom.dcmread(edge_archive.path(rec["file"]))
    assert Path(rec["file"]).parent.as_posix() == s.folder
    first = pydicom.dcmread(edge_archive.path(s.slice_files()[0].path), stop_before_pixels=True)
    assert loc.SeriesInstanceUID == first.SeriesInstanceUID
    assert "LOCALIZER" in loc.ImageType
    iop = [float(v) for v in loc.ImageOrientationPatient]
    assert iop == pytest.approx(rec["orientation"], abs=1e-5)
    assert not np.allclose(iop, [float(v) for v in first.ImageOrientationPatient], atol=1e-2)
    assert loc.pixel_array.shape == (s.shape[1], s.shape[2])
    assert rec["file"] not in [f.path for f in s.slice_files()]


def test_mixed_series(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "mixed_series")
    assert s.folder == rec["folder"]
    other = edge_archive.studies[s.study].series[rec["shared_with_series"]]
    assert other.folder == s.folder
    uids = {
        pydicom.dcmread(p, stop_before_pixels=True).SeriesInstanceUID
        for p in (Path(edge_archive.root) / s.folder).glob("*.dcm")
    }
    assert uids == {s.series_uid, other.series_uid}
    paths = [f.path for f in s.files] + [f.path for f in other.files]
    assert len(paths) == len(set(paths))


def test_nonuniform_spacing(edge_archive: ArchiveInfo) -> None:
    s, rec = _with(edge_archive, "nonuniform_spacing")
    pos = np.array([_ipp(edge_archive, f.path) for f in s.slice_files()])
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    np.testing.assert_allclose(steps, np.diff(rec["offsets_mm"]), atol=1e-4)
    m = rec["from_index"]
    assert steps[: m - 1] == pytest.approx(rec["spacing_before"], abs=1e-4)
    assert steps[m:] == pytest.approx(rec["spacing_after"], abs=1e-4)
    ds = pydicom.dcmread(edge_archive.path(s.slice_files()[0].path), stop_before_pixels=True)
    assert "SpacingBetweenSlices" not in ds


def test_unknown_edge_case_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown edge case"):
        generate_archive(tmp_path, 1, 0, edge_cases=("no_such_case",))


def test_edge_case_without_volume_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a CT or MR"):
        generate_archive(tmp_path, 0, 0, edge_cases=("missing_slice",))
