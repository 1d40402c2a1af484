"""Chunk decoding through the codec layer: partial blosc block decodes, stored (memcpyed) chunks, blocks out of
order and checked block tables, against numpy slicing of the array zarr-python wrote and against whole-chunk decodes."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed as fm
from fastmed.store import chunks
from fastmed.store.chunks import BLOSC_HEADER, array_info, decode_chunk
from fastmed.store.layout import Codec
from fastmed.store.window import read_window
from tests.store._arrays import write_array

pytestmark = pytest.mark.usefixtures("reader")  # every test with the native and the Python chunk loop

SHAPE = (70, 64, 80)  # two chunks along z and x (both edge chunks padded), one along y
CHUNK = (64, 64, 64)
CODECS = {
    "lz4-bitshuffle-64k": Codec("blosc", "lz4", 5, "bitshuffle", 32768),
    "lz4-shuffle-64k": Codec("blosc", "lz4", 5, "shuffle", 32768),
    "zstd-noshuffle-64k": Codec("blosc", "zstd", 1, "noshuffle", 32768),
    "lz4-bitshuffle-auto": Codec("blosc", "lz4", 5, "bitshuffle"),
    "zstd": Codec("zstd", "lz4", 3),
}


def ct_like(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray[Any, Any]:
    """Smooth structure plus noise (compressible, not trivially)."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*[np.linspace(0, 3, n) for n in shape], indexing="ij")
    base = 400 * np.sin(z) * np.cos(y) + 300 * np.sin(x * 2)
    return (base + rng.normal(0, 20, shape)).astype(dtype)


def write(path: Path, data: np.ndarray[Any, Any], codec: Codec, chunk: tuple[int, ...] = CHUNK) -> Path:
    return write_array(path, data, chunk, codec)


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray[Any, Any]]]:
    root = tmp_path_factory.mktemp("chunks")
    out = {}
    for name, codec in CODECS.items():
        for dtype in (np.int16, np.float32):
            data = ct_like(SHAPE, dtype)
            out[f"{name}-{np.dtype(dtype).name}"] = (write(root / f"{name}-{np.dtype(dtype).name}", data, codec), data)
    return out


def blocks_of(path: Path, idx: tuple[int, ...]) -> tuple[int, int]:
    """(blocksize, number of blocks) from a stored blosc chunk's header."""
    raw = (path / "c" / "/".join(map(str, idx))).read_bytes()
    nbytes, blocksize, _ = struct.unpack_from("<III", raw, 4)
    return blocksize, -(-nbytes // blocksize)


def test_default_codec_makes_small_blocks(arrays: dict[str, tuple[Path, np.ndarray[Any, Any]]]) -> None:
    path, _ = arrays["lz4-bitshuffle-64k-int16"]
    assert blocks_of(path, (0, 0, 0)) == (65536, 8)  # 8 slices of a 64x64 int16 chunk per block


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_windows_equal_numpy(arrays: dict[str, tuple[Path, np.ndarray[Any, Any]]], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(arrays)))
    path, arr = arrays[name]
    lo = [data.draw(st.integers(0, n - 1)) for n in SHAPE]
    hi = [data.draw(st.integers(a + 1, n)) for a, n in zip(lo, SHAPE, strict=True)]
    win = read_window(array_info(path, name), lo, hi, data.draw(st.sampled_from([1, 2])))
    np.testing.assert_array_equal(win, arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])


@pytest.mark.parametrize("name", ["lz4-bitshuffle-64k-int16", "lz4-shuffle-64k-float32", "zstd-noshuffle-64k-int16"])
def test_rows_decode_equals_whole_decode(arrays: dict[str, tuple[Path, np.ndarray[Any, Any]]], name: str) -> None:
    path, _ = arrays[name]
    info = array_info(path, name)
    whole = decode_chunk(info, (0, 0, 1))
    rng = np.random.default_rng(3)
    for _ in range(30):
        z0 = int(rng.integers(0, 64))
        z1 = int(rng.integers(z0 + 1, 65))
        part = decode_chunk(info, (0, 0, 1), rows=(z0, z1))
        np.testing.assert_array_equal(part[z0:z1], whole[z0:z1])


def test_only_the_blocks_of_the_needed_slices_are_decoded(
    arrays: dict[str, tuple[Path, np.ndarray[Any, Any]]], monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    if reader == "native":
        pytest.skip("counts the Python decoder's calls (the native block choice: test_native_read.py)")
    path, arr = arrays["lz4-bitshuffle-64k-int16"]
    info = array_info(path, "s")
    sizes: list[int] = []
    real = chunks._blosc_decode

    def counting(src: Any, dest: Any) -> None:
        sizes.append(dest.size)
        real(src, dest)

    monkeypatch.setattr(chunks, "_blosc_decode", counting)
    win = read_window(info, (20, 0, 0), (30, 64, 64), threads=1)  # slices 20..29: blocks 2 and 3 of 8
    np.testing.assert_array_equal(win, arr[20:30, :64, :64])
    assert sizes == [2 * 65536]
    sizes.clear()
    read_window(info, (0, 0, 0), (64, 10, 10), threads=1)  # every slice: the whole chunk
    assert sizes == [64 * 64 * 64 * 2]


def test_stored_chunks_read(tmp_path: Path) -> None:
    """Noise that blosc cannot compress is stored as is (the memcpyed flag)."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, size=(64, 64, 64), dtype=np.uint8)
    path = write(tmp_path / "a", data, Codec("blosc", "lz4", 5, "noshuffle", 32768))
    raw = (path / "c" / "0" / "0" / "0").read_bytes()
    assert raw[2] & 0x2, "expected blosc to store this chunk uncompressed"
    info = array_info(path, "s")
    np.testing.assert_array_equal(read_window(info, (5, 6, 7), (40, 50, 60)), data[5:40, 6:50, 7:60])


def rewrite_chunk(chunk: Path, body: bytes) -> None:
    """Write a chunk file with a fresh crc32c (so that only the blosc layer can object)."""
    import crc32c

    chunk.write_bytes(body + int(crc32c.crc32c(body)).to_bytes(4, "little"))


def test_blocks_stored_out_of_order(tmp_path: Path) -> None:
    data = ct_like(CHUNK, np.int16, seed=4)
    path = write(tmp_path / "a", data, CODECS["lz4-bitshuffle-64k"])
    chunk = path / "c" / "0" / "0" / "0"
    body = chunk.read_bytes()[:-4]
    nbytes, blocksize, cbytes = struct.unpack_from("<III", body, 4)
    n = nbytes // blocksize
    starts = list(struct.unpack_from(f"<{n}i", body, BLOSC_HEADER))
    ends = [*starts[1:], cbytes]
    blocks = [body[a:e] for a, e in zip(starts, ends, strict=True)]
    order = list(reversed(range(n)))  # last block first in the file
    at, new_starts, payload = BLOSC_HEADER + 4 * n, [0] * n, b""
    for k in order:
        new_starts[k] = at + len(payload)
        payload += blocks[k]
    rewrite_chunk(chunk, body[:BLOSC_HEADER] + struct.pack(f"<{n}i", *new_starts) + payload)
    info = array_info(path, "s")
    for lo, hi in [((0, 0, 0), (64, 64, 64)), ((9, 3, 5), (27, 60, 61)), ((56, 0, 0), (64, 64, 64))]:
        np.testing.assert_array_equal(read_window(info, lo, hi), data[tuple(map(slice, lo, hi))])


@pytest.mark.parametrize("damage", ["offset-past-end", "offset-in-table", "nbytes", "cbytes"])
def test_bad_block_tables_are_named_errors(tmp_path: Path, damage: str) -> None:
    data = ct_like(CHUNK, np.int16, seed=5)
    path = write(tmp_path / "a", data, CODECS["lz4-bitshuffle-64k"])
    chunk = path / "c" / "0" / "0" / "0"
    body = bytearray(chunk.read_bytes()[:-4])
    if damage == "offset-past-end":
        struct.pack_into("<i", body, BLOSC_HEADER + 4 * 3, len(body) + 100)
    elif damage == "offset-in-table":
        struct.pack_into("<i", body, BLOSC_HEADER + 4 * 5, 4)
    elif damage == "nbytes":
        struct.pack_into("<I", body, 4, 1234)
    else:
        struct.pack_into("<I", body, 12, len(body) + 7)
    rewrite_chunk(chunk, bytes(body))
    info = array_info(path, "series x image")
    for lo, hi in [((0, 0, 0), (64, 64, 64)), ((24, 0, 0), (30, 5, 5))]:
        with pytest.raises(fm.CacheError, match=r"series x image chunk \(0, 0, 0\)"):
            read_window(info, lo, hi)


def test_oversized_chunk_file_is_refused(tmp_path: Path) -> None:
    data = ct_like(CHUNK, np.int16, seed=6)
    path = write(tmp_path / "a", data, CODECS["lz4-bitshuffle-64k"])
    info = array_info(path, "s")
    rewrite_chunk(path / "c" / "0" / "0" / "0", b"\0" * info.max_file_bytes)
    with pytest.raises(fm.CacheError, match="larger than any chunk"):
        read_window(info, (0, 0, 0), (1, 1, 1))
