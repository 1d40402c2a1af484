"""Codestream inspection behind the GPU routes, against pydicom's parsers and our own encodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed.dicom import read_header
from fastmed.dicom.codestream import j2k_info, jpeg_info
from fastmed.dicom.gpu_decode.plan import _frame_bytes
from fastmed.dicom.transfer_syntax import (
    HTJ2K_LOSSLESS,
    HTJ2K_LOSSLESS_RPCL,
    J2K_LOSSLESS,
    JPEG_LOSSLESS,
    JPEG_LOSSLESS_SV1,
    family,
)
from fastmed.errors import DicomError

from ._testdata import label, pixel_bearing

imagecodecs = pytest.importorskip("imagecodecs")
pixels_utils = pytest.importorskip("pydicom.pixels.utils")


def _first_frames() -> list[tuple[Path, str, bytes]]:
    out = []
    for p in pixel_bearing():
        try:
            h = read_header(p)
        except DicomError:
            continue
        fam = family(h.transfer_syntax)
        if fam in ("jpeg", "j2k") and h.pixels is not None and h.pixels.frames_found:
            frame = _frame_bytes(p.read_bytes(), h.pixels.frame_pieces(0)).tobytes()
            out.append((p, h.transfer_syntax, frame))
    return out


FRAMES = _first_frames()


@pytest.mark.parametrize("item", FRAMES, ids=[label(f[0]) for f in FRAMES])
def test_corpus_headers_match_pydicom(item: tuple[Path, str, bytes]) -> None:
    _, ts, src = item
    if family(ts) == "jpeg":
        info = jpeg_info(src)
        ref = pixels_utils._get_jpg_parameters(src)
        assert info is not None
        assert info.precision == ref["precision"]
        assert (info.rows, info.columns) == (ref["height"], ref["width"])
        assert info.components == ref["components"]
        if ts in (JPEG_LOSSLESS, JPEG_LOSSLESS_SV1):
            assert info.lossless
    else:
        j2k = j2k_info(src)
        ref = pixels_utils.get_j2k_parameters(src)
        assert j2k is not None
        assert j2k.precision == ref["precision"]
        assert j2k.signed == ref["is_signed"]
        if ts in (J2K_LOSSLESS, HTJ2K_LOSSLESS, HTJ2K_LOSSLESS_RPCL):
            assert j2k.reversible


@pytest.mark.parametrize("reversible", [True, False])
@pytest.mark.parametrize("dtype,signed", [(np.uint16, False), (np.int16, True), (np.uint8, False)])
@pytest.mark.parametrize("codec", ["j2k", "htj2k"])
def test_own_j2k_encodes(codec: str, dtype: type, signed: bool, reversible: bool) -> None:
    arr = (np.arange(48 * 40, dtype=np.int64).reshape(48, 40) % 200).astype(dtype)
    if codec == "j2k":
        src = imagecodecs.jpeg2k_encode(arr, level=0 if reversible else 80, reversible=reversible, codecformat="J2K")
    else:
        src = imagecodecs.htj2k_encode(arr, reversible=reversible)
    info = j2k_info(src)
    assert info is not None
    assert (info.rows, info.columns, info.components) == (48, 40, 1)
    assert info.signed == signed
    assert info.precision == 8 * np.dtype(dtype).itemsize
    assert info.reversible == reversible


@pytest.mark.parametrize("bits", [8, 12, 16])
def test_own_jpeg_encodes(bits: int) -> None:
    arr = (np.arange(32 * 24).reshape(32, 24) % (1 << min(bits, 8))).astype(np.uint8 if bits == 8 else np.uint16)
    lossless = jpeg_info(imagecodecs.ljpeg_encode(arr, bitspersample=bits))
    assert lossless is not None and lossless.lossless and lossless.precision == bits
    if bits == 8:
        dct = jpeg_info(imagecodecs.jpeg8_encode(arr, level=90))
        assert dct is not None and not dct.lossless and dct.sof == 0xC0 and dct.precision == 8


def test_jp2_wrapped_codestream_is_found() -> None:
    arr = np.arange(16 * 16, dtype=np.uint16).reshape(16, 16)
    info = j2k_info(imagecodecs.jpeg2k_encode(arr, level=0, reversible=True, codecformat="JP2"))
    assert info is not None and info.reversible and info.precision == 16


VALID = [
    imagecodecs.jpeg8_encode(np.zeros((8, 8), np.uint8), level=90),
    imagecodecs.jpeg2k_encode(np.zeros((8, 8), np.uint16), level=0, reversible=True, codecformat="J2K"),
    imagecodecs.jpeg2k_encode(np.zeros((8, 8), np.uint16), level=0, reversible=True, codecformat="JP2"),
]


@settings(max_examples=300, deadline=None)
@given(which=st.integers(0, len(VALID) - 1), cut=st.integers(0, 400), junk=st.binary(max_size=64))
def test_truncated_or_corrupt_headers_never_raise(which: int, cut: int, junk: bytes) -> None:
    src = VALID[which][:cut] + junk
    for fn in (jpeg_info, j2k_info):
        fn(src)  # None or an info; never an exception


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=256))
def test_random_bytes_never_raise(data: bytes) -> None:
    for prefix in (b"", b"\xff\xd8", b"\xff\x4f\xff\x51"):
        jpeg_info(prefix + data)
        j2k_info(prefix + data)
