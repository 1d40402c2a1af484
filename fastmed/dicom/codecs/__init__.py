"""Codec plugins: one module per codec family, the first available backend wins.

A backend is ``(name, available(ts) -> bool, decode(src, opts) -> bytes-like)``.
``decode`` may change ``opts`` (the frame's pixel description) the way pydicom's
plugin for the same library does, e.g. pylibjpeg-rle returns planar data, so it sets
``planar_configuration = 1``. Backends are ordered so that the default one is the
library pydicom itself uses: the arrays then match pydicom's bit for bit. Modules and
libraries are imported lazily, on the first frame of their family.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastmed.dicom.transfer_syntax import family, name
from fastmed.errors import DicomUnsupportedError

Options = dict[str, Any]
DecodeFn = Callable[[bytes, Options], "bytes | bytearray"]
Backend = tuple[str, Callable[[str], bool], DecodeFn]

_FAMILY_MODULES = {
    "jpeg": "fastmed.dicom.codecs.jpeg",
    "jpegls": "fastmed.dicom.codecs.jpegls",
    "j2k": "fastmed.dicom.codecs.j2k",
    "rle": "fastmed.dicom.codecs.rle",
}

# The backends that are pydicom's own decoders (its pylibjpeg plugins, its numpy RLE).
PYDICOM_BACKENDS = frozenset({"pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "pydicom-rle"})

_CACHE: dict[str, Backend] = {}
_CHAINS: dict[str, list[Backend]] = {}


def backends(ts: str) -> list[Backend]:
    """Every backend registered for the family of transfer syntax `ts`, preferred first."""
    fam = family(ts)
    mod_name = _FAMILY_MODULES.get(fam)
    if mod_name is None:
        return []
    mod = importlib.import_module(mod_name)
    return list(mod.BACKENDS)


def get_decoders(ts: str, path: str | None = None) -> list[Backend]:
    """Every installed backend for `ts`, the one :func:`get_decoder` picks first.

    The rest are fallbacks for a frame the first refuses (a malformed codestream one
    library tolerates and another does not): only the libraries pydicom itself uses, so a
    frame pydicom refuses is refused here too.

    Raises
    ------
    DicomUnsupportedError
        As :func:`get_decoder`.
    """
    chain = _CHAINS.get(ts)
    if chain is None:
        first = get_decoder(ts, path)
        chain = [first] + [b for b in backends(ts) if b[0] != first[0] and b[0] in PYDICOM_BACKENDS and b[1](ts)]
        _CHAINS[ts] = chain
    return chain


def get_decoder(ts: str, path: str | None = None) -> Backend:
    """Return the first available backend for `ts`.

    Raises
    ------
    DicomUnsupportedError
        When the transfer syntax is unknown or no library for it is installed.
    """
    hit = _CACHE.get(ts)
    if hit is not None:
        return hit
    cands = backends(ts)
    if not cands:
        raise DicomUnsupportedError(f"no decoder for transfer syntax {name(ts)}", path)
    for backend in cands:
        if backend[1](ts):
            _CACHE[ts] = backend
            return backend
    names = ", ".join(b[0] for b in cands)
    raise DicomUnsupportedError(f"no installed library decodes {name(ts)} (install one of: {names})", path)
