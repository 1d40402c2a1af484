"""``read_series``: DICOM files -> one Volume with validated geometry."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from fastmed.dicom import _pool
from fastmed.dicom.series_geometry import StackGeometry, assess_series
from fastmed.dicom.series_pixels import read_stack, rescale_slices
from fastmed.dicom.slice_info import SliceInfo
from fastmed.dicom.slice_reader import is_not_dicom, read_slice_infos_many
from fastmed.errors import DicomError, SeriesError
from fastmed.privacy import keyed_id
from fastmed.volume import Volume

OnIrregular = Literal["raise", "allow", "resample"]
# Problems no policy can turn into a Volume: colour / multi-sample images (one scalar per voxel).
REFUSED_KINDS = frozenset({"multi_sample"})
HeaderReader = Callable[[str], list[SliceInfo]]
PixelReader = Callable[[str], npt.NDArray[Any]]


def _list_files(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir():
            return sorted(str(f) for f in p.rglob("*") if f.is_file())
        if p.is_file():
            return [str(p)]
        raise FileNotFoundError(f"{p}: no such file or folder")
    return [str(s) for s in source]


def _map(fn: Callable[[str], Any], items: Iterable[str], threads: int | None) -> list[Any]:
    return _pool.map_chunks(fn, list(items), threads)


def read_series(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    series: str | None = None,
    on_irregular: OnIrregular = "raise",
    rescale: bool = True,
    threads: int | None = None,
    header_reader: HeaderReader | None = None,
    pixel_reader: PixelReader | None = None,
) -> Volume:
    """Assemble one series into a :class:`~fastmed.Volume` with validated geometry.

    Parameters
    ----------
    source
        A folder (searched recursively), a list of files, or one (multi-frame) file.
    series
        Keyed series id (see :func:`fastmed.privacy.keyed_id`) to pick when the source holds
        several series; required in that case.
    on_irregular
        ``"raise"`` (default): raise :class:`~fastmed.SeriesError` listing every problem
        (missing slices, duplicate positions, non-uniform spacing, gantry tilt, mixed
        orientation or size, inconsistent rescale). ``"allow"``: keep the slices as they are
        and report the problems in ``meta["problems"]``. ``"resample"``: like ``"allow"`` but
        resample onto a uniform grid along the slice normal (de-shearing a tilt). Frames
        rotated slightly against the stack (derived / MPR) are kept in it under ``"allow"``;
        a second stack of another orientation or size is left out and named in the problems.
        Colour and multi-sample images (SamplesPerPixel > 1) are refused under every policy:
        a Volume holds one scalar per voxel (decode them per file with ``read_pixels``).
    rescale
        Apply RescaleSlope/Intercept (HU for CT): int16 when exact, else float32.
    threads
        Threads reading headers and pixels.
    header_reader, pixel_reader
        Override how headers and pixels are read (default: fastmed's readers).

    Returns
    -------
    Volume
        ``array`` (z, y, x), ``spacing`` (z, y, x) mm, ``origin``, ``direction``; ``meta`` holds
        non-identifying facts: ``series_id``, ``modality``, ``problems``, ``notes``, ``files``.
    """
    if on_irregular not in ("raise", "allow", "resample"):
        raise ValueError(f"on_irregular must be 'raise', 'allow' or 'resample', got {on_irregular!r}")
    files = _list_files(source)
    walked = isinstance(source, (str, os.PathLike)) and Path(source).is_dir()
    if not files:
        raise SeriesError(["no files found"], where=_where(source))
    headers: list[list[SliceInfo] | Exception]
    if header_reader is None:
        headers = read_slice_infos_many(files, threads=threads)
    else:

        def safe_header(path: str) -> list[SliceInfo] | Exception:
            try:
                return header_reader(path)
            except DicomError as exc:
                return exc

        headers = _map(safe_header, files, threads)
    infos: list[SliceInfo] = []
    skipped = 0
    for h in headers:
        if isinstance(h, Exception):
            # Inside a walked folder, files that are not DICOM at all (reports, labels) are skipped
            # and counted; a broken DICOM file, or any file the caller named, is an error.
            if walked and isinstance(h, DicomError) and is_not_dicom(h):
                skipped += 1
                continue
            raise h
        infos += [s for s in h if s.rows > 0 and s.columns > 0]
    if not infos:
        raise SeriesError(["no DICOM images found"], where=_where(source))

    by_series: dict[str, list[SliceInfo]] = {}
    for s in infos:
        by_series.setdefault(keyed_id(s.series_uid), []).append(s)
    if series is None:
        if len(by_series) > 1:
            ids = ", ".join(sorted(by_series))
            raise SeriesError([f"{len(by_series)} series found ({ids}); pass series=<id>"], where=_where(source))
        series = next(iter(by_series))
    if series not in by_series:
        raise SeriesError([f"series {series} not found"], where=_where(source))

    geo, problems, notes = assess_series(by_series[series])
    if problems and (on_irregular == "raise" or any(p.kind in REFUSED_KINDS for p in problems)):
        raise SeriesError([p.message for p in problems], where=f"series {series}")

    if pixel_reader is None:
        array = read_stack(geo.slices, threads, rescale=rescale)
    else:
        array = _read_stack(geo.slices, pixel_reader, threads)
        if rescale:
            array = _apply_rescale(array, geo.slices)
    kinds = {p.kind for p in problems}
    spacing_z = geo.spacing_z
    direction = geo.direction.copy()
    if on_irregular == "resample" and kinds & {"missing_slice", "nonuniform_spacing", "gantry_tilt"}:
        array = _resample_uniform(array, geo)
    elif "gantry_tilt" in kinds:
        # Kept sheared: the z column is the true step, so index->patient stays exact.
        direction[:, 2] = geo.step / np.linalg.norm(geo.step)
        spacing_z = float(np.linalg.norm(geo.step))
    first = geo.slices[0]
    meta: dict[str, Any] = {
        "series_id": series,
        "modality": first.modality,
        "transfer_syntaxes": sorted({s.transfer_syntax for s in geo.slices if s.transfer_syntax}),
        "problems": [p.message for p in problems],
        "problem_kinds": sorted(kinds),
        "notes": [p.message for p in notes] + ([f"{skipped} non-DICOM file(s) skipped"] if skipped else []),
        "files": [s.path for s in geo.slices],
        "rescaled": bool(rescale),
        "slice_thickness": first.slice_thickness,
        "resampled": on_irregular == "resample"
        and bool(kinds & {"missing_slice", "nonuniform_spacing", "gantry_tilt"}),
    }
    if array.ndim != 3:
        raise SeriesError(
            [f"colour or multi-sample images ({array.shape[-1]} samples) are not a volume"], where=f"series {series}"
        )
    return Volume(array, (spacing_z, *geo.spacing_yx), geo.origin, direction, meta)


def _where(source: object) -> str:
    return str(source) if isinstance(source, (str, os.PathLike)) else "series"


def _read_stack(slices: list[SliceInfo], reader: PixelReader, threads: int | None) -> npt.NDArray[Any]:
    paths = sorted({s.path for s in slices})
    decoded = dict(zip(paths, _map(reader, paths, threads), strict=True))
    planes = []
    for s in slices:
        arr = decoded[s.path]
        if s.frames > 1:
            arr = arr[s.frame]
        if arr.shape[:2] != (s.rows, s.columns):
            raise DicomError(f"decoded shape {arr.shape} does not match Rows x Columns {s.rows}x{s.columns}", s.path)
        planes.append(arr)
    return np.stack(planes)


def _apply_rescale(array: npt.NDArray[Any], slices: list[SliceInfo]) -> npt.NDArray[Any]:
    return rescale_slices(array, slices)


def _resample_uniform(array: npt.NDArray[Any], geo: StackGeometry) -> npt.NDArray[Any]:
    """Linear resampling onto slices at uniform spacing along the normal, de-shearing each slice."""
    from scipy import ndimage

    n_out = int(np.floor(geo.offsets[-1] / geo.spacing_z + 1e-6)) + 1
    r, c = geo.direction[:, 0], geo.direction[:, 1]
    sy, sx = geo.spacing_yx
    origin = np.asarray(geo.origin)
    pos = np.array([s.position for s in geo.slices], dtype=np.float64)
    # In-plane offset of each slice's first pixel from the stack origin, in pixels.
    shift_y = (pos - origin) @ c / sy
    shift_x = (pos - origin) @ r / sx
    src = array.astype(np.float32)
    fill = float(src.min())
    out = np.empty((n_out, *array.shape[1:]), np.float32)
    for k in range(n_out):
        t = k * geo.spacing_z
        i = int(np.clip(np.searchsorted(geo.offsets, t, side="right") - 1, 0, len(geo.offsets) - 2))
        w = (t - geo.offsets[i]) / (geo.offsets[i + 1] - geo.offsets[i])
        a = ndimage.shift(src[i], (shift_y[i], shift_x[i]), order=1, mode="constant", cval=fill)
        b = ndimage.shift(src[i + 1], (shift_y[i + 1], shift_x[i + 1]), order=1, mode="constant", cval=fill)
        out[k] = (1 - w) * a + w * b
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(array.dtype)
    return out.astype(array.dtype)
