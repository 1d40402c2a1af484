"""DICOM datasets for synthetic images: every tag a reader needs, fake patient fields included."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.valuerep import format_number_as_ds

from fastmed.synth import encode
from fastmed.synth.edge_cases import FileEntry
from fastmed.synth.geometry import SeriesGeometry
from fastmed.synth.keys import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from fastmed.synth.plan import SeriesPlan, StudyPlan

SOP_CLASS = {
    "CT": str(uid.CTImageStorage),
    "MR": str(uid.MRImageStorage),
    "CR": str(uid.ComputedRadiographyImageStorage),
    "DX": str(uid.DigitalXRayImageStorageForPresentation),
}


def ds_value(x: float) -> str:
    """Return a decimal string of at most 16 characters (the DS limit) for ``x``."""
    return format_number_as_ds(float(round(x, 6)))


def _ds_list(v: npt.ArrayLike) -> list[str]:
    return [ds_value(float(x)) for x in np.asarray(v, dtype=np.float64).ravel()]


def build_dataset(
    study: StudyPlan,
    series: SeriesPlan,
    entry: FileEntry,
    geom: SeriesGeometry,
    frame: npt.NDArray[np.integer],
) -> Dataset:
    """Return the dataset of one file, pixels encoded in the series' transfer syntax.

    ``geom`` is the grid the frame was sampled on (the series grid, or the localizer plane);
    ``frame`` holds the stored integers (rows, cols).
    """
    sop_class = SOP_CLASS[series.modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = uid.UID(sop_class)
    meta.MediaStorageSOPInstanceUID = uid.UID(entry.sop_uid)
    meta.ImplementationClassUID = uid.UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    meta.TransferSyntaxUID = uid.UID(series.transfer_syntax)

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    kind = "LOCALIZER" if entry.kind == "localizer" else "AXIAL" if series.is_volume else ""
    ds.ImageType = ["ORIGINAL", "PRIMARY"] + ([kind] if kind else [])
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = entry.sop_uid
    for key, value in study.patient.items():
        setattr(ds, key, value)
    ds.SeriesDate = study.patient["StudyDate"]
    ds.ContentDate = study.patient["StudyDate"]
    ds.Modality = series.modality
    ds.Manufacturer = "FASTMED"
    ds.ManufacturerModelName = "SYNTH"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = f"SYNTH {study.kind} CHEST ABDOMEN"
    ds.SeriesDescription = series.description
    ds.BodyPartExamined = "CHEST"
    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = series.series_uid
    ds.StudyID = f"{study.index + 1}"
    ds.SeriesNumber = series.index + 1
    ds.InstanceNumber = entry.instance_number
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(frame.shape[0]), int(frame.shape[1])
    fmt = series.pixel_format
    ds.BitsAllocated = fmt.bits_allocated
    ds.BitsStored = fmt.bits_stored
    ds.HighBit = fmt.bits_stored - 1
    ds.PixelRepresentation = int(fmt.signed)
    ds.WindowCenter = ds_value(series.window[0])
    ds.WindowWidth = ds_value(series.window[1])
    if fmt.rescale:
        ds.RescaleIntercept = ds_value(fmt.intercept)
        ds.RescaleSlope = ds_value(fmt.slope)
        ds.RescaleType = "HU"
    _, dy, dx = geom.spacing
    if series.is_volume:
        ds.PatientPosition = "HFS"
        ds.FrameOfReferenceUID = study.frame_uid
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = _ds_list(entry.position)
        ds.ImageOrientationPatient = _ds_list(np.concatenate([geom.row_dir, geom.col_dir]))
        ds.PixelSpacing = _ds_list([dy, dx])
        thickness = geom.spacing[0] if entry.kind != "localizer" else 1.0
        ds.SliceThickness = ds_value(thickness)
        if geom.uniform and entry.kind != "localizer":
            spacing_normal = geom.spacing[0] * float(abs(geom.step_dir @ geom.normal))
            ds.SpacingBetweenSlices = ds_value(spacing_normal)
        ds.SliceLocation = ds_value(float(np.asarray(entry.position) @ geom.normal))
        if series.modality == "CT":
            ds.KVP = "120"
            ds.ConvolutionKernel = "STANDARD"
            ds.GantryDetectorTilt = ds_value(series.extra.get("GantryDetectorTilt", 0.0))
        else:
            weighting = series.contrast.name
            ds.ScanningSequence = "SE"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "2D"
            ds.RepetitionTime = "500" if weighting == "T1" else "4000"
            ds.EchoTime = "12" if weighting == "T1" else "90"
            ds.MagneticFieldStrength = "1.5"
    else:
        ds.ImagerPixelSpacing = _ds_list([dy, dx])
        ds.PixelSpacing = _ds_list([dy, dx])
        ds.PatientOrientation = ["L", "F"]
        ds.ViewPosition = "PA"
        ds.KVP = "120"
        ds.PresentationLUTShape = "IDENTITY"
        if series.modality == "DX":
            ds.PresentationIntentType = "FOR PRESENTATION"
    encode.set_pixels(ds, frame, series.transfer_syntax)
    return ds


def write_dataset(ds: Dataset, path: Path) -> None:
    """Write a Part 10 file (preamble, file meta) with the encoding its transfer syntax implies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dcmwrite(path, ds, enforce_file_format=True)
