"""Why a file is not decoded by nvImageCodec: the named fallback reasons.

Every file the GPU path hands to the CPU path (``read_pixels``'s decoders) carries one
of these codes and a sentence. The list is the documentation of the known gaps; tests
assert the exact set of fallbacks over the oracle corpus, so a new silent fallback fails.
"""

from __future__ import annotations

from dataclasses import dataclass

NVIMGCODEC = "nvimgcodec"
CPU = "cpu"

REASONS: dict[str, str] = {
    "no-nvimgcodec": "nvImageCodec (nvidia-nvimgcodec-cu12) is not installed",
    "uncompressed": "native (uncompressed) pixel data: nothing to decode",
    "unsupported-syntax": "the transfer syntax has no nvImageCodec decoder",
    "jpeg-ls": "JPEG-LS: nvImageCodec has no JPEG-LS decoder",
    "rle": "RLE Lossless: nvImageCodec has no RLE decoder",
    "frames": "the fragments do not map one-to-one onto Number of Frames",
    "unreadable-codestream": "a frame's codestream header could not be read",
    "lossy-dct": (
        "lossy (DCT) JPEG with exact=True: libjpeg-turbo's and nvJPEG's IDCT and chroma "
        "upsampling differ from pydicom's libjpeg by a few grey levels"
    ),
    "lossy-j2k": (
        "irreversible (9/7 wavelet) JPEG 2000 with exact=True on the GPU: nvJPEG2000's "
        "floating-point inverse transform is not bit-identical to pydicom's OpenJPEG"
    ),
    "jpeg-lossless-high-bit": (
        "9-16-bit lossless JPEG: nvJPEG older than 13.0.2 mis-decodes it, and nvImageCodec's "
        "CPU JPEG decoder supports 8-bit lossless only"
    ),
    "jpeg-12-bit-cpu": "12-bit DCT JPEG: nvImageCodec's CPU JPEG decoder (libjpeg-turbo) is 8-bit only",
    "signed-j2k-cpu": "signed JPEG 2000 samples: nvImageCodec's CPU J2K decoder (OpenCV/OpenJPEG) refuses them",
    "colour": "3-sample frame whose colour handling nvImageCodec cannot reproduce exactly",
    "refused": "nvImageCodec could not decode a frame",
    "layout": "a decoded frame's shape or sample size differs from the image module",
    "layout-mismatch": (
        "DALI feed: signed samples (DALI rescales them), or a dtype or colour layout other than "
        "the feed's (one per decoder op)"
    ),
}


@dataclass(frozen=True)
class Route:
    """How one input was decoded.

    Attributes
    ----------
    decoder
        ``"nvimgcodec"`` or ``"cpu"`` (fastmed's ``read_pixels`` decoders).
    code
        Fallback code (a key of :data:`REASONS`); ``""`` when nvImageCodec decoded it.
    detail
        A plain sentence (no patient data): the reason, with the frame or version involved.
    """

    decoder: str
    code: str = ""
    detail: str = ""

    @property
    def fallback(self) -> bool:
        """Whether the CPU path decoded this input."""
        return self.decoder == CPU


def gpu(detail: str = "") -> Route:
    """The route of an input nvImageCodec decodes."""
    return Route(NVIMGCODEC, "", detail)


def fallback(code: str, extra: str = "") -> Route:
    """A CPU fallback with its reason (`extra` is appended to the standard sentence)."""
    base = REASONS[code]
    return Route(CPU, code, f"{base} ({extra})" if extra else base)
