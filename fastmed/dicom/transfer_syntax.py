"""Transfer syntax UIDs and the families the decoders are chosen by."""

from __future__ import annotations

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
DEFLATED_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"
J2K_MC_LOSSLESS = "1.2.840.10008.1.2.4.92"
J2K_MC = "1.2.840.10008.1.2.4.93"
HTJ2K_LOSSLESS = "1.2.840.10008.1.2.4.201"
HTJ2K_LOSSLESS_RPCL = "1.2.840.10008.1.2.4.202"
HTJ2K = "1.2.840.10008.1.2.4.203"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"

NATIVE = frozenset({IMPLICIT_LE, EXPLICIT_LE, DEFLATED_LE, EXPLICIT_BE})

FAMILIES: dict[str, frozenset[str]] = {
    "jpeg": frozenset({JPEG_BASELINE, JPEG_EXTENDED, JPEG_LOSSLESS, JPEG_LOSSLESS_SV1}),
    "jpegls": frozenset({JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS}),
    "j2k": frozenset({J2K_LOSSLESS, J2K, J2K_MC_LOSSLESS, J2K_MC, HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL, HTJ2K}),
    "rle": frozenset({RLE_LOSSLESS}),
}

NAMES: dict[str, str] = {
    IMPLICIT_LE: "Implicit VR Little Endian",
    EXPLICIT_LE: "Explicit VR Little Endian",
    DEFLATED_LE: "Deflated Explicit VR Little Endian",
    EXPLICIT_BE: "Explicit VR Big Endian",
    JPEG_BASELINE: "JPEG Baseline (Process 1)",
    JPEG_EXTENDED: "JPEG Extended (Process 2 and 4)",
    JPEG_LOSSLESS: "JPEG Lossless (Process 14)",
    JPEG_LOSSLESS_SV1: "JPEG Lossless SV1",
    JPEG_LS_LOSSLESS: "JPEG-LS Lossless",
    JPEG_LS_NEAR_LOSSLESS: "JPEG-LS Near-Lossless",
    J2K_LOSSLESS: "JPEG 2000 Lossless",
    J2K: "JPEG 2000",
    J2K_MC_LOSSLESS: "JPEG 2000 Part 2 Multi-component Lossless",
    J2K_MC: "JPEG 2000 Part 2 Multi-component",
    HTJ2K_LOSSLESS: "HTJ2K Lossless",
    HTJ2K_LOSSLESS_RPCL: "HTJ2K Lossless RPCL",
    HTJ2K: "HTJ2K",
    RLE_LOSSLESS: "RLE Lossless",
}


def family(uid: str) -> str:
    """Return ``"native"``, ``"jpeg"``, ``"jpegls"``, ``"j2k"``, ``"rle"`` or ``""`` (unknown)."""
    if uid in NATIVE:
        return "native"
    for name, uids in FAMILIES.items():
        if uid in uids:
            return name
    return ""


def name(uid: str) -> str:
    """Return a readable name of the transfer syntax (the UID itself when unknown)."""
    return NAMES.get(uid, uid)
