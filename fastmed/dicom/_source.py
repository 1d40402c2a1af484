"""Where the bytes come from: a path (read or memory-mapped), bytes, or a buffer."""

from __future__ import annotations

import os
import zlib

from fastmed.errors import DicomFormatError, DicomUnsupportedError

Source = str | os.PathLike[str] | bytes | bytearray | memoryview

# Inflated datasets larger than this are refused: a deflate bomb must not exhaust memory.
MAX_INFLATED_BYTES = 4 << 30


def is_path(src: object) -> bool:
    """Return True when `src` names a file."""
    return isinstance(src, (str, os.PathLike))


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read the whole file (directories give a DicomFormatError naming the path)."""
    if os.path.isdir(path):
        raise DicomFormatError("is a directory, not a DICOM file", path, 0)
    with open(path, "rb") as f:
        return f.read()


def inflate(data: bytes | memoryview, offset: int, path: str | os.PathLike[str] | None) -> bytes:
    """Inflate a Deflated Explicit VR Little Endian dataset starting at `offset`.

    Python's zlib is used rather than linking zlib into the extension: the deflate
    path is rare and the inflated bytes are then walked by the native parser.
    """
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = d.decompress(memoryview(data)[offset:], MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise DicomFormatError(f"deflated dataset is corrupt ({exc})", path, offset) from None
    if d.unconsumed_tail:
        raise DicomUnsupportedError(f"deflated dataset inflates to more than {MAX_INFLATED_BYTES} bytes", path, offset)
    return out
