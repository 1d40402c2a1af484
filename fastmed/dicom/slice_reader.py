"""Files -> SliceInfo records: the slice reader the index and series assembly use.

One file at a time through the full header parser (:mod:`fastmed.dicom.header`, one
file's :class:`~fastmed.dicom.header.DicomHeader`), or a batch through the native
columns (:mod:`fastmed.dicom.slice_columns`), with pydicom for what neither covers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom import slice_columns as _columns
from fastmed.dicom.header import DicomHeader, read_header
from fastmed.dicom.slice_info import SliceInfo, frame_offsets, per_frame, slice_infos_from_dataset
from fastmed.errors import DicomError


def is_not_dicom(exc: DicomError) -> bool:
    """True when the bytes are not DICOM at all (a report, a label file), not a broken DICOM file."""
    return exc.reason.startswith("not DICOM") or exc.reason == "empty file"


def _first(v: Any) -> Any:
    return v[0] if isinstance(v, list) else v


def _opt_float(v: Any) -> float | None:
    v = _first(v)
    try:
        return None if v is None or v == "" else float(v)
    except (TypeError, ValueError):
        return None


def _opt_int(v: Any) -> int | None:
    f = _opt_float(v)
    return None if f is None or not math.isfinite(f) else int(f)


def slice_infos_from_header(h: DicomHeader, path: str) -> list[SliceInfo]:
    """SliceInfo records of a natively parsed header.

    Enhanced multi-frame images keep per-frame geometry in nested functional groups, which
    the native parser skips: those few files are re-read with pydicom.
    """
    if h.is_multiframe_enhanced:
        return _pydicom_infos(path)
    image_type = h.get("ImageType", ())
    if isinstance(image_type, str):
        image_type = image_type.split("\\")
    info = SliceInfo(
        path=path,
        series_uid=h.series_instance_uid,
        rows=h.rows or 0,
        columns=h.columns or 0,
        pixel_spacing=h.pixel_spacing,  # type: ignore[arg-type]
        orientation=h.image_orientation,  # type: ignore[arg-type]
        position=h.image_position,  # type: ignore[arg-type]
        frames=h.number_of_frames,
        rescale_slope=h.rescale_slope,
        rescale_intercept=h.rescale_intercept,
        instance_number=_opt_int(h.get("InstanceNumber")),
        acquisition_number=_opt_int(h.get("AcquisitionNumber")),
        image_type=tuple(str(t) for t in image_type),
        modality=h.modality,
        transfer_syntax=h.transfer_syntax,
        slice_thickness=h.slice_thickness,
        gantry_tilt=_opt_float(h.get("GantryDetectorTilt")),
        samples_per_pixel=h.samples_per_pixel,
    )
    offsets = frame_offsets(h.get("FrameIncrementPointer"), h.get("GridFrameOffsetVector"), info.frames)
    return per_frame(info, offsets)


def _pydicom_infos(path: str) -> list[SliceInfo]:
    import struct

    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise DicomError("not DICOM (pydicom)", path) from exc
    except (ValueError, EOFError, KeyError, TypeError, struct.error) as exc:
        raise DicomError(f"unreadable header ({type(exc).__name__})", path) from exc
    return slice_infos_from_dataset(ds, path)


def read_slice_infos(path: str) -> list[SliceInfo]:
    """Read the grouping and geometry facts of one file (one record per frame when enhanced)."""
    return slice_infos_from_header(read_header(path, stop_before_pixels=True), path)


def read_slice_infos_many(
    paths: Sequence[str], threads: int | None = None, *, series_id: Callable[[str], str] | None = None
) -> list[list[SliceInfo] | Exception]:
    """Like :func:`read_slice_infos` for many files in one native batch; failures are returned, not raised.

    Parameters
    ----------
    paths
        The files.
    threads
        Native threads (``None``: the fastmed thread pool size).
    series_id
        Applied to every distinct SeriesInstanceUID, whose result the records hold instead
        (the index passes its keyed hash, so raw UIDs never reach it).
    """
    return read_slice_infos_stat(paths, threads, series_id=series_id)[0]


def read_slice_infos_stat(
    paths: Sequence[str], threads: int | None = None, *, series_id: Callable[[str], str] | None = None
) -> tuple[list[list[SliceInfo] | Exception], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """:func:`read_slice_infos_many`, plus each file's size and mtime (ns) as the reader saw them (-1: unknown)."""
    out, cols = read_slice_infos_columns(paths, threads, series_id=series_id)
    return out, cols["size"], cols["mtime_ns"]


def read_slice_infos_columns(
    paths: Sequence[str], threads: int | None = None, *, series_id: Callable[[str], str] | None = None
) -> tuple[list[list[SliceInfo] | Exception], dict[str, Any]]:
    """:func:`read_slice_infos_stat`, returning the native columns the records came from.

    ``size`` / ``mtime_ns`` are -1 where unknown; the records of files whose status is Ok and
    that have one frame are the columns' values.
    """
    strs = _columns.path_strings(paths)
    cols = _columns.read_columns(strs, threads)
    got = _columns.infos_from_columns(strs, cols, series_id, threads)
    out: list[list[SliceInfo] | Exception] = got  # type: ignore[assignment]  # ints replaced below
    for i in np.flatnonzero(cols["status"] != _columns.OK).tolist():
        res = got[i]
        if not isinstance(res, int):
            continue
        # Enhanced multi-frame, or a tag with a VR the native rules leave to the full header path.
        path = strs[i]
        try:
            infos = _pydicom_infos(path) if res == _columns.ENHANCED else read_slice_infos(path)
        except (DicomError, OSError) as exc:
            out[i] = exc
            continue
        if series_id is not None:
            infos = [dataclasses.replace(s, series_uid=series_id(s.series_uid)) for s in infos]
        out[i] = infos
    for i, res in enumerate(out):
        # Classic multi-frame files: one record per frame (the native records are per file).
        if isinstance(res, list) and len(res) == 1 and res[0].frames > 1:
            out[i] = per_frame(res[0])
    size, mtime = cols["size"], cols["mtime_ns"]
    failed = cols["status"] == _columns.ERROR
    size[failed] = -1
    mtime[failed] = -1
    return out, cols
