"""Write small classic CT series with pydicom, with exact control over every geometry tag."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid


def series_array(n: int, rows: int = 12, cols: int = 10, seed: int = 0) -> np.ndarray:
    grid = np.random.Generator(np.random.PCG64(seed))
    return grid.integers(0, 2000, size=(n, rows, cols)).astype(np.uint16)


def write_series(
    folder: Path,
    array: np.ndarray,
    *,
    spacing: tuple[float, float, float] = (2.5, 0.8, 0.7),
    origin: tuple[float, float, float] = (-100.0, -120.0, 30.0),
    row_dir: tuple[float, float, float] = (1.0, 0.0, 0.0),
    col_dir: tuple[float, float, float] = (0.0, 1.0, 0.0),
    slope: float = 1.0,
    intercept: float = -1024.0,
    positions: list[np.ndarray] | None = None,
    series_uid: str | None = None,
    mutate: Callable[[int, Dataset], None] | None = None,
    names: list[str] | None = None,
) -> list[Path]:
    """Write ``array`` (z, y, x) as one file per slice; returns the paths in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    r = np.asarray(row_dir, float)
    c = np.asarray(col_dir, float)
    n = np.cross(r, c)
    series_uid = series_uid or generate_uid()
    study_uid = generate_uid()
    paths = []
    for i, plane in enumerate(array):
        pos = positions[i] if positions is not None else np.asarray(origin) + i * spacing[0] * n
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CTImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.PatientName = "SECRET^NAME"
        ds.PatientID = "PID-424242"
        ds.Modality = "CT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [f"{v:.6f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in (*r, *c)]
        ds.PixelSpacing = [spacing[1], spacing[2]]
        ds.SliceThickness = 5.0  # deliberately not the spacing: spacing must come from positions
        ds.Rows, ds.Columns = plane.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.PixelData = np.ascontiguousarray(plane, dtype=np.uint16).tobytes()
        if mutate is not None:
            mutate(i, ds)
        path = folder / (names[i] if names else f"IM_{i:04d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def rotation(deg: float, axis: int) -> Any:
    a = np.radians(deg)
    m = np.eye(3)
    i, j = [k for k in range(3) if k != axis]
    m[i, i] = m[j, j] = np.cos(a)
    m[i, j], m[j, i] = -np.sin(a), np.sin(a)
    return m
