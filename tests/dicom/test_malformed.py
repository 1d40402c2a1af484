"""Bad input catalogue: each malformed class gives its named fastmed error, naming the
file and the reason, and never a patient value."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from fastmed.dicom import read_header, read_headers, read_pixels
from fastmed.errors import DicomError, DicomFormatError, DicomTruncatedError, DicomUnsupportedError

from . import _craft as c
from ._oracle import Layout, layout, pydicom_arrays
from ._testdata import data_dirs

pytest.importorskip("pydicom")


def _valid() -> bytes:
    return c.pydicom_file()


def _offset(data: bytes, needle: bytes) -> int:
    k = data.find(needle)
    assert k >= 0
    return k


def _seq_start(data: bytes) -> int:
    return _offset(data, struct.pack("<HH", 0x0008, 0x1140))


def _item_start(data: bytes) -> int:
    return _offset(data, struct.pack("<HH", 0xFFFE, 0xE000))


def _pixel_start(data: bytes) -> int:
    return _offset(data, struct.pack("<HH2s", 0x7FE0, 0x0010, b"OW"))


CASES: dict[str, tuple[Callable[[], bytes], type[DicomError], str]] = {
    # name: (bytes, expected error, "header" or "pixels": which call must fail)
    "empty file": (lambda: b"", DicomFormatError, "header"),
    "non-DICOM bytes": (
        lambda: b"%PDF-1.4 this is not a DICOM file at all\n" * 10,
        DicomFormatError,
        "header",
    ),
    "truncated in preamble": (lambda: _valid()[:100], DicomFormatError, "header"),
    "truncated in meta group": (lambda: _valid()[:150], DicomTruncatedError, "header"),
    "truncated in element header": (
        lambda: _valid()[: _seq_start(_valid()) + 5],
        DicomTruncatedError,
        "header",
    ),
    "truncated in element value": (
        lambda: _valid()[: _offset(_valid(), c.PHI[1].encode()) + 3],
        DicomTruncatedError,
        "header",
    ),
    "truncated in sequence": (lambda: _valid()[: _seq_start(_valid()) + 14], DicomTruncatedError, "header"),
    "truncated in item": (lambda: _valid()[: _item_start(_valid()) + 20], DicomTruncatedError, "header"),
    "truncated in fragment": (
        lambda: (c.meta("1.2.840.10008.1.2.4.50") + c.image_module() + c.encapsulated([b"\xff\xd8" + b"\0" * 40]))[
            :-30
        ],
        DicomTruncatedError,
        "header",
    ),
    "truncated pixel data": (lambda: _valid()[:-7], DicomTruncatedError, "pixels"),
    "lying element length": (
        lambda: c.meta() + c.el(0x00100010, b"LO", b"SECRET^PATIENT", length=0xFFF0) + c.native_pixels(32),
        DicomTruncatedError,
        "header",
    ),
    "lying item length": (
        lambda: (
            c.meta()
            + c.image_module()
            + c.undefined_seq(0x00081140, c.item(c.el(0x00081150, b"UI", c.uid("1.2.3")), length=4000))
        ),
        DicomTruncatedError,
        "header",
    ),
    "item longer than its sequence": (
        lambda: (
            c.meta()
            + c.el(0x00081140, b"SQ", c.item(b"\0" * 16, length=16) + b"\0" * 8, length=16)
            + c.image_module()
            + c.native_pixels(32)
        ),
        DicomFormatError,
        "header",
    ),
    "undefined length on OB": (
        lambda: c.meta() + struct.pack("<HH2sHI", 0x0009, 0x1001, b"OB", 0, 0xFFFFFFFF) + b"\0" * 16,
        DicomFormatError,
        "header",
    ),
    "undefined length fragment": (
        lambda: (
            c.meta("1.2.840.10008.1.2.4.50")
            + c.image_module()
            + struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF)
            + c.item(b"")
            + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
            + b"\0" * 16
        ),
        DicomFormatError,
        "header",
    ),
    "basic offset table not a multiple of 4": (
        lambda: (
            c.meta("1.2.840.10008.1.2.4.50") + c.image_module() + c.encapsulated([b"\xff\xd8\xff\xd9"], bot=b"\0" * 6)
        ),
        DicomFormatError,
        "header",
    ),
    "item tag outside a sequence": (
        lambda: c.meta() + c.item(b"\0" * 8) + c.image_module() + c.native_pixels(32),
        DicomFormatError,
        "header",
    ),
    "nesting bomb": (
        lambda: c.meta() + _nest(40) + c.image_module() + c.native_pixels(32),
        DicomFormatError,
        "header",
    ),
    "huge rows x columns": (
        lambda: c.meta() + c.image_module(65535, 65535, frames=100000) + c.native_pixels(32),
        DicomFormatError,
        "pixels",
    ),
    "fragment count != frames": (
        lambda: (
            c.meta("1.2.840.10008.1.2.4.50")
            + c.image_module(frames=3)
            + c.encapsulated([b"\xff\xd8\0\0", b"\xff\xd8\0\0"])
        ),
        DicomFormatError,
        "pixels",
    ),
    "pixel data shorter than declared": (
        lambda: c.meta() + c.image_module(8, 8) + c.native_pixels(32),
        DicomTruncatedError,
        "pixels",
    ),
    "missing transfer syntax": (
        lambda: c.meta(ts=None) + c.image_module() + c.native_pixels(32),
        DicomFormatError,
        "pixels",
    ),
    "wrong VR for Rows": (
        lambda: c.meta() + c.image_module(rows_vr=b"DS") + c.native_pixels(32),
        DicomFormatError,
        "pixels",
    ),
    "unknown compressed transfer syntax": (
        lambda: c.meta("1.2.3.4.5.6.7") + c.image_module() + c.encapsulated([b"\0" * 8]),
        DicomUnsupportedError,
        "pixels",
    ),
    "compressed syntax, native pixel data": (
        lambda: c.meta("1.2.840.10008.1.2.4.50") + c.image_module() + c.native_pixels(32),
        DicomFormatError,
        "pixels",
    ),
    "corrupt JPEG stream": (
        lambda: (
            c.meta("1.2.840.10008.1.2.4.50")
            + c.image_module()
            + c.encapsulated([b"\xff\xd8" + b"\x13" * 30 + b"\xff\xd9"])
        ),
        DicomFormatError,
        "pixels",
    ),
    "no pixel data": (lambda: c.meta() + c.image_module(), DicomFormatError, "pixels"),
}


def _nest(depth: int) -> bytes:
    body = c.el(0x00081150, b"UI", c.uid("1.2.3"))
    for _ in range(depth):
        body = c.undefined_seq(0x00081140, c.undefined_item(body))
    return body


def _check_message(err: DicomError, path: Path) -> None:
    msg = str(err)
    assert str(path) in msg
    assert err.reason and err.path == str(path)
    for value in c.PHI:
        assert value not in msg
        assert value.split("^")[0] not in msg


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed(name: str, tmp_path: Path) -> None:
    make, expected, stage = CASES[name]
    path = tmp_path / "case.dcm"
    path.write_bytes(make())
    if stage == "header":
        with pytest.raises(expected) as info:
            read_header(path)
        assert type(info.value) is expected
        _check_message(info.value, path)
    else:
        read_header(path)  # the header itself is readable
    with pytest.raises(expected) as info2:
        read_pixels(path)
    assert type(info2.value) is expected
    _check_message(info2.value, path)


def test_catalogue_is_large_enough() -> None:
    assert len(CASES) >= 15


def test_valid_base_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.dcm"
    path.write_bytes(_valid())
    assert read_header(path).rows == 4
    assert read_pixels(path).shape == (4, 4)


def _truncation_seeds() -> dict[str, bytes]:
    seeds = {"crafted explicit VR": _valid()}
    for d in data_dirs():
        for name in ("MR_small_RLE.dcm", "MR_small_implicit.dcm"):
            if (d / name).is_file():
                seeds.setdefault(name, (d / name).read_bytes())
    return seeds


def _expected_at(cut: int, lay: Layout) -> str:
    """What a file cut after ``cut`` bytes must give (pydicom's element boundaries as oracle)."""
    if cut < 132:
        return "DicomFormatError"  # no preamble + "DICM": not DICOM
    if cut <= lay.pixel_start and cut in lay.ends:
        return "DicomFormatError"  # a complete data set without pixel data
    if cut >= lay.pixel_end:
        return "trailing"  # only elements after the pixel data are cut
    return "DicomTruncatedError"  # inside an element, a sequence, the pixel data


@pytest.mark.parametrize("seed", sorted(_truncation_seeds()))
def test_truncation_at_every_byte_is_refused(seed: str) -> None:
    """Every prefix of a valid file is refused with the right class, or (cut only in trailing
    elements, the pixel data complete) decodes to exactly pydicom's pixels of the whole file:
    a silent acceptance fails."""
    data = _truncation_seeds()[seed]
    lay = layout(data)
    whole = pydicom_arrays(data)
    assert whole
    wrong: list[str] = []
    for cut in range(len(data)):
        want = _expected_at(cut, lay)
        if want == "trailing":  # the pixel data is complete: truncated, or exactly pydicom's pixels of the file
            try:
                got_px = read_pixels(data[:cut])
            except DicomTruncatedError:
                continue
            if not any(a.shape == got_px.shape and np.array_equal(a, got_px) for a in whole):
                wrong.append(f"{cut}: accepted, pixels differ from pydicom's")
            continue
        try:
            read_pixels(data[:cut])
            got = "accepted"
        except DicomError as exc:
            got = type(exc).__name__
        if got != want:
            wrong.append(f"{cut}: {got}, expected {want}")
    assert not wrong, f"{len(wrong)} cut(s) of {len(data)} wrong: {wrong[:10]}"


def test_truncation_at_a_fragment_boundary_is_truncated() -> None:
    data = _truncation_seeds().get("MR_small_RLE.dcm")
    if data is None:
        pytest.skip("MR_small_RLE.dcm not available")
    lay = layout(data)
    for cut in (lay.pixel_start + 12, *lay.item_bounds[:-1]):
        with pytest.raises(DicomTruncatedError):
            read_pixels(data[:cut])


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DicomFormatError) as info:
        read_header(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(DicomFormatError):
        read_pixels(tmp_path)


def test_directory_of_mixed_junk(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    files = {
        "good.dcm": _valid(),
        "empty.dcm": b"",
        "text.txt": b"hello\n",
        "cut.dcm": _valid()[:200],
        "zeros.bin": b"\0" * 4096,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = sorted(tmp_path.iterdir())
    results = read_headers(paths, threads=2)
    assert len(results) == len(paths)
    by_name = {p.name: r for p, r in zip(paths, results, strict=True)}
    assert not isinstance(by_name["good.dcm"], Exception)
    expected = {
        "empty.dcm": DicomFormatError,
        "text.txt": DicomFormatError,
        "cut.dcm": DicomTruncatedError,
        "zeros.bin": DicomFormatError,
        "sub": DicomFormatError,
    }
    for name, cls in expected.items():
        err = by_name[name]
        assert type(err) is cls, (name, err)
        assert name in str(err)


def test_missing_file_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "nope.dcm")
