"""Turn the native parser's error tuples into the fastmed.DicomError family."""

from __future__ import annotations

import errno as _errno
import os
from typing import Any, NoReturn

from fastmed.errors import DicomError, DicomFormatError, DicomTruncatedError, DicomUnsupportedError

_KINDS: dict[int, type[DicomError]] = {
    0: DicomTruncatedError,
    1: DicomFormatError,
    2: DicomUnsupportedError,
}


def as_error(result: tuple[Any, ...], path: str | os.PathLike[str] | None) -> Exception:
    """Exception for a native ``(kind, offset, reason)`` tuple; kind 3 is an OSError (errno)."""
    kind, offset, reason = int(result[0]), int(result[1]), str(result[2])
    if kind == 3:
        code = offset if offset else _errno.EIO
        return OSError(code, reason, None if path is None else str(path))
    return _KINDS.get(kind, DicomFormatError)(reason, path, offset)


def raise_native(result: tuple[Any, ...], path: str | os.PathLike[str] | None) -> NoReturn:
    """Raise :func:`as_error` of `result`."""
    raise as_error(result, path)
