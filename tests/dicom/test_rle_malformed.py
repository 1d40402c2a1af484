"""Malformed RLE Lossless frames: refused with the right fastmed error, as pydicom refuses them.

The oracle is pydicom's own RLE decoder (``decoding_plugin="pydicom"``). pydicom prefers
pylibjpeg-rle when it is installed, which is laxer: it decodes frames whose header declares
0 or 16+ segments, and panics on a run or literal longer than the plane. fastmed refuses
the first (never garbage) and decodes the second as pydicom's decoder does.
"""

from __future__ import annotations

import struct
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed.dicom.codecs import rle_native
from fastmed.dicom.pixels import read_pixels
from fastmed.dicom.series_assembly import read_series
from fastmed.errors import DicomError, DicomFormatError, DicomTruncatedError

from . import _craft

pydicom = pytest.importorskip("pydicom")
pytestmark = pytest.mark.skipif(not rle_native.available(), reason="extension built without the RLE decoder")

RLE = "1.2.840.10008.1.2.5"
ROWS, COLS = 4, 4  # _craft.image_module: 16 bits allocated, 12 stored, unsigned -> 2 segments of 16 bytes
LITERAL16 = bytes([15]) + bytes(range(16))  # PackBits: 16 literal bytes


def header(count: int, offsets: list[int]) -> bytes:
    words = [count, *offsets] + [0] * (15 - len(offsets))
    return struct.pack("<16I", *words[:16])


def frame(
    count: int = 2, offsets: list[int] | None = None, segments: tuple[bytes, ...] = (LITERAL16, LITERAL16)
) -> bytes:
    if offsets is None:
        offsets, at = [], 64
        for seg in segments:
            offsets.append(at)
            at += len(seg)
    return header(count, offsets) + b"".join(segments)


def rle_file(fragment: bytes) -> bytes:
    return (
        _craft.meta(RLE)
        + _craft.image_module(ROWS, COLS)
        + _craft.encapsulated([fragment + b"\0" * (len(fragment) % 2)])
    )


def pydicom_pixels(data: bytes) -> np.ndarray:
    """pixel_array by pydicom's own RLE decoder."""
    ds = pydicom.dcmread(BytesIO(data))
    ds.pixel_array_options(decoding_plugin="pydicom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.pixel_array


def pydicom_refuses(data: bytes) -> bool:
    try:
        pydicom_pixels(data)
    except Exception:
        return True
    return False


BAD = {
    "segment count 0": (frame(count=0), DicomFormatError, "0 segments"),
    "segment count 16": (frame(count=16), DicomFormatError, "at most 15"),
    "segment count 255": (frame(count=255), DicomFormatError, "at most 15"),
    "segment count mismatch": (frame(count=1, segments=(LITERAL16,)), DicomFormatError, "the image needs 2"),
    "offset past the end": (frame(offsets=[64, 10_000]), DicomFormatError, "past the end"),
    "offsets not increasing": (frame(offsets=[81, 64]), DicomFormatError, "do not increase"),
    "offsets equal": (frame(offsets=[64, 64]), DicomFormatError, "do not increase"),
    "truncated segment": (frame(segments=(LITERAL16, LITERAL16[:9])), DicomTruncatedError, "8 bytes, 16 expected"),
    "short run segment": (frame(segments=(LITERAL16, bytes([256 - 4, 7]))), DicomTruncatedError, "5 bytes"),
    "header cut short": (header(2, [64, 81])[:40], DicomTruncatedError, "64-byte header"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_malformed_frame_is_refused(case: str, tmp_path: Path) -> None:
    fragment, error, reason = BAD[case]
    data = rle_file(fragment)
    assert pydicom_refuses(data), "the oracle should refuse this frame too"
    path = tmp_path / "bad.dcm"
    path.write_bytes(data)
    with pytest.raises(error, match=reason) as info:
        read_pixels(path)
    assert info.value.path == str(path)
    assert "frame 0" in info.value.reason


ODD_BUT_VALID = {
    "padded segment": frame(segments=(LITERAL16 + bytes([3, 1, 2, 3, 4]), LITERAL16)),
    "no-op header byte": frame(segments=(bytes([128]) + LITERAL16, LITERAL16)),
    "run longer than the plane": frame(segments=(bytes([256 - 127, 9]), LITERAL16)),
    "literal longer than the plane": frame(segments=(bytes([40]) + bytes(41), LITERAL16)),
}


@pytest.mark.parametrize("case", list(ODD_BUT_VALID), ids=list(ODD_BUT_VALID))
def test_odd_but_valid_frame_matches_pydicom(case: str) -> None:
    data = rle_file(ODD_BUT_VALID[case])
    expected = pydicom_pixels(data)
    np.testing.assert_array_equal(read_pixels(data), expected)


def test_fragment_outside_the_data_is_refused() -> None:
    """Tables naming bytes past the source are refused before any read (never garbage)."""
    out = np.zeros((1, ROWS, COLS), np.uint16)
    lay = rle_native.RleLayout(ROWS, COLS, 1, np.dtype(np.uint16), 0)
    src = frame()
    with pytest.raises(DicomTruncatedError, match="outside the data"):
        rle_native.decode_into([src], [(0, np.array([[8, len(src)]]))], lay, out, 1, ["x.dcm"])


def test_native_binding_checks_its_arguments() -> None:
    from fastmed import _core

    src = [b"x" * 10]
    tables = (np.array([[0, 10]], np.int64), np.array([0, 1], np.int64), np.zeros(1, np.int64))
    frame = (ROWS, COLS, 1, 2, 0, False)
    with pytest.raises(ValueError, match="out holds"):
        _core.rle_decode_buffers(src, *tables, np.zeros(16, np.uint8), *frame, None, 1)  # one frame needs 32
    with pytest.raises(ValueError, match="bits per sample"):
        _core.rle_decode_buffers(src, *tables, np.zeros(48, np.uint8), ROWS, COLS, 1, 3, 0, False, None, 1)
    with pytest.raises(ValueError, match="modulo"):
        _core.rle_decode_buffers(src, *tables, np.zeros(32, np.uint8), *frame, (70000, 0), 1)
    with pytest.raises(ValueError, match="writeable"):
        _core.rle_decode_buffers(src, *tables, np.zeros(32, np.uint8)[::-1], *frame, None, 1)
    bad_index = np.array([0, 5], np.int64)
    error, _, _ = _core.rle_decode_buffers(
        src, tables[0], bad_index, tables[2], np.zeros(32, np.uint8), *frame, None, 1
    )
    assert error is not None and error[0] == 0 and "out of order" in error[3]


def test_series_error_names_the_bad_file(tmp_path: Path) -> None:
    """One malformed slice in an RLE series: the error names that file, not another."""
    synth = pytest.importorskip("fastmed.synth")
    synth.generate_archive(tmp_path, studies=1, seed=2, shape=(8, 16, 12), transfer_syntaxes=["rle"])
    folder = tmp_path / "study_000" / "series_000"
    files = sorted(folder.glob("*.dcm"))
    victim = files[3]
    ds = pydicom.dcmread(victim)
    from pydicom.encaps import encapsulate, generate_frames

    good = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([good[:100]])  # cut inside the first segment
    ds.save_as(victim)
    with pytest.raises(DicomError) as info:
        read_series(folder, threads=2)
    assert info.value.path == str(victim)
    assert "RLE segment" in info.value.reason


@st.composite
def _frames(draw: st.DrawFn) -> tuple[bytes, int, int, int, int]:
    """A frame header with any segment count and offsets, then random PackBits bytes."""
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    samples, nbytes = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 2, 4]))
    body = draw(st.binary(max_size=200))
    want = samples * nbytes
    count = draw(st.one_of(st.just(want), st.integers(0, 20)))
    end = 64 + len(body)
    offsets = draw(st.lists(st.integers(0, end + 8), min_size=min(count, 15), max_size=min(count, 15)))
    if draw(st.booleans()):
        offsets = sorted(offsets)
    words = [count, *offsets] + [0] * 15
    return struct.pack("<16I", *words[:16]) + body, rows, cols, samples, nbytes


@given(_frames())
@settings(max_examples=400, deadline=None)
def test_random_frames_decode_or_fail_as_pydicom(case: tuple[bytes, int, int, int, int]) -> None:
    """Differential: pydicom's own RLE frame decoder and fastmed's give the same bytes, or both refuse."""
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    src, rows, cols, samples, nbytes = case
    opts = {
        "pixel_keyword": "PixelData",
        "rows": rows,
        "columns": cols,
        "samples_per_pixel": samples,
        "bits_allocated": 8 * nbytes,
        "bits_stored": 8 * nbytes,
        "pixel_representation": 0,
    }
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected: bytes | None = bytes(_rle_decode_frame(src, rows, cols, samples, 8 * nbytes))
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(rle_native.RleFrameError):
            rle_native.decode_frame(src, dict(opts))
    else:
        assert bytes(rle_native.decode_frame(src, dict(opts))) == expected
