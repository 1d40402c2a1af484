"""Compressed frames -> 1D array: frames decoded in threads by the codec plugins.

Each frame gets its own copy of the pixel options, which the codec (and the frame's
codestream parameters) may change as pydicom's runner changes them; the options of
the last frame describe the array afterwards, as in pydicom.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom import _pool
from fastmed.dicom._pixel_options import frame_length_bytes, pixel_dtype
from fastmed.dicom.codecs import get_decoders, rle_native
from fastmed.dicom.codestream import j2k_info, jpeg_info
from fastmed.dicom.header import PixelDataInfo
from fastmed.dicom.transfer_syntax import FAMILIES, JPEG_BASELINE
from fastmed.errors import DicomError, DicomFormatError

_RGB_IDS = ([82, 71, 66], [114, 103, 98])


def _conform_colorspace(opts: dict[str, Any], info: dict[str, Any]) -> None:
    # pydicom's DecodeRunner._conform_jpg_colorspace: trust the codestream's component
    # IDs ("RGB") and JFIF marker (YCbCr) over a contradicting Photometric Interpretation.
    if opts["samples_per_pixel"] != 3:
        return
    pi = opts["photometric_interpretation"]
    if info.get("component_ids", None) in _RGB_IDS and pi != "RGB":
        opts["photometric_interpretation"] = "RGB"
        return
    cs = "YBR_FULL_422" if opts["transfer_syntax_uid"] == JPEG_BASELINE else "YBR_FULL"
    for marker in info.get("app", {}).values():
        if marker.startswith(b"JFIF") and "YBR" not in pi:
            opts["photometric_interpretation"] = cs
            return


def _frame_info(src: bytes, opts: dict[str, Any]) -> None:
    from pydicom.pixels.utils import _get_jpg_parameters, get_j2k_parameters

    ts = opts["transfer_syntax_uid"]
    if ts in FAMILIES["j2k"]:
        j2k = get_j2k_parameters(src)
        opts["j2k_is_signed"] = j2k.get("is_signed", opts["pixel_representation"])
        opts["j2k_precision"] = j2k.get("precision", opts["bits_stored"])
    elif ts in FAMILIES["jpegls"]:
        info = _get_jpg_parameters(src)
        opts["jls_precision"] = info.get("precision", opts["bits_stored"])
        _conform_colorspace(opts, info)
    elif ts in FAMILIES["jpeg"]:
        _conform_colorspace(opts, _get_jpg_parameters(src))


def _declared_samples(src: bytes, ts: str) -> int | None:
    """Samples the codestream's own header declares (None when it cannot be read)."""
    if ts in FAMILIES["j2k"]:
        j = j2k_info(src)
        return None if j is None else j.rows * j.columns * j.components
    if ts in FAMILIES["jpeg"] or ts in FAMILIES["jpegls"]:
        p = jpeg_info(src)
        # Rows may be 0 in the frame header (given later by a DNL marker): unknown then.
        return None if p is None or p.rows == 0 else p.rows * p.columns * p.components
    return None


def decode_encapsulated(
    buf: Any, px: PixelDataInfo, opts: dict[str, Any], path: str | None, threads: int | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode every frame; returns the 1D array and the options describing it."""
    if px.frame_note:
        raise DicomFormatError(px.frame_note, path, px.offset)
    nframes = opts["number_of_frames"]
    found = px.frames_found
    if found < nframes:
        raise DicomFormatError(
            f"encapsulated pixel data holds {found} frames but Number of Frames is {nframes}", path, px.offset
        )
    if opts["transfer_syntax_uid"] in FAMILIES["rle"]:
        native = rle_native.decode_file_frames(buf, px, opts, path, threads)
        if native is not None:
            return native
    chain = get_decoders(opts["transfer_syntax_uid"], path)
    mv = memoryview(buf)
    ppf = opts["rows"] * opts["columns"] * opts["samples_per_pixel"]

    def one(i: int) -> tuple[bytes | bytearray, dict[str, Any]]:
        src = b"".join(bytes(mv[o : o + n]) for o, n in px.frame_pieces(i).tolist())
        # A codestream declaring more samples than the image module would make the codec
        # allocate its size before fastmed could refuse the result: refuse it first.
        declared = _declared_samples(src, opts["transfer_syntax_uid"])
        if declared is not None and declared > ppf:
            raise DicomFormatError(
                f"frame {i} codestream declares {declared} samples, the image module declares {ppf}", path
            )
        first: BaseException | None = None
        for _name, _, decode in chain:
            fopts = dict(opts)
            try:
                _frame_info(src, fopts)
                return decode(src, fopts), fopts
            except (DicomError, KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:  # noqa: B036 - Rust codecs (pyo3) panic with a BaseException
                # The next library may tolerate what this one refuses; the error names the first.
                first = first or exc
        raise DicomFormatError(f"{chain[0][0]} could not decode frame {i}: {type(first).__name__}", path) from None

    results = _pool.map_chunks(one, range(found), threads)

    out_dtype = pixel_dtype(opts, True)
    arr = np.empty(ppf * nframes, dtype=out_dtype)
    last = opts
    for i in range(nframes):
        frame, fopts = results[i]
        dt = pixel_dtype(fopts, True)
        if len(frame) % dt.itemsize:
            raise DicomFormatError(
                f"frame {i} decoded to {len(frame)} bytes, not whole {dt.itemsize}-byte samples", path
            )
        values = np.frombuffer(frame, dtype=dt)
        if values.size != ppf:
            raise DicomFormatError(f"frame {i} decoded to {values.size} samples, the image module declares {ppf}", path)
        arr[i * ppf : (i + 1) * ppf] = values
        last = fopts
    # Frames beyond Number of Frames are kept when they decode to a whole frame (pydicom's
    # allow_excess_frames default).
    excess = []
    for frame, fopts in results[nframes:]:
        if (
            len(frame) == frame_length_bytes(fopts, encapsulated=True)
            and len(frame) % pixel_dtype(fopts, True).itemsize == 0
        ):
            excess.append(np.frombuffer(frame, dtype=pixel_dtype(fopts, True)))
            last = fopts
    final = dict(last)
    final["bits_allocated"] = opts["bits_allocated"]
    if excess:
        arr = np.concatenate([arr, *excess])
        final["number_of_frames"] = nframes + len(excess)
    return arr, final
