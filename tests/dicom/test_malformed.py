"""Bad input catalogue: each malformed class gives its named fastmed error, naming the
file and the reason, and never a patient value."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from fastmed.dicom import read_header, read_headers, read_pixels
from fastmed.errors import DicomError, DicomFormatError, DicomTruncatedError, DicomUnsupportedError

from . import _craft as c

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


def test_truncation_at_every_byte_never_crashes() -> None:
    data = _valid()
    for n in range(0, len(data), 3):
        try:
            read_pixels(data[:n])
        except DicomError:
            pass


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
    for name in ("empty.dcm", "text.txt", "cut.dcm", "zeros.bin", "sub"):
        err = by_name[name]
        assert isinstance(err, DicomError), name
        assert name in str(err)


def test_missing_file_is_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_header(tmp_path / "nope.dcm")
