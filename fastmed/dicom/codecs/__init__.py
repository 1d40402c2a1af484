"""Codec plugins: one module per codec family, the first available backend wins.

A backend is ``(name, available(ts) -> bool, decode(src, opts) -> bytes-like)``.
``decode`` may change ``opts`` (the frame's pixel description) the way pydicom's
plugin for the same library does, e.g. RLE decoders return planar data, so they set
``planar_configuration = 1``. Modules and libraries are imported lazily, on the first
frame of their family.

Choice, by benchmark under exactness: a backend is preferred only if its arrays equal
pydicom's ``pixel_array`` for every file of its family in the oracle (the 58 compressed
files of pydicom + pydicom-data, ``tests/dicom/test_pixels_vs_pydicom.py``) and the
synthetic series (``tests/dicom/test_series_pixels.py``, the only HTJ2K data). imagecodecs
also releases the GIL, so frames and files decode in parallel threads. Measured: the
48-slice 256x256 synthetic CT series, ``read_pixels`` file by file, 1 thread, 2-core EPYC:

=========  ===================  ========  =========================  ========
family     old backend          ms        new backend                ms
=========  ===================  ========  =========================  ========
RLE        pylibjpeg-rle        6.1       imagecodecs (dicomrle)     6.9 [1]
JPEG-LS    pylibjpeg-libjpeg    226       imagecodecs (CharLS)       55
J2K        pylibjpeg-openjpeg   393       imagecodecs (OpenJPEG)     388 [1]
HTJ2K LL   pylibjpeg-openjpeg   35.8      imagecodecs (OpenJPH)      17.1
=========  ===================  ========  =========================  ========

[1] Same speed on one thread, but the GIL is released: it scales with threads where
the pylibjpeg plugins do not (J2K series, 2 threads: 397 -> ~190 ms).

RLE has fastmed's own C++ decoder first (:mod:`fastmed.dicom.codecs.rle_native`): whole files
and series decode all their frames in one native call, threaded across frames, and frames
the batch path leaves come through this chain. It matches pydicom on the 12 RLE oracle files
and pydicom's own RLE decoder byte for byte on random frames (``tests/dicom/test_rle*.py``).

JPEG Lossless (process 14, SV1) goes to libjpeg-turbo (exact on every lossless oracle
file). Lossy JPEG stays with pylibjpeg-libjpeg: libjpeg-turbo differs from it by 1-137
grey levels on 11 of 17 lossy files (IDCT, upsampling and colour handling). HTJ2K that
may be lossy (4.203) stays with OpenJPEG (pydicom's library), through imagecodecs.

A frame the preferred backend refuses (or decodes to the wrong size) is retried with
pydicom's own library for that family (:data:`PYDICOM_BACKENDS`), so odd codestreams
get pydicom's answer, decode or refusal.
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
