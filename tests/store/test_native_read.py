"""The native window reader (C++ chunk loop) against zarr-python's reads of the same arrays, its crc32c against the
crc32c package, its errors; and the cached array metadata against a rewritten array."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed as fm
from fastmed._native import core
from fastmed.store import native_read
from fastmed.store.chunks import array_info
from fastmed.store.layout import CHUNK_3D, DEFAULT_CODEC, Codec
from fastmed.store.window import read_window
from tests.store._arrays import count_decodes, write_array
from tests.store.test_chunks import ct_like

LAYOUTS = {  # name: (shape, chunks, dtype, codec)
    "default-int16": ((150, 70, 90), CHUNK_3D, np.int16, DEFAULT_CODEC),
    "64cube-int16": ((70, 64, 80), (64, 64, 64), np.int16, DEFAULT_CODEC),
    "shuffle-float32": ((40, 50, 33), (16, 16, 16), np.float32, Codec("blosc", "lz4", 5, "shuffle", 32768)),
    "noshuffle-uint8": ((33, 40, 70), (32, 32, 32), np.uint8, Codec("blosc", "zstd", 1, "noshuffle", 0)),
    "auto-blocks-int16": ((64, 48, 48), (64, 32, 32), np.int16, Codec("blosc", "lz4", 5, "bitshuffle")),
    "2d-int16": ((90, 70), (90, 70), np.int16, DEFAULT_CODEC),
}


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    import zarr

    root = tmp_path_factory.mktemp("native")
    out = {}
    for name, (shape, chunks, dtype, codec) in LAYOUTS.items():
        data = ct_like((1, *shape) if len(shape) == 2 else shape, dtype).reshape(shape)
        path = write_array(root / name, data, chunks, codec)
        out[name] = (path, zarr.open_array(str(path), mode="r"))
    return out


def test_native_reader_is_available() -> None:
    assert native_read.blosc_decoder() is not None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_windows_equal_zarr_python(arrays: dict[str, tuple[Path, Any]], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(arrays)))
    path, z = arrays[name]
    info = array_info(path, "s")
    assert native_read.usable(info)
    lo = [data.draw(st.integers(0, n - 1)) for n in z.shape]
    hi = [data.draw(st.integers(a + 1, n)) for a, n in zip(lo, z.shape, strict=True)]
    threads = data.draw(st.sampled_from([1, 2]))
    win = read_window(info, lo, hi, threads)
    np.testing.assert_array_equal(win, z[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])


def test_whole_arrays_equal_zarr_python(arrays: dict[str, tuple[Path, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    seen = count_decodes(monkeypatch)
    for path, z in arrays.values():
        info = array_info(path, "s")
        seen.clear()
        np.testing.assert_array_equal(read_window(info, (0,) * z.ndim, z.shape, threads=2), z[...])
        assert sorted(seen) == sorted(info.all_chunks())


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 255, 768, 8191, 24576, 24577, 3 * 8192 + 3 * 256 + 5, 300_001])
def test_crc32c_equals_the_crc32c_package(n: int) -> None:
    import crc32c

    data = np.random.default_rng(n).integers(0, 256, n + 3, dtype=np.uint8)
    for start in (0, 1, 3):  # unaligned starts as well
        view = memoryview(data)[start : start + n]
        assert core.crc32c(view) == crc32c.crc32c(bytes(view))


def test_missing_and_corrupt_chunks_are_named(arrays: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    path = Path(shutil.copytree(arrays["default-int16"][0], tmp_path / "a"))
    info = array_info(path, "series abc image")
    (path / "c" / "1" / "0" / "1").unlink()  # voxels [128:150, 0:32, 32:64)
    with pytest.raises(fm.CacheError, match=r"series abc image chunk \(1, 0, 1\): chunk file missing"):
        read_window(info, (100, 0, 0), (150, 40, 40), threads=2)
    chunk = path / "c" / "0" / "1" / "2"
    raw = bytearray(chunk.read_bytes())
    raw[40] ^= 0x10
    chunk.write_bytes(bytes(raw))
    with pytest.raises(fm.CacheError, match=r"series abc image chunk \(0, 1, 2\).*crc32c"):
        read_window(info, (0, 0, 0), (128, 70, 90), threads=1)


def test_blosc_errors_after_a_good_checksum_are_named(arrays: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    import crc32c

    path = Path(shutil.copytree(arrays["default-int16"][0], tmp_path / "a"))
    chunk = path / "c" / "0" / "0" / "0"
    body = bytearray(chunk.read_bytes()[:-4])
    nblocks = -(-struct.unpack_from("<I", body, 4)[0] // struct.unpack_from("<I", body, 8)[0])
    body[16 + 4 * nblocks + 2 : 16 + 4 * nblocks + 40] = b"\xff" * 38  # garbage in the first block's stream
    chunk.write_bytes(bytes(body) + int(crc32c.crc32c(bytes(body))).to_bytes(4, "little"))
    info = array_info(path, "series abc image")
    with pytest.raises(fm.CacheError, match=r"series abc image chunk \(0, 0, 0\)"):
        np.testing.assert_array_equal(read_window(info, (0, 0, 0), (4, 4, 4)), arrays["default-int16"][1][:4, :4, :4])


def test_array_info_is_cached_and_a_rewritten_array_is_read_again(tmp_path: Path) -> None:
    data = ct_like((40, 40, 40), np.int16)
    path = write_array(tmp_path / "a", data, (32, 32, 32))
    first = array_info(path, "s")
    assert array_info(path, "s") is first  # parsed once
    shutil.rmtree(path)
    write_array(path, data[:, :30], (16, 16, 16))
    os.utime(path / "zarr.json", ns=(1, 1))  # a different mtime even on coarse clocks
    again = array_info(path, "s")
    assert again is not first and again.chunks == (16, 16, 16) and again.shape == (40, 30, 40)
    np.testing.assert_array_equal(read_window(again, (0, 0, 0), again.shape), data[:, :30])
    (path / "zarr.json").unlink()
    with pytest.raises(fm.CacheError, match="metadata unreadable"):
        array_info(path, "s")
