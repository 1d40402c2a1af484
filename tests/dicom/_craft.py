"""Small valid datasets (pydicom) and raw element builders for malformed variants."""

from __future__ import annotations

import struct
from io import BytesIO

import numpy as np

PHI = ("SECRET^PATIENT", "PHI12345", "19700101")
LONG_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UN", b"UT", b"UC", b"UR", b"SV", b"UV"}
ITEM_DELIM = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
SEQ_DELIM = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def el(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    """Explicit VR LE element; `length` overrides the declared length (to lie)."""
    n = len(value) if length is None else length
    g, e = tag >> 16, tag & 0xFFFF
    if vr in LONG_VRS:
        return struct.pack("<HH2sHI", g, e, vr, 0, n) + value
    return struct.pack("<HH2sH", g, e, vr, n) + value


def item(body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return struct.pack("<HHI", 0xFFFE, 0xE000, n) + body


def undefined_item(body: bytes) -> bytes:
    return struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + ITEM_DELIM


def undefined_seq(tag: int, items: bytes) -> bytes:
    return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, b"SQ", 0, 0xFFFFFFFF) + items + SEQ_DELIM


def txt(s: str) -> bytes:
    b = s.encode()
    return b + b" " * (len(b) % 2)


def uid(s: str) -> bytes:
    b = s.encode()
    return b + b"\0" * (len(b) % 2)


def meta(ts: str | None = "1.2.840.10008.1.2.1") -> bytes:
    body = el(0x00020001, b"OB", b"\x00\x01") + el(0x00020002, b"UI", uid("1.2.840.10008.5.1.4.1.1.7"))
    if ts is not None:
        body += el(0x00020010, b"UI", uid(ts))
    return b"\0" * 128 + b"DICM" + el(0x00020000, b"UL", struct.pack("<I", len(body))) + body


def image_module(rows: int = 4, cols: int = 4, frames: int | None = None, rows_vr: bytes = b"US") -> bytes:
    out = el(0x00100010, b"PN", txt(PHI[0])) + el(0x00100020, b"LO", txt(PHI[1])) + el(0x00100030, b"DA", txt(PHI[2]))
    out += el(0x00280002, b"US", struct.pack("<H", 1)) + el(0x00280004, b"CS", txt("MONOCHROME2"))
    if frames is not None:
        out += el(0x00280008, b"IS", txt(str(frames)))
    rows_val = struct.pack("<H", rows) if rows_vr == b"US" else txt(str(rows))
    out += el(0x00280010, rows_vr, rows_val) + el(0x00280011, b"US", struct.pack("<H", cols))
    out += el(0x00280100, b"US", struct.pack("<H", 16)) + el(0x00280101, b"US", struct.pack("<H", 12))
    out += el(0x00280102, b"US", struct.pack("<H", 11)) + el(0x00280103, b"US", struct.pack("<H", 0))
    return out


def native_pixels(n_bytes: int) -> bytes:
    return el(0x7FE00010, b"OW", bytes(range(256)) * (n_bytes // 256) + bytes(n_bytes % 256))


def encapsulated(fragments: list[bytes], bot: bytes = b"") -> bytes:
    body = item(bot) + b"".join(item(f) for f in fragments) + SEQ_DELIM
    return struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + body


def pydicom_file() -> bytes:
    """A valid Part-10 file written by pydicom: patient values, a nested sequence, 4x4 pixels."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    ds = Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PHI
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["fastmed-test"])
    inner = Dataset()
    inner.ReferencedSOPClassUID = SecondaryCaptureImageStorage
    inner.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    ds.ReferencedImageSequence = [inner]
    ds.Rows, ds.Columns = 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = np.arange(16, dtype="<u2").tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    bio = BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()
