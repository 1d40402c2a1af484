"""``read_header``: one file's full header (native parser) as a typed :class:`DicomHeader`.

The per-slice records of the index come from :mod:`fastmed.dicom.slice_reader`.

Parsing runs in C++ with the GIL released and stops at the pixel data; values of the
requested tags only are turned into Python objects. Pixel data is located, never
copied: offsets refer to the file (or, for deflated files, to the inflated dataset,
kept in :attr:`DicomHeader.inflated`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastmed._native import core
from fastmed.dicom import tags as _tags
from fastmed.dicom._native_errors import as_error, raise_native
from fastmed.dicom._source import Source, inflate, read_bytes
from fastmed.errors import DicomError


@dataclass(frozen=True)
class PixelDataInfo:
    """Location of the pixel data element (nothing copied).

    Attributes
    ----------
    tag
        (7FE0,0010) Pixel Data, (7FE0,0008) Float or (7FE0,0009) Double Float Pixel Data.
    vr
        The element's VR ("OB", "OW", ...).
    offset, length
        Value bytes (for encapsulated data: from the Basic Offset Table item up to the
        sequence delimiter).
    available
        Value bytes actually present (less than `length` when the file is cut short).
    encapsulated
        Compressed data in fragments.
    basic_offsets
        Basic Offset Table entries (uint32), possibly empty.
    fragments
        ``(n, 2)`` int64 ``(offset, length)`` of every fragment's bytes.
    frame_ranges, frame_index
        Frame ``f`` is the concatenation of ``frame_ranges[frame_index[f]:frame_index[f+1]]``
        (pydicom's rules: Extended Offset Table, Basic Offset Table, then fragments).
    frame_note
        Why frames could not be mapped ("" if they could).
    """

    tag: int
    vr: str
    offset: int
    length: int
    available: int
    encapsulated: bool
    truncated: bool
    basic_offsets: np.ndarray
    fragments: np.ndarray
    frame_ranges: np.ndarray
    frame_index: np.ndarray
    frame_note: str

    @property
    def keyword(self) -> str:
        """``PixelData``, ``FloatPixelData`` or ``DoubleFloatPixelData``."""
        return {0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}.get(self.tag, "PixelData")

    @property
    def frames_found(self) -> int:
        """Number of encapsulated frames mapped from the fragments (0 for native data)."""
        return max(int(self.frame_index.shape[0]) - 1, 0)

    def frame_pieces(self, index: int) -> np.ndarray:
        """``(k, 2)`` (offset, length) pieces of encapsulated frame `index`."""
        a, b = int(self.frame_index[index]), int(self.frame_index[index + 1])
        return self.frame_ranges[a:b]


@dataclass(frozen=True)
class DicomHeader:
    """Values of the requested tags plus the pixel data location.

    Attributes
    ----------
    path
        The file as given (``None`` for in-memory bytes).
    transfer_syntax
        (0002,0010) as read ("" when absent).
    explicit_vr, little_endian
        How the dataset was actually walked (the bytes win over a wrong declaration).
    syntax_guessed
        True when the transfer syntax was missing or contradicted by the bytes.
    values
        Requested values by keyword (or "(GGGG,EEEE)"): str / list[str] for text, int / float
        or lists for numbers, int item count for sequences, bytes for binary VRs.
    vrs
        The VR of each found value.
    pixels
        Pixel data location, or ``None`` when the dataset has none.
    inflated
        For deflated files, the inflated dataset that pixel offsets refer to.
    """

    path: str | None
    transfer_syntax: str
    explicit_vr: bool
    little_endian: bool
    syntax_guessed: bool
    deflated: bool
    has_preamble: bool
    has_meta: bool
    values: dict[str, Any]
    vrs: dict[str, str]
    ranges: dict[str, tuple[int, int]]
    pixels: PixelDataInfo | None
    inflated: bytes | None = field(default=None, repr=False)

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of `key` (a keyword or "(GGGG,EEEE)"), or `default` when absent."""
        v = self.values.get(key)
        return default if v is None else v

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def _int(self, key: str, default: int | None = None) -> int | None:
        v = self.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None or isinstance(v, (str, bytes)) or (isinstance(v, float) and not math.isfinite(v)):
            return default  # an "inf" or "nan" text is no count
        return int(v)

    def _floats(self, key: str, n: int) -> tuple[float, ...] | None:
        v = self.get(key)
        if v is None:
            return None
        vals = v if isinstance(v, list) else [v]
        try:
            out = tuple(float(x) for x in vals)
        except (TypeError, ValueError):
            return None
        return out if len(out) == n else None

    def _float(self, key: str, default: float | None = None) -> float | None:
        v = self.get(key)
        if isinstance(v, list):
            v = v[0] if v else None
        try:
            return default if v is None else float(v)
        except (TypeError, ValueError):
            return default

    @property
    def rows(self) -> int | None:
        """(0028,0010) Rows."""
        return self._int("Rows")

    @property
    def columns(self) -> int | None:
        """(0028,0011) Columns."""
        return self._int("Columns")

    @property
    def bits_allocated(self) -> int | None:
        """(0028,0100) Bits Allocated."""
        return self._int("BitsAllocated")

    @property
    def bits_stored(self) -> int | None:
        """(0028,0101) Bits Stored."""
        return self._int("BitsStored")

    @property
    def pixel_representation(self) -> int | None:
        """(0028,0103) Pixel Representation (0 unsigned, 1 signed)."""
        return self._int("PixelRepresentation")

    @property
    def samples_per_pixel(self) -> int:
        """(0028,0002) Samples per Pixel (1 when absent)."""
        return self._int("SamplesPerPixel", 1) or 1

    @property
    def photometric_interpretation(self) -> str:
        """(0028,0004) Photometric Interpretation ("" when absent)."""
        v = self.get("PhotometricInterpretation", "")
        return v if isinstance(v, str) else "\\".join(map(str, v))

    @property
    def number_of_frames(self) -> int:
        """(0028,0008) Number of Frames; 1 when absent or 0, as pydicom assumes."""
        return self._int("NumberOfFrames", 1) or 1

    @property
    def modality(self) -> str:
        """(0008,0060) Modality."""
        v = self.get("Modality", "")
        return v if isinstance(v, str) else ""

    @property
    def image_position(self) -> tuple[float, ...] | None:
        """(0020,0032) Image Position (Patient), x, y, z in mm (LPS)."""
        return self._floats("ImagePositionPatient", 3)

    @property
    def image_orientation(self) -> tuple[float, ...] | None:
        """(0020,0037) Image Orientation (Patient): row then column direction cosines."""
        return self._floats("ImageOrientationPatient", 6)

    @property
    def pixel_spacing(self) -> tuple[float, ...] | None:
        """(0028,0030) Pixel Spacing: row spacing, column spacing (mm)."""
        return self._floats("PixelSpacing", 2)

    @property
    def slice_thickness(self) -> float | None:
        """(0018,0050) Slice Thickness (mm). Never used for spacing."""
        return self._float("SliceThickness")

    @property
    def rescale_slope(self) -> float:
        """(0028,1053) Rescale Slope (1.0 when absent)."""
        v = self._float("RescaleSlope", 1.0)
        return 1.0 if v is None else v

    @property
    def rescale_intercept(self) -> float:
        """(0028,1052) Rescale Intercept (0.0 when absent)."""
        v = self._float("RescaleIntercept", 0.0)
        return 0.0 if v is None else v

    @property
    def series_instance_uid(self) -> str:
        """(0020,000E) Series Instance UID."""
        v = self.get("SeriesInstanceUID", "")
        return v if isinstance(v, str) else ""

    @property
    def sop_instance_uid(self) -> str:
        """(0008,0018) SOP Instance UID."""
        v = self.get("SOPInstanceUID", "")
        return v if isinstance(v, str) else ""

    @property
    def is_multiframe_enhanced(self) -> bool:
        """Whether a Per-Frame Functional Groups Sequence is present."""
        return bool(self.get("PerFrameFunctionalGroupsSequence", 0))


def _pixels(d: dict[str, Any] | None) -> PixelDataInfo | None:
    if d is None:
        return None
    return PixelDataInfo(
        tag=int(d["tag"]),
        vr=str(d["vr"]),
        offset=int(d["offset"]),
        length=int(d["length"]),
        available=int(d["available"]),
        encapsulated=bool(d["encapsulated"]),
        truncated=bool(d["truncated"]),
        basic_offsets=d["basic_offsets"],
        fragments=d["fragments"],
        frame_ranges=d["frame_ranges"],
        frame_index=d["frame_index"],
        frame_note=str(d["frame_note"]),
    )


def _build(res: dict[str, Any], names: dict[int, str], path: str | None, inflated: bytes | None = None) -> DicomHeader:
    values: dict[str, Any] = {}
    vrs: dict[str, str] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for tag, value in res["values"].items():
        name = names.get(tag)
        if name is None:
            continue  # internal tags the caller did not ask for
        values[name] = value
        vrs[name] = res["vrs"][tag]
        ranges[name] = res["ranges"][tag]
    return DicomHeader(
        path=path,
        transfer_syntax=str(res["transfer_syntax"]),
        explicit_vr=bool(res["explicit_vr"]),
        little_endian=bool(res["little_endian"]),
        syntax_guessed=bool(res["syntax_guessed"]),
        deflated=bool(res["deflated"]),
        has_preamble=bool(res["has_preamble"]),
        has_meta=bool(res["has_meta"]),
        values=values,
        vrs=vrs,
        ranges=ranges,
        pixels=_pixels(res["pixels"]),
        inflated=inflated,
    )


def _finish_deflated(
    res: dict[str, Any],
    data: Any,
    pairs: list[tuple[int, str]],
    names: dict[int, str],
    path: str | None,
    want_pixels: bool,
) -> DicomHeader:
    inflated = inflate(data, int(res["dataset_offset"]), path)
    inner = core.dicom_parse(inflated, pairs, want_pixels, True, True, True)
    if isinstance(inner, tuple):
        err = as_error(inner, path)
        if isinstance(err, DicomError):
            err = type(err)(err.reason + " (in the inflated dataset)", path, err.offset)
        raise err
    # File meta values come from the outer parse, dataset values from the inflated one.
    merged = dict(inner)
    for key in ("values", "vrs", "ranges"):
        merged[key] = {**res[key], **inner[key]}
    for key in ("transfer_syntax", "has_preamble", "has_meta"):
        merged[key] = res[key]
    merged["deflated"] = True
    return _build(merged, names, path, inflated)


def _path_str(src: object) -> str | None:
    if isinstance(src, (str, os.PathLike)):
        return str(os.fspath(src))
    return None


def read_header(
    src: Source, tags: Iterable[_tags.TagSpec] | None = None, *, stop_before_pixels: bool = False
) -> DicomHeader:
    """Parse a DICOM header natively.

    Parameters
    ----------
    src
        A path (memory-mapped), ``bytes``, ``bytearray`` or ``memoryview``.
    tags
        Tags to return (ints ``0xGGGGEEEE``, keywords, or ``(group, element)``); the
        default set (:data:`fastmed.dicom.tags.DEFAULT_TAGS`) covers geometry, pixels
        and grouping.
    stop_before_pixels
        Stop after the last requested tag instead of locating the pixel data.

    Returns
    -------
    DicomHeader

    Raises
    ------
    DicomTruncatedError, DicomFormatError, DicomUnsupportedError
        On bad input, naming the file, the byte offset and the reason.
    OSError
        When the file cannot be opened.
    """
    pairs, names = _tags.requests(tags)
    want_pixels = not stop_before_pixels
    path = _path_str(src)
    if path is not None:
        res = core.dicom_parse_file(os.fsencode(path), pairs, want_pixels)  # bytes: names need not be UTF-8
        if isinstance(res, tuple):
            raise_native(res, path)
        if res["deflated"]:
            return _finish_deflated(res, read_bytes(path), pairs, names, path, want_pixels)
        return _build(res, names, path)
    return parse_buffer(src, tags, None, stop_before_pixels=stop_before_pixels)


def parse_buffer(
    src: Any,
    tags: Iterable[_tags.TagSpec] | None,
    path: str | None,
    *,
    stop_before_pixels: bool = False,
) -> DicomHeader:
    """:func:`read_header` on bytes already in memory; errors name `path`."""
    pairs, names = _tags.requests(tags)
    want_pixels = not stop_before_pixels
    data: Any = src if isinstance(src, (bytes, bytearray, memoryview)) else memoryview(src)
    res = core.dicom_parse(data, pairs, want_pixels)
    if isinstance(res, tuple):
        raise_native(res, path)
    if res["deflated"]:
        return _finish_deflated(res, data, pairs, names, path, want_pixels)
    return _build(res, names, path)


def read_headers(
    paths: Sequence[str | os.PathLike[str]],
    tags: Iterable[_tags.TagSpec] | None = None,
    *,
    threads: int | None = None,
    stop_before_pixels: bool = False,
) -> list[DicomHeader | Exception]:
    """Parse many files in the native thread pool (one GIL release for the whole batch).

    Parameters
    ----------
    paths
        Files to parse.
    tags, stop_before_pixels
        As for :func:`read_header`.
    threads
        Threads to use (``None``: the fastmed thread pool size).

    Returns
    -------
    list of DicomHeader or Exception
        One entry per path, in order; failures are returned (a DicomError subclass or an
        OSError naming the file), never raised, so one bad file never stops a walk.
    """
    pairs, names = _tags.requests(tags)
    strs = [os.fspath(p) for p in paths]
    results = core.dicom_parse_files(
        [os.fsencode(s) for s in strs], pairs, not stop_before_pixels, 0 if threads is None else int(threads)
    )
    out: list[DicomHeader | Exception] = []
    for path, res in zip(strs, results, strict=True):
        if isinstance(res, tuple):
            out.append(as_error(res, path))
            continue
        if res["deflated"]:
            try:
                out.append(_finish_deflated(res, read_bytes(path), pairs, names, path, not stop_before_pixels))
            except (DicomError, OSError) as exc:
                out.append(exc)
            continue
        out.append(_build(res, names, path))
    return out
