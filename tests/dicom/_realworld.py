"""Real-world DICOM structures, written with pydicom: what vendor systems produce and test sets lack.

Each builder returns a pydicom Dataset (or bytes, for structures pydicom would tidy up when
writing: odd lengths, trailing junk). ``seeds()`` gives one small file of each kind for the
fuzz corpus.
"""

from __future__ import annotations

import struct
from io import BytesIO
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    EnhancedCTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    RTDoseStorage,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from . import _craft as c

RT_DOSE_INCREMENT = 0x3004000C  # Frame Increment Pointer -> Grid Frame Offset Vector


def dataset(ts: str = ExplicitVRLittleEndian, sop: str = SecondaryCaptureImageStorage, **kw: Any) -> Dataset:
    """A file-ready dataset with meta, identity and PHI-looking patient values."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = kw.pop("study_uid", None) or generate_uid()
    ds.SeriesInstanceUID = kw.pop("series_uid", None) or generate_uid()
    ds.PatientName = c.PHI[0]
    ds.PatientID = c.PHI[1]
    ds.Modality = kw.pop("modality", "OT")
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds


def set_pixels(ds: Dataset, arr: np.ndarray, samples: int = 1, signed: bool = False) -> None:
    """Image pixel module + native PixelData for ``arr`` ((frames,) rows, cols(, samples))."""
    plane = arr.shape[-3:-1] if samples > 1 else arr.shape[-2:]
    frames = arr.shape[0] if arr.ndim - (samples > 1) == 3 else None
    ds.Rows, ds.Columns = (int(v) for v in plane)
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = np.ascontiguousarray(arr).tobytes()


def geometry(ds: Dataset, position: Any, orientation: Any, spacing: tuple[float, float] = (0.8, 0.7)) -> None:
    ds.ImagePositionPatient = [f"{float(v):.6f}" for v in position]
    ds.ImageOrientationPatient = [f"{float(v):.6f}" for v in orientation]
    ds.PixelSpacing = list(spacing)


def to_bytes(ds: Dataset) -> bytes:
    buf = BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def image(shape: tuple[int, ...], dtype: Any = np.uint16, seed: int = 0, high: int = 4000) -> np.ndarray:
    g = np.random.Generator(np.random.PCG64(seed))
    return g.integers(0, high, size=shape).astype(dtype)


# --- encapsulated pixel data inside a sequence item ------------------------------------


def icon_item(undefined_item: bool, ts: str = RLELossless, shape: tuple[int, int] = (6, 8), seed: int = 9) -> Dataset:
    """An Icon Image Sequence item holding its own encapsulated (undefined-length) PixelData."""
    shape = (32, 32) if ts == JPEG2000Lossless else shape
    tmp = dataset()
    set_pixels(tmp, image(shape, np.uint8, seed, 255))
    tmp.compress(ts, encoding_plugin="pylibjpeg" if ts == JPEG2000Lossless else "pydicom")
    item = Dataset()
    for kw in ("Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored"):
        setattr(item, kw, getattr(tmp, kw))
    item.HighBit = tmp.HighBit
    item.PixelRepresentation = 0
    item.PixelData = tmp.PixelData
    item["PixelData"].VR = "OB"
    item["PixelData"].is_undefined_length = True
    item.is_undefined_length_sequence_item = undefined_item
    return item


def with_icon(
    ts: str = JPEG2000Lossless,
    icon_ts: str = RLELossless,
    undefined: bool = True,
    nested: bool = False,
    icon_shape: tuple[int, int] = (6, 8),
) -> Dataset:
    """A compressed (or native) image whose Icon Image Sequence has its own encapsulated pixel data.

    ``undefined``: sequence and item of undefined length, as GDCM and OsiriX write them.
    ``nested``: the icon sits one level deeper, in an item of a private sequence.
    """
    ds = dataset(ts=ExplicitVRLittleEndian)
    shape = (32, 32) if ts == JPEG2000Lossless else (10, 12)
    set_pixels(ds, image(shape))
    if ts != ExplicitVRLittleEndian:
        ds.compress(ts, encoding_plugin="pylibjpeg" if ts == JPEG2000Lossless else "pydicom")
    seq = Sequence([icon_item(undefined, icon_ts, icon_shape)])
    if nested:
        outer = Dataset()
        outer.IconImageSequence = seq
        outer["IconImageSequence"].is_undefined_length = undefined
        outer.is_undefined_length_sequence_item = undefined
        ds.add_new(0x00290010, "LO", "FASTMED TEST")
        ds.add_new(0x00291001, "SQ", Sequence([outer]))
        ds[0x00291001].is_undefined_length = undefined
    else:
        ds.IconImageSequence = seq
        ds["IconImageSequence"].is_undefined_length = undefined
    return ds


def icon_in_un_sequence() -> bytes:
    """An icon with encapsulated pixel data in a private sequence stored as UN of undefined length.

    PS3.5 6.2.2: such a UN holds a sequence in implicit VR little endian, so the nested
    (7FE0,0010) carries no VR either.
    """

    def imp(tag: int, value: bytes) -> bytes:
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value

    icon = imp(0x00280010, struct.pack("<H", 2)) + imp(0x00280011, struct.pack("<H", 2))
    icon += struct.pack("<HHI", 0x7FE0, 0x0010, 0xFFFFFFFF) + c.item(b"") + c.item(b"\xff\xd8\0\0\xff\xd9")
    icon += c.SEQ_DELIM
    un = struct.pack("<HH2sHI", 0x0029, 0x1010, b"UN", 0, 0xFFFFFFFF) + c.undefined_item(icon) + c.SEQ_DELIM
    private = c.el(0x00290010, b"LO", c.txt("FASTMED TEST")) + un
    return c.meta(ExplicitVRLittleEndian) + c.image_module() + private + c.native_pixels(32)


# --- frames placed by the Frame Increment Pointer -------------------------------------


def rt_dose(
    offsets: list[float],
    orientation: tuple[float, ...] = (1, 0, 0, 0, 1, 0),
    position: tuple[float, float, float] = (-50.0, -60.0, 20.0),
    dtype: Any = np.uint32,
    series_uid: str | None = None,
) -> Dataset:
    """An RT Dose grid: frame k at ImagePositionPatient + offsets[k] along the normal."""
    ds = dataset(sop=RTDoseStorage, modality="RTDOSE", series_uid=series_uid)
    set_pixels(ds, image((len(offsets), 6, 5), dtype, seed=len(offsets), high=60000))
    geometry(ds, position, orientation, (2.5, 2.0))
    ds.FrameIncrementPointer = RT_DOSE_INCREMENT
    ds.GridFrameOffsetVector = [f"{v:g}" for v in offsets]
    ds.DoseUnits = "GY"
    ds.DoseType = "PHYSICAL"
    ds.DoseSummationType = "PLAN"
    ds.DoseGridScaling = "1e-5"
    return ds


# --- enhanced multi-frame with per-frame orientations -----------------------------------


def tilt(deg: float) -> tuple[float, ...]:
    """Axial orientation rotated by `deg` about the patient x axis."""
    a = np.radians(deg)
    return (1.0, 0.0, 0.0, 0.0, float(np.cos(a)), float(np.sin(a)))


def enhanced(
    orientations: list[tuple[float, ...]], positions: list[tuple[float, float, float]], series_uid: str | None = None
) -> Dataset:
    """An Enhanced CT image whose frames each carry their own plane position and orientation."""
    ds = dataset(sop=EnhancedCTImageStorage, modality="CT", series_uid=series_uid)
    ds.ImageType = ["DERIVED", "SECONDARY", "MPR"]
    set_pixels(ds, image((len(orientations), 8, 7), seed=3))
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [0.8, 0.7]
    pm.SliceThickness = 1.0
    shared.PixelMeasuresSequence = [pm]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    for o, p in zip(orientations, positions, strict=True):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [f"{v:.6f}" for v in p]
        ori = Dataset()
        ori.ImageOrientationPatient = [f"{v:.6f}" for v in o]
        item.PlanePositionSequence = [pos]
        item.PlaneOrientationSequence = [ori]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    return ds


# --- structures pydicom tidies on write: crafted bytes ----------------------------------


def odd_lengths(implicit: bool = False) -> bytes:
    """Old-vendor odd-length values (strings and 8-bit pixel data without their pad byte)."""

    def e(tag: int, vr: bytes, value: bytes) -> bytes:
        if not implicit:
            return c.el(tag, vr, value)
        return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value

    body = e(0x00080060, b"CS", b"OT")
    body += e(0x0008103E, b"LO", b"ABC")  # odd
    body += e(0x00100010, b"PN", c.PHI[0].encode())
    body += e(0x0020000E, b"UI", b"1.2.3.4.5")  # odd, no NUL pad
    body += e(0x00200013, b"IS", b"7")  # odd
    body += e(0x00200032, b"DS", b"0\\0\\5")  # odd
    body += e(0x00200037, b"DS", b"1\\0\\0\\0\\1\\0")
    body += e(0x00280002, b"US", struct.pack("<H", 1)) + e(0x00280004, b"CS", b"MONOCHROME2 ")
    body += e(0x00280010, b"US", struct.pack("<H", 3)) + e(0x00280011, b"US", struct.pack("<H", 5))
    body += e(0x00280030, b"DS", b"0.5\\0.5 ")
    for tag, v in ((0x00280100, 8), (0x00280101, 8), (0x00280102, 7), (0x00280103, 0)):
        body += e(tag, b"US", struct.pack("<H", v))
    body += e(0x7FE00010, b"OB", image((3, 5), np.uint8, 5, 255).tobytes())  # 15 bytes: odd
    return c.meta(ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian) + body


def trailing(kind: str) -> bytes:
    """A plain image followed by Data Set Trailing Padding (FFFC,FFFC), zero bytes or junk."""
    ds = dataset()
    set_pixels(ds, image((4, 6), seed=11))
    if kind == "padding_element":
        ds.DataSetTrailingPadding = b"\0" * 64
        return to_bytes(ds)
    tail = {"zeros": b"\0" * 100, "zeros_odd": b"\0" * 7, "junk": b"\xde\xad\xbe\xef" * 5 + b"x"}[kind]
    return to_bytes(ds) + tail


def seeds() -> dict[str, bytes]:
    """One small file of each real-world structure (fuzz corpus seeds)."""
    return {
        # Native main images: a mutated RLE main image soon reaches imagecodecs.dicomrle_decode
        # with segment offsets past the frame, which crashes it (a codec-path bug, not a parser one).
        "rw_icon_in_native.dcm": to_bytes(with_icon(ExplicitVRLittleEndian)),
        "rw_icon_nested_native.dcm": to_bytes(with_icon(ExplicitVRLittleEndian, nested=True)),
        "rw_rtdose.dcm": to_bytes(rt_dose([0.0, 2.5, 5.0])),
        "rw_enhanced_tilted.dcm": to_bytes(enhanced([tilt(0), tilt(2)], [(0, 0, 0), (0, 0, 2)])),
        "rw_icon_in_un.dcm": icon_in_un_sequence(),
        "rw_odd_lengths.dcm": odd_lengths(),
        "rw_trailing_zeros.dcm": trailing("zeros_odd"),
    }
