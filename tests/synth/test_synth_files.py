"""Every file is valid DICOM (pydicom is the oracle) and decodes to exactly what was written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import uid

from fastmed.synth import TRANSFER_SYNTAXES, ArchiveInfo, SeriesInfo
from fastmed.synth.encode import JPEG_BASELINE

SOP_CLASSES = {
    "CT": uid.CTImageStorage,
    "MR": uid.MRImageStorage,
    "CR": uid.ComputedRadiographyImageStorage,
    "DX": uid.DigitalXRayImageStorageForPresentation,
}


def _series_with(archive: ArchiveInfo, ts: str) -> list[SeriesInfo]:
    return [s for s in archive.all_series() if s.transfer_syntax == ts]


def test_every_file_opens_and_is_listed(archive: ArchiveInfo) -> None:
    on_disk = {p.relative_to(archive.root).as_posix() for p in Path(archive.root).rglob("*.dcm")}
    listed = {f.path for s in archive.all_series() for f in s.files}
    assert on_disk == listed
    for s in archive.all_series():
        for f in s.files:
            ds = pydicom.dcmread(archive.path(f.path))
            assert ds.file_meta.TransferSyntaxUID == s.transfer_syntax
            assert ds.file_meta.MediaStorageSOPClassUID == SOP_CLASSES[s.modality]
            assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == f.sop_instance_uid
            assert ds.file_meta.ImplementationClassUID
            assert ds.SOPClassUID == SOP_CLASSES[s.modality]
            assert ds.Modality == s.modality
            assert ds.SeriesInstanceUID == s.series_uid
            assert ds.InstanceNumber == f.instance_number
            assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit) == (
                s.bits_allocated,
                s.bits_stored,
                s.bits_stored - 1,
            )
            assert ds.PixelRepresentation == int(s.signed)
            assert ds.SamplesPerPixel == 1 and ds.PhotometricInterpretation == "MONOCHROME2"
            assert "WindowCenter" in ds and "WindowWidth" in ds


def test_study_level_uids_are_shared(archive: ArchiveInfo) -> None:
    for st in archive.studies:
        for s in st.series:
            ds = pydicom.dcmread(archive.path(s.files[0].path), stop_before_pixels=True)
            assert ds.StudyInstanceUID == st.study_uid
            if s.modality in ("CT", "MR"):
                assert ds.FrameOfReferenceUID == st.frame_of_reference_uid
    uids = [f.sop_instance_uid for s in archive.all_series() for f in s.files]
    assert len(uids) == len(set(uids))


def test_archive_covers_every_transfer_syntax(archive: ArchiveInfo) -> None:
    assert {s.transfer_syntax for s in archive.all_series()} == set(TRANSFER_SYNTAXES)


@pytest.mark.parametrize("ts", TRANSFER_SYNTAXES)
def test_pixels_decode_to_what_was_written(archive: ArchiveInfo, ts: str) -> None:
    series = _series_with(archive, ts)
    assert series, f"no series uses {ts}"
    for s in series:
        assert s.pixels is not None
        written = np.load(archive.path(s.pixels))
        for f in s.files:
            arr = pydicom.dcmread(archive.path(f.path)).pixel_array
            expected = written[f.slice_index] if written.ndim == 3 else written
            assert arr.shape == expected.shape
            if ts == JPEG_BASELINE:
                diff = np.abs(arr.astype(np.int32) - expected.astype(np.int32))
                assert diff.mean() < 1.5 and diff.max() <= 16
            else:
                assert arr.dtype == expected.dtype
                np.testing.assert_array_equal(arr, expected)
                digest = hashlib.sha256(arr.astype(arr.dtype.newbyteorder("<")).tobytes()).hexdigest()
                assert digest == f.pixel_sha256


def test_ct_stored_values_rescale_to_hu(archive: ArchiveInfo) -> None:
    layouts = set()
    for s in archive.all_series():
        if s.modality != "CT":
            continue
        f = s.slice_files()[len(s.slice_files()) // 2]
        ds = pydicom.dcmread(archive.path(f.path))
        layouts.add((ds.PixelRepresentation, ds.BitsStored, float(ds.RescaleSlope), float(ds.RescaleIntercept)))
        hu = pydicom.pixels.apply_rescale(ds.pixel_array, ds)
        assert float(ds.RescaleSlope) == s.rescale_slope
        assert float(ds.RescaleIntercept) == s.rescale_intercept
        corner = hu[:4, :4]  # outside the body: air
        assert abs(float(np.median(corner)) + 1000.0) < 40.0
        lo, hi = np.percentile(hu, [1, 99])
        assert lo < -700.0 and hi > 0.0
    assert len(layouts) >= 2  # signed and unsigned storage both appear


def test_radiographs(archive: ArchiveInfo) -> None:
    kinds = {}
    for s in archive.all_series():
        if s.modality in ("CR", "DX"):
            assert len(s.files) == 1
            ds = pydicom.dcmread(archive.path(s.files[0].path))
            kinds[s.modality] = (ds.BitsAllocated, ds.BitsStored, ds.file_meta.TransferSyntaxUID)
            assert [float(v) for v in ds.ImagerPixelSpacing] == pytest.approx(s.spacing, abs=1e-5)
            assert int(ds.pixel_array.max()) <= 2**ds.BitsStored - 1
    assert kinds["CR"][:2] == (16, 12)
    assert kinds["DX"] == (8, 8, JPEG_BASELINE)


def test_no_patient_data_in_file_names(archive: ArchiveInfo, edge_archive: ArchiveInfo) -> None:
    for info in (archive, edge_archive):
        names = [p.relative_to(info.root).as_posix() for p in Path(info.root).rglob("*")]
        for st in info.studies:
            ds = pydicom.dcmread(info.path(st.series[0].files[0].path), stop_before_pixels=True)
            assert str(ds.PatientName) == st.patient["PatientName"].replace("^", "^")
            secrets = [
                str(ds.PatientID),
                str(ds.PatientName),
                str(ds.PatientName).replace("^", "_"),
                str(ds.PatientName).split("^")[-1],
                ds.PatientBirthDate,
                ds.AccessionNumber,
                ds.StudyInstanceUID,
            ]
            for name in names:
                for secret in secrets:
                    assert secret not in name
