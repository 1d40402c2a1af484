"""What a compressed frame is, read from its own markers.

JPEG: process and precision; J2K / HTJ2K: signedness, precision and wavelet.

The routing decisions of the GPU path depend on the codestream, not on the transfer
syntax UID alone: a JPEG 2000 (".91") frame may be reversible (bit-exact) or not, and a
"JPEG Lossless" frame may be 8- or 16-bit. Only the main headers are read; every length is
checked against the buffer, and anything unreadable gives ``None`` (the caller then leaves
the frame to the CPU path, which reports the error as pydicom would).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Buffer = bytes | bytearray | memoryview | np.ndarray

# SOFn markers (ITU T.81 B.1.1.3): C4 (DHT), C8 (JPG) and CC (DAC) are not frame headers.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC} | {0xF7}  # 0xF7: JPEG-LS SOF55
# Lossless processes: SOF3 (Huffman), SOF7 (hierarchical), SOF11 / SOF15 (arithmetic).
_LOSSLESS_SOF = frozenset({0xC3, 0xC7, 0xCB, 0xCF})
# Markers without a length field.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})

_J2K_SOC = b"\xff\x4f"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_MAX_MARKERS = 4096  # a main header has a handful; bounds the walk on hostile input


@dataclass(frozen=True)
class JpegInfo:
    """Frame header of an ISO 10918 codestream."""

    sof: int
    """The SOFn marker's second byte (0xC0 baseline, 0xC1 extended, 0xC3 lossless, ...)."""
    precision: int
    rows: int
    columns: int
    components: int

    @property
    def lossless(self) -> bool:
        """Whether the process is lossless (process 14 and its arithmetic/hierarchical kin)."""
        return self.sof in _LOSSLESS_SOF


@dataclass(frozen=True)
class J2kInfo:
    """SIZ and COD/COC main-header facts of an ISO 15444 codestream (Part 1 or HTJ2K)."""

    rows: int
    columns: int
    components: int
    precision: int
    """Bit depth of the first component."""
    signed: bool
    """Whether any component is signed."""
    reversible: bool
    """True when every component uses the 5/3 reversible wavelet (integer, bit-exact decode)."""


def _view(src: Buffer) -> memoryview:
    if isinstance(src, np.ndarray):
        return np.ascontiguousarray(src, dtype=np.uint8).reshape(-1).data
    return memoryview(src).cast("B")


def jpeg_info(src: Buffer) -> JpegInfo | None:
    """Return the frame header of a JPEG codestream, or ``None`` when none can be read."""
    b = _view(src)
    n = len(b)
    if n < 4 or b[0] != 0xFF or b[1] != 0xD8:
        return None
    pos = 2
    for _ in range(_MAX_MARKERS):
        # Fill bytes (0xFF runs) may precede a marker.
        while pos < n and b[pos] == 0xFF and pos + 1 < n and b[pos + 1] == 0xFF:
            pos += 1
        if pos + 2 > n or b[pos] != 0xFF:
            return None
        marker = b[pos + 1]
        pos += 2
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any SOF
            return None
        if pos + 2 > n:
            return None
        length = (b[pos] << 8) | b[pos + 1]
        if length < 2 or pos + length > n:
            return None
        if marker in _SOF:
            if length < 8:
                return None
            return JpegInfo(
                sof=marker,
                precision=b[pos + 2],
                rows=(b[pos + 3] << 8) | b[pos + 4],
                columns=(b[pos + 5] << 8) | b[pos + 6],
                components=b[pos + 7],
            )
        pos += length
    return None


def _j2k_start(b: memoryview) -> int | None:
    """Offset of the SOC marker: 0 for a raw codestream, inside ``jp2c`` for a JP2 file."""
    if bytes(b[:2]) == _J2K_SOC:
        return 0
    if bytes(b[:12]) != _JP2_SIGNATURE:
        return None
    pos, n = 0, len(b)
    for _ in range(_MAX_MARKERS):
        if pos + 8 > n:
            return None
        size = int.from_bytes(b[pos : pos + 4], "big")
        kind = bytes(b[pos + 4 : pos + 8])
        header = 8
        if size == 1:
            if pos + 16 > n:
                return None
            size = int.from_bytes(b[pos + 8 : pos + 16], "big")
            header = 16
        elif size == 0:
            size = n - pos
        if kind == b"jp2c":
            start = pos + header
            return start if bytes(b[start : start + 2]) == _J2K_SOC else None
        if size < header or pos + size > n:
            return None
        pos += size
    return None


def j2k_info(src: Buffer) -> J2kInfo | None:
    """Return SIZ/COD facts of a JPEG 2000 or HTJ2K codestream, or ``None``."""
    b = _view(src)
    start = _j2k_start(b)
    if start is None:
        return None
    n = len(b)
    pos = start + 2
    siz: tuple[int, int, int, int, bool] | None = None
    reversible: bool | None = None
    coc_irreversible = False
    for _ in range(_MAX_MARKERS):
        if pos + 4 > n or b[pos] != 0xFF:
            return None
        marker = b[pos + 1]
        length = (b[pos + 2] << 8) | b[pos + 3]
        body = pos + 4
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        if marker == 0x90:  # SOT: the main header is over
            break
        if marker == 0x51:  # SIZ
            if length < 41:
                return None
            columns = int.from_bytes(b[body + 2 : body + 6], "big") - int.from_bytes(b[body + 10 : body + 14], "big")
            rows = int.from_bytes(b[body + 6 : body + 10], "big") - int.from_bytes(b[body + 14 : body + 18], "big")
            csiz = (b[body + 34] << 8) | b[body + 35]
            if csiz == 0 or length < 38 + 3 * csiz:
                return None
            ssiz = [b[body + 36 + 3 * i] for i in range(csiz)]
            siz = (rows, columns, csiz, (ssiz[0] & 0x7F) + 1, any(s & 0x80 for s in ssiz))
        elif marker == 0x52:  # COD: SPcod's last byte is the wavelet (0 = 9/7, 1 = 5/3)
            if length < 12:
                return None
            reversible = b[body + 9] == 1
        elif marker == 0x53 and siz is not None:  # COC: per-component override
            cbytes = 1 if siz[2] < 257 else 2
            at = body + cbytes + 5  # Scoc, then levels, xcb, ycb, style, wavelet
            if at < end and b[at] != 1:
                coc_irreversible = True
        pos = end
    if siz is None or reversible is None:
        return None
    rows, columns, comps, precision, signed = siz
    return J2kInfo(
        rows=rows,
        columns=columns,
        components=comps,
        precision=precision,
        signed=signed,
        reversible=reversible and not coc_irreversible,
    )
