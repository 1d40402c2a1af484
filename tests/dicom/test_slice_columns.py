"""The native slice-facts path (index, series assembly) against the full header path and pydicom.

Oracles: the DicomHeader path (read_header + slice_infos_from_header), pydicom's Dataset
(slice_infos_from_dataset) and Python's float() for decimal strings.
"""

from __future__ import annotations

import math
import struct
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed._native import core
from fastmed.dicom import read_header
from fastmed.dicom.slice_columns import HAS_THICKNESS, NEED_MORE, OK
from fastmed.dicom.slice_info import SliceInfo, slice_infos_from_dataset
from fastmed.dicom.slice_reader import read_slice_infos, read_slice_infos_many, slice_infos_from_header
from fastmed.errors import DicomError
from fastmed.synth import EDGE_CASES, generate_archive

from . import _craft as c
from ._testdata import all_files, label

pydicom = pytest.importorskip("pydicom")

THICKNESS = 0x00180050  # DS
INSTANCE = 0x00200013  # IS


def _header_path(path: str) -> list[SliceInfo] | Exception:
    try:
        return slice_infos_from_header(read_header(path, stop_before_pixels=True), path)
    except (DicomError, OSError) as exc:
        return exc


def _same(fast: list[SliceInfo] | Exception, ref: list[SliceInfo] | Exception) -> None:
    if isinstance(ref, Exception):
        assert type(fast) is type(ref), (fast, ref)
        assert str(fast) == str(ref)
        assert getattr(fast, "offset", None) == getattr(ref, "offset", None)
        assert getattr(fast, "path", None) == getattr(ref, "path", None)
    else:
        assert fast == ref


def _pydicom_infos(path: str) -> list[SliceInfo]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    return slice_infos_from_dataset(ds, path)


# --- synthetic archive: every modality, transfer syntax and edge case ----------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("facts")
    generate_archive(root, 6, 3, edge_cases=EDGE_CASES)
    return sorted(str(p) for p in root.rglob("*") if p.is_file())


def test_synthetic_archive_equals_header_path_and_pydicom(archive: list[str]) -> None:
    fast = read_slice_infos_many(archive, threads=2)
    dicom = 0
    for path, got in zip(archive, fast, strict=True):
        _same(got, _header_path(path))
        if path.endswith(".dcm"):
            assert not isinstance(got, Exception), got
            assert got == _pydicom_infos(path)
            dicom += 1
        else:  # reports, label arrays, truth.json: not DICOM, named as such
            assert isinstance(got, DicomError) and got.reason.startswith("not DICOM")
    assert dicom > 100


def test_series_id_is_applied_once_per_uid(archive: list[str]) -> None:
    calls: list[str] = []

    def sid(uid: str) -> str:
        calls.append(uid)
        return "id-" + str(len(calls))

    plain = read_slice_infos_many(archive, threads=1)
    keyed = read_slice_infos_many(archive, threads=1, series_id=sid)
    uids = {s.series_uid for r in plain if not isinstance(r, Exception) for s in r}
    assert len(calls) <= len(uids) + sum(1 for p in archive if p.endswith(".dcm"))  # deflated batches apart
    mapping = dict(zip(calls, ["id-" + str(i + 1) for i in range(len(calls))], strict=True))
    for a, b in zip(plain, keyed, strict=True):
        if isinstance(a, Exception):
            continue
        assert [s.series_uid for s in b] == [mapping[s.series_uid] for s in a]


def test_native_records_equal_python_records(archive: list[str]) -> None:
    from fastmed.dicom import slice_columns as F

    assert F._NATIVE_RECORDS
    cols = F.read_columns(archive, 1)
    uid_map = {u: "k" + u[-6:] for u in set(cols["series_uid"])}
    for mapping in (None, uid_map):
        native = core.dicom_make_slice_infos(SliceInfo, archive, cols, mapping)
        python = F._python_records(archive, cols, mapping)
        assert native == python
        assert any(r is not None for r in native)
        for r in native:
            if r is not None:  # every slot set: repr reads them all
                assert repr(r[0]).startswith("SliceInfo(")


@pytest.mark.parametrize("prefix", [0, 64, 300, 1 << 20])
def test_prefix_size_does_not_change_facts(archive: list[str], prefix: int) -> None:
    dcm = [p for p in archive if p.endswith(".dcm")][:60]
    ref = dict(core.dicom_slice_facts(dcm, 1, 1 << 14))
    got = dict(core.dicom_slice_facts(dcm, 1, prefix))
    assert got["status"].tolist() == ref["status"].tolist()
    assert got["num"].tobytes() == ref["num"].tobytes()
    for k in ("mask", "size", "mtime_ns"):
        assert got[k].tolist() == ref[k].tolist()
    for k in ("series_uid", "modality", "image_type", "transfer_syntax", "dataset_offset"):
        assert got[k] == ref[k]


# --- pydicom's own test files ---------------------------------------------------------------

CORPUS = all_files()


def test_corpus_found() -> None:
    assert len(CORPUS) > 100


@pytest.mark.parametrize("path", CORPUS, ids=label)
def test_pydicom_corpus_equals_header_path(path: Path) -> None:
    p = str(path)
    [fast] = read_slice_infos_many([p], threads=1)
    _same(fast, _header_path(p))


def _geometry_files() -> list[Path]:
    out = []
    for p in CORPUS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(str(p), stop_before_pixels=True)
        except Exception:
            continue
        if all(k in ds for k in ("ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "Rows")):
            out.append(p)
    return out


GEOMETRY = _geometry_files()


def test_geometry_corpus_found() -> None:
    assert len(GEOMETRY) >= 20


@pytest.mark.parametrize("path", GEOMETRY, ids=label)
def test_geometry_files_equal_pydicom(path: Path) -> None:
    p = str(path)
    [fast] = read_slice_infos_many([p], threads=1)
    assert not isinstance(fast, Exception), fast
    assert fast == _pydicom_infos(p)


# --- bad input: the same errors as the header path -------------------------------------------


def _malformed_cases() -> dict[str, bytes]:
    from .test_malformed import CASES

    return {name: make() for name, (make, _, _) in CASES.items()}


@pytest.mark.parametrize("name", sorted(_malformed_cases()))
def test_malformed_files_fail_like_the_header_path(name: str, tmp_path: Path) -> None:
    path = tmp_path / "broken.dcm"
    path.write_bytes(_malformed_cases()[name])
    [fast] = read_slice_infos_many([str(path)], threads=1)
    _same(fast, _header_path(str(path)))


def test_truncation_at_every_byte_matches_header_path(tmp_path: Path) -> None:
    data = c.meta() + c.image_module() + c.el(THICKNESS, b"DS", b"1.5 ") + c.native_pixels(32)
    paths = []
    for n in range(0, len(data), 3):
        p = tmp_path / f"cut_{n:05d}.dcm"
        p.write_bytes(data[:n])
        paths.append(str(p))
    for p, fast in zip(paths, read_slice_infos_many(paths, threads=2), strict=True):
        _same(fast, _header_path(p))


def test_directory_and_missing_file(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.dcm")
    fast = read_slice_infos_many([str(tmp_path), missing], threads=1)
    _same(fast[0], _header_path(str(tmp_path)))
    assert isinstance(fast[1], OSError) and fast[1].filename == missing


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    [fast] = read_slice_infos_many([str(fifo)], threads=1)
    assert isinstance(fast, DicomError) and "regular file" in fast.reason


def test_deflated_file_is_read_through_the_inflated_header(tmp_path: Path) -> None:
    import zlib

    body = c.image_module() + c.el(THICKNESS, b"DS", b"2.5 ") + c.native_pixels(20000)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    path = tmp_path / "dfl.dcm"
    path.write_bytes(c.meta("1.2.840.10008.1.2.1.99") + z.compress(body) + z.flush())
    [fast] = read_slice_infos_many([str(path)], threads=1)
    _same(fast, _header_path(str(path)))
    assert not isinstance(fast, Exception) and fast[0].slice_thickness == 2.5


@pytest.mark.parametrize("native", [True, False])
def test_deflated_in_python_or_native_alike(archive: list[str], native: bool) -> None:
    from fastmed.dicom import slice_columns as F

    dcm = [p for p in archive if p.endswith(".dcm")]
    cols = F.read_columns(dcm, 1, native_inflate=native)
    if not native:
        assert (cols["status"] == F.DEFLATED).any()
    for p, got in zip(dcm, F.infos_from_columns(dcm, cols), strict=True):
        _same(got, _header_path(p))  # type: ignore[arg-type]


def test_corrupt_deflate_stream_is_named(tmp_path: Path) -> None:
    import zlib

    from fastmed.dicom import slice_columns as F

    body = c.image_module() + c.native_pixels(64)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = bytearray(z.compress(body) + z.flush())
    stream[0] = 0xFF  # reserved block type
    path = tmp_path / "bad_dfl.dcm"
    path.write_bytes(c.meta("1.2.840.10008.1.2.1.99") + bytes(stream))
    ref = _header_path(str(path))
    assert isinstance(ref, DicomError) and "corrupt" in ref.reason
    for native in (True, False):
        [got] = F.infos_from_columns([str(path)], F.read_columns([str(path)], 1, native_inflate=native))
        _same(got, ref)  # type: ignore[arg-type]


def test_deflate_damage_after_the_header_is_left_to_pixel_reads(tmp_path: Path) -> None:
    # The index inflates only the header; the full header path inflates everything. A stream
    # damaged inside the pixel data is indexed, and refused when its pixels are read.
    import zlib

    from fastmed.dicom import read_pixels

    pixels = bytes((i * 7919) % 251 for i in range(60000))
    body = c.image_module(rows=100, cols=300) + c.el(0x7FE00010, b"OB", pixels)
    z = zlib.compressobj(1, zlib.DEFLATED, -zlib.MAX_WBITS)
    stream = bytearray(z.compress(body) + z.flush())
    stream[len(stream) // 2 :] = bytes(len(stream) - len(stream) // 2)  # zeros: stored blocks that lie
    path = tmp_path / "tail.dcm"
    path.write_bytes(c.meta("1.2.840.10008.1.2.1.99") + bytes(stream))
    [fast] = read_slice_infos_many([str(path)], threads=1)
    assert not isinstance(fast, Exception) and fast[0].rows == 100
    with pytest.raises(DicomError):
        read_header(str(path))
    with pytest.raises(DicomError):
        read_pixels(str(path))


def test_unexpected_vr_takes_the_header_path(tmp_path: Path) -> None:
    # Rows as IS text and ImageType as LO: decoded by the Python header path, same result.
    data = c.meta() + c.el(0x00080008, b"LO", c.txt("ORIGINAL\\PRIMARY")) + c.image_module(rows_vr=b"IS")
    path = tmp_path / "odd.dcm"
    path.write_bytes(data + c.native_pixels(32))
    [fast] = read_slice_infos_many([str(path)], threads=1)
    _same(fast, read_slice_infos(str(path)))
    assert not isinstance(fast, Exception) and fast[0].rows == 4


# --- decimal strings: the native parser against Python's float() ---------------------------


def _facts_of(elements: bytes) -> dict[str, object]:
    return dict(core.dicom_slice_facts_buffers([elements], [False], 1))


def _py_ds(text: str) -> float | None:
    """What the header path makes of a one-component DS value: float() of the stripped text."""
    s = text.rstrip(" \0").lstrip(" ")
    if not s:
        return None
    try:
        return float(s)
    except ValueError:
        return None


DS_CHARS = st.sampled_from(list("0123456789+-eE. _\t") + ["inf", "nan", "Infinity", "0x1p3", "\0"])
DS_TEXT = st.one_of(
    st.lists(DS_CHARS, max_size=14).map("".join),
    st.floats(allow_nan=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f"{f:.6e}"),
    st.tuples(
        st.sampled_from(["", " ", "  ", "+", "-"]),
        st.integers(-(10**20), 10**20),
        st.sampled_from(["", " ", "e-3", ".5"]),
    ).map(lambda t: f"{t[0]}{t[1]}{t[2]}"),
)


def _same_number(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))


@settings(max_examples=400, deadline=None)
@given(DS_TEXT)
def test_ds_matches_python_float(text: str) -> None:
    raw = text.encode("latin-1")
    if len(raw) % 2:
        raw += b" "
    cols = _facts_of(c.el(THICKNESS, b"DS", raw))
    assert cols["status"].tolist() == [OK]  # type: ignore[attr-defined]
    has = bool(int(cols["mask"][0]) & HAS_THICKNESS)  # type: ignore[index]
    got = float(cols["num"][0, 18]) if has else None  # type: ignore[index]
    assert _same_number(got, _py_ds(text)), (text, got)
    # The header path (value_to_py) reads the same number.
    h = core.dicom_parse(c.el(THICKNESS, b"DS", raw), [(THICKNESS, "DS")], False, True, True, True)
    v = h["values"][THICKNESS]
    if isinstance(v, str):  # kept as text: float() refuses it too
        v = None
    assert _same_number(None if v is None else float(v), _py_ds(text)), (text, v)


@settings(max_examples=200, deadline=None)
@given(st.lists(DS_TEXT.filter(lambda t: "\\" not in t), min_size=1, max_size=4))
def test_multi_valued_ds_needs_every_component(parts: list[str]) -> None:
    raw = "\\".join(parts).encode("latin-1")
    raw += b" " * (len(raw) % 2)
    spacing = 0x00280030
    cols = _facts_of(c.el(spacing, b"DS", raw))
    want = [_py_ds(p) for p in parts]
    whole_empty = not raw.strip(b" \0").lstrip(b" ")
    ok = not whole_empty and len(parts) == 2 and all(w is not None for w in want)
    assert bool(int(cols["mask"][0]) & 1) == ok  # type: ignore[index]
    if ok:
        got = cols["num"][0, 2:4].tolist()  # type: ignore[index]
        assert all(_same_number(g, w) for g, w in zip(got, want, strict=True))


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-(10**15), 10**15), st.sampled_from(["", " ", "+", "  +"]), st.sampled_from(["", " ", ".0", ".7", "e2"])
)
def test_is_gives_int_of_float(n: int, lead: str, tail: str) -> None:
    text = f"{lead}{n}{tail}" if not (lead.endswith("+") and n < 0) else f"{n}{tail}"
    raw = text.encode()
    raw += b" " * (len(raw) % 2)
    cols = _facts_of(c.el(INSTANCE, b"IS", raw))
    assert int(cols["mask"][0]) & 8  # type: ignore[index]
    assert int(cols["num"][0, 16]) == int(float(text.strip()))  # type: ignore[index]


def test_partial_buffer_asks_for_more() -> None:
    data = c.image_module() + c.el(THICKNESS, b"DS", b"1.5 ") + c.native_pixels(64)
    cut = data[:-80]
    cols = dict(core.dicom_slice_facts_buffers([cut, data], [True, True], 1))
    assert cols["status"].tolist() == [NEED_MORE, OK]  # type: ignore[attr-defined]


def test_header_value_parse_is_locale_independent() -> None:
    # from_chars, not strtod: a comma locale cannot change "1.5"
    data = c.el(THICKNESS, b"DS", b"1.5 ")
    h = core.dicom_parse(data, [(THICKNESS, "DS")], False, True, True, True)
    assert h["values"][THICKNESS] == 1.5
    assert struct.calcsize("<d") == 8


def test_file_names_that_are_not_utf8(tmp_path: Path) -> None:
    import os

    name = os.path.join(os.fsencode(tmp_path), b"slice\xff.dcm")
    with open(name, "wb") as f:
        f.write(c.meta() + c.image_module() + c.native_pixels(32))
    path = os.fsdecode(name)  # surrogate-escaped str, as os.scandir gives it
    [fast] = read_slice_infos_many([path], threads=1)
    _same(fast, _header_path(path))
    assert not isinstance(fast, Exception) and fast[0].path == path
