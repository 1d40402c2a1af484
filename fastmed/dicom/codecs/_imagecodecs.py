"""imagecodecs backends: C decoders that release the GIL, so frames decode in parallel.

One decode function per codec family; each leaves ``opts`` as the pylibjpeg plugin
pydicom uses would, so the shared post-processing (signedness fix, sign extension,
colour conversion) gives pydicom's array. Which families use these by default is
decided by the oracle and the benchmark (see :mod:`fastmed.dicom.codecs`).

Colour: JPEG is decoded without colour conversion (``colorspace`` = the stored one) so
that the YCbCr -> RGB step is pydicom's own, as with the pylibjpeg path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fastmed.dicom.transfer_syntax import (
    FAMILIES,
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    JPEG_LOSSLESS,
    JPEG_LOSSLESS_SV1,
)

# HTJ2K (4.203) may be irreversible (float wavelet): only the lossless syntaxes go to OpenJPH.
_HTJ2K_LOSSLESS = frozenset({HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL})
_JPEG_LOSSLESS = frozenset({JPEG_LOSSLESS, JPEG_LOSSLESS_SV1})


def _module() -> Any:
    try:
        import imagecodecs
    except ImportError:
        return None
    return imagecodecs


def _has(codec: str) -> bool:
    ic = _module()
    return ic is not None and bool(getattr(getattr(ic, codec, None), "available", False))


def available(ts: str) -> bool:
    """Whether imagecodecs with a codec for `ts` is importable."""
    if ts in FAMILIES["jpeg"]:
        return _has("JPEG8") or _has("LJPEG")
    if ts in FAMILIES["jpegls"]:
        return _has("JPEGLS")
    if ts in FAMILIES["j2k"]:
        return _has("JPEG2K")
    if ts in FAMILIES["rle"]:
        return _has("DICOMRLE")
    return False


def rle_available(ts: str) -> bool:
    """RLE Lossless via imagecodecs' DICOM RLE codec."""
    return ts in FAMILIES["rle"] and _has("DICOMRLE")


def jpegls_available(ts: str) -> bool:
    """JPEG-LS via imagecodecs' CharLS."""
    return ts in FAMILIES["jpegls"] and _has("JPEGLS")


def j2k_available(ts: str) -> bool:
    """JPEG 2000 and HTJ2K via imagecodecs' OpenJPEG (the library pylibjpeg-openjpeg wraps)."""
    return ts in FAMILIES["j2k"] and _has("JPEG2K")


def htj2k_lossless_available(ts: str) -> bool:
    """HTJ2K Lossless (reversible only, so any conforming decoder is exact) via OpenJPH."""
    return ts in _HTJ2K_LOSSLESS and _has("HTJ2K")


def jpeg_lossless_available(ts: str) -> bool:
    """JPEG Lossless (process 14, SV1) only: lossless decoding has one right answer."""
    return ts in _JPEG_LOSSLESS and _has("JPEG8")


class SizeMismatch(ValueError):
    """The frame decoded to another number of samples than the image module declares.

    Raised so that the caller falls back to pydicom's own library, whose handling of
    such frames (refusal, or a dropped excess frame) is the reference.
    """


def _samples(opts: dict[str, Any]) -> int:
    return int(opts["rows"]) * int(opts["columns"]) * int(opts["samples_per_pixel"])


def _finish(arr: Any, opts: dict[str, Any]) -> bytearray:
    arr = np.ascontiguousarray(arr)
    if arr.size != _samples(opts):
        raise SizeMismatch(f"{arr.size} samples")
    opts["bits_allocated"] = arr.dtype.itemsize * 8
    return bytearray(arr.tobytes())


def decode_rle(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """RLE frame -> planar little endian samples, as pylibjpeg-rle gives."""
    import imagecodecs

    nbytes = int(opts["bits_allocated"]) // 8
    out = imagecodecs.dicomrle_decode(src, f"<u{nbytes}")
    if len(out) != _samples(opts) * nbytes:
        raise SizeMismatch(f"{len(out)} bytes")
    opts["planar_configuration"] = 1
    return out


def decode_jpegls(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """JPEG-LS frame -> interleaved samples."""
    import imagecodecs

    arr = imagecodecs.jpegls_decode(src)
    opts["planar_configuration"] = 0
    return _finish(arr, opts)


def decode_j2k(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """JPEG 2000 / HTJ2K frame -> interleaved samples (colour transform undone by OpenJPEG)."""
    import imagecodecs

    arr = imagecodecs.jpeg2k_decode(src, numthreads=1)
    if opts.get("photometric_interpretation") in ("YBR_ICT", "YBR_RCT"):
        opts["photometric_interpretation"] = "RGB"
    return _finish(arr, opts)


def decode_htj2k(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """HTJ2K Lossless frame -> interleaved samples via OpenJPH (about 2x OpenJPEG's speed)."""
    import imagecodecs

    arr = imagecodecs.htj2k_decode(src)
    if opts.get("photometric_interpretation") in ("YBR_ICT", "YBR_RCT"):
        opts["photometric_interpretation"] = "RGB"
    return _finish(arr, opts)


def decode_jpeg_lossless(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """JPEG Lossless frame -> interleaved samples via libjpeg-turbo, no colour conversion.

    Lossless JPEG has no colour transform; the RGB -> RGB request keeps libjpeg-turbo from
    guessing one from the component count, so pydicom's own YBR step (if any) applies.
    """
    import imagecodecs

    if opts.get("samples_per_pixel") == 3:
        arr = imagecodecs.jpeg8_decode(src, colorspace="RGB", outcolorspace="RGB")
    else:
        arr = imagecodecs.jpeg8_decode(src)
    return _finish(arr, opts)


def decode(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """Decode one frame of any supported family (the last-resort backend)."""
    import imagecodecs

    ts = opts["transfer_syntax_uid"]
    if ts in FAMILIES["rle"]:
        return decode_rle(src, opts)
    if ts in FAMILIES["jpegls"]:
        return decode_jpegls(src, opts)
    if ts in FAMILIES["j2k"]:
        return decode_j2k(src, opts)
    ybr = opts.get("samples_per_pixel") == 3 and "YBR" in str(opts.get("photometric_interpretation"))
    arr = (
        imagecodecs.jpeg_decode(src, colorspace="YCbCr", outcolorspace="YCbCr") if ybr else imagecodecs.jpeg_decode(src)
    )
    return _finish(arr, opts)
