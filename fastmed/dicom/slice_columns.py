"""Native columns -> SliceInfo records: the lean batch path of :mod:`fastmed.dicom.slice_reader`.

``core.dicom_slice_facts`` parses a batch of files in the native thread pool (GIL released)
and decodes, in C++, exactly the values a :class:`SliceInfo` holds, returned as columns.
This module turns the columns into records. Files the native rules leave to Python come
back flagged: deflated datasets (when zlib could not be loaded natively) are inflated here,
only as far as the header goes, and read natively again; enhanced multi-frame files and
files with an unexpected VR on one of these tags are named to the caller, which reads
them through the full header path.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fastmed._native import core
from fastmed.dicom._native_errors import as_error
from fastmed.dicom._source import MAX_INFLATED_BYTES, read_bytes
from fastmed.dicom.slice_info import SliceInfo
from fastmed.errors import DicomError, DicomFormatError, DicomUnsupportedError

# Statuses and columns of the native result (csrc/cpu/dicom_facts.h).
OK, ERROR, DEFLATED, SLOW, ENHANCED, NEED_MORE = range(6)
HAS_SPACING, HAS_ORIENTATION, HAS_POSITION = 1, 2, 4
HAS_INSTANCE, HAS_ACQUISITION, HAS_THICKNESS, HAS_TILT = 8, 16, 32, 64

INFLATE_STEP = 1 << 11  # inflated bytes tried first (x4 per retry): most headers fit
PREFIX_BYTES = 1 << 13  # file bytes read with one pread before mapping the whole file

Result = list[SliceInfo] | Exception | int  # records, the failure, or SLOW / ENHANCED


def read_columns(paths: Sequence[str], threads: int | None = None, *, native_inflate: bool = True) -> dict[str, Any]:
    """Raw native columns for `paths` (see ``core.dicom_slice_facts``).

    With ``native_inflate`` (and zlib found at run time) deflated datasets are inflated in
    C++; otherwise they come back as DEFLATED for :func:`infos_from_columns` to inflate.
    """
    return dict(
        core.dicom_slice_facts(list(paths), 0 if threads is None else int(threads), PREFIX_BYTES, native_inflate)
    )


# The native builder fills exactly these fields (csrc/cpu/dicom_facts_bindings.cpp).
_NATIVE_FIELDS = (
    "path series_uid rows columns pixel_spacing orientation position frame frames rescale_slope "
    "rescale_intercept instance_number acquisition_number image_type modality transfer_syntax "
    "slice_thickness gantry_tilt samples_per_pixel"
).split()
_NATIVE_RECORDS = [f.name for f in dataclasses.fields(SliceInfo)] == _NATIVE_FIELDS and hasattr(
    core, "dicom_make_slice_infos"
)


def _python_records(
    paths: Sequence[str], cols: dict[str, Any], uid_map: dict[str, str] | None
) -> list[list[SliceInfo] | None]:
    """What ``core.dicom_make_slice_infos`` builds, in Python (the reference, and the fallback)."""
    status = cols["status"].tolist()
    num = cols["num"].tolist()
    mask = cols["mask"].tolist()
    uids, mods, types, tss = cols["series_uid"], cols["modality"], cols["image_type"], cols["transfer_syntax"]
    type_cache: dict[str, tuple[str, ...]] = {}
    out: list[list[SliceInfo] | None] = []
    for i, st in enumerate(status):
        if st != OK:
            out.append(None)
            continue
        r = num[i]
        m = mask[i]
        out.append(
            [
                SliceInfo(
                    paths[i],
                    uids[i] if uid_map is None else uid_map[uids[i]],
                    int(r[0]),
                    int(r[1]),
                    (r[2], r[3]) if m & HAS_SPACING else None,
                    (r[4], r[5], r[6], r[7], r[8], r[9]) if m & HAS_ORIENTATION else None,
                    (r[10], r[11], r[12]) if m & HAS_POSITION else None,
                    0,
                    int(r[13]),
                    r[14],
                    r[15],
                    int(r[16]) if m & HAS_INSTANCE else None,
                    int(r[17]) if m & HAS_ACQUISITION else None,
                    _image_types(type_cache, types[i]),
                    mods[i],
                    tss[i],
                    r[18] if m & HAS_THICKNESS else None,
                    r[19] if m & HAS_TILT else None,
                    int(r[20]),
                )
            ]
        )
    return out


def _image_types(cache: dict[str, tuple[str, ...]], s: str) -> tuple[str, ...]:
    t = cache.get(s)
    if t is None:
        t = tuple(s.split("\\")) if s else ()
        cache[s] = t
    return t


def infos_from_columns(
    paths: Sequence[str],
    cols: dict[str, Any],
    series_id: Callable[[str], str] | None = None,
    threads: int | None = None,
) -> list[Result]:
    """One entry per path: its SliceInfo records, its error, or SLOW / ENHANCED.

    Parameters
    ----------
    paths
        The files, as given to the native call.
    cols
        Its result.
    series_id
        Applied to each distinct SeriesInstanceUID (e.g. a keyed hash): the records then hold
        its result instead of the raw UID.
    threads
        Threads for the second native pass over inflated datasets.
    """
    status = cols["status"]
    uids = cols["series_uid"]
    errors: dict[int, tuple[int, int, str]] = cols["errors"]
    uid_map = None if series_id is None else {u: series_id(u) for u in set(uids)}
    if _NATIVE_RECORDS:
        made = core.dicom_make_slice_infos(SliceInfo, paths, cols, uid_map)
    else:
        made = _python_records(paths, cols, uid_map)
    out: list[Result] = made  # records where Ok; the other entries are replaced below
    deflated: list[int] = []
    for i in np.flatnonzero(cols["status"] != OK).tolist():
        st = int(status[i])
        if st == ERROR:
            out[i] = as_error(errors[i], paths[i])
        elif st == DEFLATED:
            deflated.append(i)
        else:
            out[i] = st
    if deflated:
        offsets: dict[int, int] = cols["dataset_offset"]
        got = _inflated_infos(
            [paths[i] for i in deflated],
            [offsets[i] for i in deflated],
            [cols["transfer_syntax"][i] for i in deflated],
            series_id,
            threads,
        )
        for i, res in zip(deflated, got, strict=True):
            out[i] = res
    return out


class _Inflater:
    """A deflated dataset inflated step by step, only as far as its header needs.

    Unlike the full header path (which inflates everything, pixels included), damage in
    the deflated stream after the header is not seen here: it surfaces when pixels are read.
    """

    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        self.offset = offset
        self.z = zlib.decompressobj(-zlib.MAX_WBITS)
        self.tail: bytes | memoryview = memoryview(read_bytes(path))[offset:]
        self.out = b""
        self.done = False

    def more(self, limit: int) -> bytes:
        """The first `limit` inflated bytes (all of them once :attr:`done`)."""
        limit = min(limit, MAX_INFLATED_BYTES)
        try:
            self.out += self.z.decompress(self.tail, max(1, limit - len(self.out)))
        except zlib.error as exc:
            raise DicomFormatError(f"deflated dataset is corrupt ({exc})", self.path, self.offset) from None
        self.tail = self.z.unconsumed_tail
        # Short of the limit with no input left: zlib has given all there is.
        self.done = self.z.eof or (not self.tail and len(self.out) < limit)
        if not self.done and len(self.out) >= MAX_INFLATED_BYTES:
            raise DicomUnsupportedError(
                f"deflated dataset inflates to more than {MAX_INFLATED_BYTES} bytes", self.path, self.offset
            )
        return self.out


def _inflated_infos(
    paths: list[str],
    offsets: list[int],
    transfer_syntaxes: list[str],
    series_id: Callable[[str], str] | None,
    threads: int | None,
) -> list[Result]:
    """Facts of deflated files: inflate the first bytes, parse natively, inflate more if the header goes on."""
    results: list[Result | None] = [None] * len(paths)
    inflaters: dict[int, _Inflater] = {}
    limit = INFLATE_STEP
    todo = list(range(len(paths)))
    while todo:
        buffers: list[bytes] = []
        partial: list[bool] = []
        ready: list[int] = []
        for k in todo:
            try:
                inf = inflaters.get(k) or inflaters.setdefault(k, _Inflater(paths[k], offsets[k]))
                buffers.append(inf.more(limit))
            except (DicomError, OSError) as exc:
                results[k] = exc
                continue
            partial.append(not inf.done)
            ready.append(k)
        cols = dict(core.dicom_slice_facts_buffers(buffers, partial, 0 if threads is None else int(threads)))
        cols["transfer_syntax"] = [transfer_syntaxes[k] for k in ready]  # from the file meta, not the dataset
        got = infos_from_columns([paths[k] for k in ready], cols, series_id)
        status = cols["status"].tolist()
        todo = []
        for j, k in enumerate(ready):
            res = got[j]
            if status[j] == NEED_MORE:
                todo.append(k)
            elif isinstance(res, DicomError):
                results[k] = type(res)(res.reason + " (in the inflated dataset)", paths[k], res.offset)
            else:
                results[k] = res
        limit *= 4
    return [r if r is not None else SLOW for r in results]


def path_strings(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Paths as str (the native call takes str)."""
    return [p if isinstance(p, str) else os.fspath(p) for p in paths]
