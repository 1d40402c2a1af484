"""labels.csv and the NIfTI masks: what the table says agrees with truth.json, and masks sit in patient space."""

from __future__ import annotations

import csv
from pathlib import Path

import nibabel as nib
import numpy as np

from fastmed.synth import ArchiveInfo
from fastmed.synth.masks import TABLE_COLUMNS


def test_table_rows_agree_with_truth(archive: ArchiveInfo) -> None:
    with open(Path(archive.root) / "labels.csv", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == TABLE_COLUMNS
        rows = {r["SeriesInstanceUID"]: r for r in reader}
    assert len(rows) == sum(1 for _ in archive.all_series())
    for st in archive.studies:
        for s in st.series:
            r = rows[s.series_uid]
            assert r["StudyInstanceUID"] == st.study_uid and r["path"] == s.folder
            assert int(r["lesion_count"]) == st.lesion_count == len(s.lesions)
            assert int(r["lesion_present"]) == int(bool(s.lesions))
            assert set(filter(None, r["findings"].split(";"))) == {les.organ for les in s.lesions}
            assert r["report"] == archive.path(st.report).read_text()
            assert r["mask"] == s.mask and archive.path(s.mask).is_file()


def test_nifti_masks_put_lesions_at_their_patient_position(archive: ArchiveInfo) -> None:
    for s in archive.all_series():
        img = nib.load(archive.path(s.mask))
        data = np.asanyarray(img.dataobj)
        labels = np.load(archive.path(s.labels))
        assert data.dtype == np.uint8 and data.sum(dtype=np.int64) == labels.sum(dtype=np.int64)
        if s.modality not in ("CT", "MR"):
            assert data.shape == (labels.shape[1], labels.shape[0], 1)
            continue
        inv = np.linalg.inv(img.affine)
        for les in s.lesions:
            x, y, z = les.centre_mm  # LPS
            ijk = inv @ np.array([-x, -y, z, 1.0])  # nibabel affines are RAS
            assert data[tuple(int(round(v)) for v in ijk[:3])] == les.id
