"""Per file: read the header natively, cut out the frames, and decide nvImageCodec or CPU.

The decision is made from the image module and each frame's own codestream header
(:mod:`.codestream`), before anything is decoded, so that a file is either decoded by
nvImageCodec into exactly pydicom's values or handed whole to the CPU path with a named
reason (:mod:`.routes`). The per-frame pixel options are those the CPU path computes
(`fastmed.dicom.encapsulated._frame_info`, pydicom's codestream rules), so that the same
post-processing applies afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastmed.dicom._pixel_options import pixel_options
from fastmed.dicom._source import Source, read_bytes
from fastmed.dicom.codestream import J2kInfo, JpegInfo, j2k_info, jpeg_info
from fastmed.dicom.encapsulated import _frame_info
from fastmed.dicom.gpu_decode import routes
from fastmed.dicom.gpu_decode.nvjpeg_version import lossless_high_bit_ok, nvjpeg_version
from fastmed.dicom.header import DicomHeader, parse_buffer
from fastmed.dicom.pixels import PIXEL_TAGS, _syntax
from fastmed.dicom.transfer_syntax import family

# Colour requests, mapped to nvImageCodec DecodeParams by the backend.
AS_STORED = "as-stored"  # components as coded (grey, or J2K after its inverse MCT)
RAW_YCC = "raw-ycc"  # DCT JPEG components without colour conversion
TO_RGB = "to-rgb"  # DCT JPEG converted YCbCr -> RGB by nvImageCodec

_J2K_RGB = ("YBR_ICT", "YBR_RCT")


@dataclass
class FilePlan:
    """One input: its header, bytes, frames and route.

    Attributes
    ----------
    path
        The file, or ``None`` for in-memory bytes.
    header, buffer
        The parsed header and the bytes its offsets refer to.
    opts
        Pixel options of the dataset (pydicom runner names).
    frames
        The codestream of every frame (empty when the route is a fallback).
    frame_opts
        Per-frame options after the codestream rules (J2K signedness/precision, JPEG colour).
    colour
        :data:`AS_STORED`, :data:`RAW_YCC` or :data:`TO_RGB`.
    route
        nvImageCodec or a CPU fallback with its reason.
    """

    path: str | None
    header: DicomHeader
    buffer: Any
    opts: dict[str, Any] = field(default_factory=dict)
    frames: list[np.ndarray] = field(default_factory=list)
    frame_opts: list[dict[str, Any]] = field(default_factory=list)
    colour: str = AS_STORED
    route: routes.Route = field(default_factory=routes.gpu)


def load(src: Source | DicomHeader) -> tuple[str | None, DicomHeader, Any]:
    """Parse `src` (a path, bytes or a header from :func:`fastmed.dicom.read_header`)."""
    if isinstance(src, DicomHeader):
        if src.path is None:
            raise ValueError("a DicomHeader read from bytes carries no file: pass the bytes instead")
        path: str | None = src.path
        buf: Any = read_bytes(src.path)
        if src.pixels is None or any(k not in src.values for k in ("Rows", "Columns", "BitsAllocated")):
            # Read without the pixel tags or with stop_before_pixels: parse again.
            return path, parse_buffer(buf, PIXEL_TAGS, path), buf
        return path, src, src.inflated if src.inflated is not None else buf
    if isinstance(src, (str, os.PathLike)):
        path = str(os.fspath(src))
        buf = read_bytes(path)
    else:
        path, buf = None, src
    return path, parse_buffer(buf, PIXEL_TAGS, path), buf


def _frame_bytes(buf: Any, pieces: np.ndarray) -> np.ndarray:
    """One frame's codestream as a uint8 array; a single fragment is a view (no copy)."""
    mv = memoryview(buf).cast("B")
    if len(pieces) == 1:
        off, n = (int(x) for x in pieces[0])
        return np.frombuffer(mv, dtype=np.uint8, count=n, offset=off)
    return np.frombuffer(b"".join(bytes(mv[int(o) : int(o) + int(n)]) for o, n in pieces), dtype=np.uint8)


def _container_bits(precision: int) -> int:
    return 8 if precision <= 8 else 16 if precision <= 16 else 32


def _jpeg_route(
    info: JpegInfo, fopts: dict[str, Any], backend: str, exact: bool, version: tuple[int, int, int] | None
) -> tuple[routes.Route | None, str]:
    """Route and colour request for one JPEG frame (``None``: nvImageCodec)."""
    spp = fopts["samples_per_pixel"]
    if info.lossless:
        if info.precision > 8:
            if backend == "cpu":
                return routes.fallback("jpeg-lossless-high-bit", f"{info.precision}-bit, CPU backend"), ""
            if not lossless_high_bit_ok(version):
                found = "unknown" if version is None else ".".join(map(str, version))
                return routes.fallback("jpeg-lossless-high-bit", f"{info.precision}-bit, nvJPEG {found}"), ""
        if spp == 3 and fopts["photometric_interpretation"] != "RGB":
            # The decoder's own lossless colour guess would have to match pydicom's conversion.
            return routes.fallback("colour", "lossless JPEG stored as YCbCr"), ""
        return None, AS_STORED
    if exact:
        return routes.fallback("lossy-dct", f"SOF{info.sof - 0xC0}"), ""
    if info.precision > 8 and backend == "cpu":
        return routes.fallback("jpeg-12-bit-cpu"), ""
    if spp == 3:
        return None, TO_RGB if "YBR" in fopts["photometric_interpretation"] else RAW_YCC
    return None, AS_STORED


def _j2k_route(info: J2kInfo, fopts: dict[str, Any], backend: str, exact: bool) -> routes.Route | None:
    if info.signed and backend == "cpu":
        return routes.fallback("signed-j2k-cpu")
    # On the CPU backend the J2K decoder is OpenJPEG, the library pydicom's own plugin uses:
    # its 9/7 arithmetic is then the oracle's; nvJPEG2000's is not.
    if exact and not info.reversible and backend != "cpu":
        return routes.fallback("lossy-j2k")
    if info.precision > 16:
        return routes.fallback("layout", f"{info.precision}-bit J2K")
    return None


def plan_file(src: Source | DicomHeader, *, backend: str, exact: bool) -> FilePlan:
    """Parse `src` and decide its route.

    Parameters
    ----------
    src
        A path, bytes or a header from :func:`fastmed.dicom.read_header`.
    backend
        ``"gpu"`` (nvJPEG / nvJPEG2000, also DALI's mixed decoder) or ``"cpu"``
        (nvImageCodec's CPU-only backends, also DALI's CPU decoder).
    exact
        Route lossy codestreams whose decode is not bit-identical to pydicom's to the CPU.

    Raises
    ------
    DicomError
        As :func:`fastmed.dicom.read_pixels` would for an invalid image module.
    """
    path, h, buf = load(src)
    plan = FilePlan(path=path, header=h, buffer=buf)
    px = h.pixels
    if px is None or not px.encapsulated or not h.transfer_syntax:
        # Uncompressed, or invalid: read_pixels decodes it or names the problem.
        plan.route = routes.fallback("uncompressed")
        return plan
    ts = _syntax(h, path)
    plan.opts = opts = pixel_options(h, ts, path)
    fam = family(ts)
    if fam in ("jpegls", "rle"):
        plan.route = routes.fallback("jpeg-ls" if fam == "jpegls" else "rle")
        return plan
    if fam not in ("jpeg", "j2k"):
        plan.route = routes.fallback("unsupported-syntax")
        return plan
    if px.frame_note or px.frames_found != opts["number_of_frames"]:
        plan.route = routes.fallback("frames", f"{px.frames_found} found, {opts['number_of_frames']} declared")
        return plan
    version = nvjpeg_version() if backend == "gpu" and fam == "jpeg" else None
    colours = set()
    for i in range(px.frames_found):
        frame = _frame_bytes(buf, px.frame_pieces(i))
        fopts = dict(opts)
        _frame_info(frame.tobytes(), fopts)
        route: routes.Route | None
        if fam == "jpeg":
            info = jpeg_info(frame)
            if info is None:
                route, colour = routes.fallback("unreadable-codestream", f"frame {i}"), ""
            else:
                route, colour = _jpeg_route(info, fopts, backend, exact, version)
        else:
            j2k = j2k_info(frame)
            colour = AS_STORED
            if j2k is None:
                route = routes.fallback("unreadable-codestream", f"frame {i}")
            else:
                route = _j2k_route(j2k, fopts, backend, exact)
                # pydicom's pylibjpeg plugin: container from the J2K precision, RGB after MCT.
                fopts["bits_allocated"] = _container_bits(int(fopts.get("j2k_precision", opts["bits_stored"])))
                if fopts["photometric_interpretation"] in _J2K_RGB:
                    fopts["photometric_interpretation"] = "RGB"
        if route is not None:
            plan.route = route
            plan.frames, plan.frame_opts = [], []
            return plan
        if colour == TO_RGB:
            fopts["photometric_interpretation"] = "RGB"
        colours.add(colour)
        plan.frames.append(frame)
        plan.frame_opts.append(fopts)
    if len(colours) > 1:
        plan.route = routes.fallback("colour", "frames differ in colour coding")
        plan.frames, plan.frame_opts = [], []
        return plan
    plan.colour = colours.pop() if colours else AS_STORED
    plan.route = routes.gpu()
    return plan


__all__ = ["AS_STORED", "RAW_YCC", "TO_RGB", "FilePlan", "load", "plan_file"]
