"""Unsplit blosc blocks (``fastmed.store.blosc_unsplit``): blocks of the size asked for, read by every decoder.

Oracles: zarr-python opening the array with its own codecs (no fastmed), numcodecs' blosc
decoding single chunks, and the array written; the chunk headers' block size and flags
(c-blosc's format: ``dont_split`` is bit 4 of the flags byte).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastmed.store import blosc_unsplit
from fastmed.store.chunks import array_info
from fastmed.store.layout import DEFAULT_CODEC, Codec
from fastmed.store.window import read_window
from tests.store._arrays import write_array

_DONT_SPLIT = 0x10


def _headers(path: Path) -> list[tuple[int, int]]:
    """(flags, blocksize) of every chunk file's blosc header (the crc32c trails the blosc frame)."""
    out = []
    for f in sorted(p for p in (path / "c").rglob("*") if p.is_file()):
        b = f.read_bytes()
        out.append((b[2], int.from_bytes(b[8:12], "little")))
    return out


def _ct_like(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """Smooth int16 'anatomy' plus noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    body = 1000.0 * np.exp(-(x**2 + y**2) * 2) * (1 + 0.2 * np.sin(8 * z))
    return (body + rng.normal(0, 5, size=shape)).astype(np.int16)


@pytest.mark.skipif(blosc_unsplit._compress() is None, reason="no c-blosc library with split modes")
def test_default_codec_writes_blocks_of_the_asked_size(tmp_path: Path) -> None:
    import numcodecs
    import zarr

    data = _ct_like((64, 48, 40), 0)
    chunks = (32, 16, 16)  # int16 planes of 512 B: 4096 B blocks of 8 slices, 4 per chunk
    path = write_array(tmp_path / "a", data, chunks, Codec("blosc", "lz4", 5, "bitshuffle", 4096, split=False))
    heads = _headers(path)
    assert heads and all(flags & _DONT_SPLIT and size == 4096 for flags, size in heads)
    np.testing.assert_array_equal(zarr.open_array(str(path))[...], data)
    f = path / "c" / "1" / "2" / "1"
    one = np.frombuffer(numcodecs.Blosc().decode(f.read_bytes()[:-4]), dtype=np.int16).reshape(chunks)
    np.testing.assert_array_equal(one, data[32:64, 32:48, 16:32])
    info = array_info(path, "s")
    np.testing.assert_array_equal(read_window(info, (3, 1, 2), (61, 47, 39)), data[3:61, 1:47, 2:39])


def test_split_codecs_still_make_split_blocks(tmp_path: Path) -> None:
    """Stores written before (split lz4 blocks, at least 64 KiB) keep their metadata and read as before."""
    data = _ct_like((256, 32, 32), 1)
    old = Codec("blosc", "lz4", 5, "bitshuffle", 32768)
    path = write_array(tmp_path / "a", data, (128, 32, 32), old)
    assert all(not flags & _DONT_SPLIT and size == 65536 for flags, size in _headers(path))
    np.testing.assert_array_equal(read_window(array_info(path, "s"), (5, 0, 3), (250, 30, 32)), data[5:250, :30, 3:])
    assert repr(old) == "Codec(name='blosc', cname='lz4', level=5, shuffle='bitshuffle', blocksize=32768)"


@pytest.mark.skipif(blosc_unsplit._compress() is None, reason="no c-blosc library with split modes")
def test_default_codec_keeps_ct_compression_above_2x(store: Path, tmp_path: Path) -> None:
    """The synthetic archive's largest CT (realistic noise) rewritten: >= 2x, no worse than split 64 KiB blocks."""
    import zarr

    arrays = [zarr.open_array(str(z.parent)) for z in store.glob("*/image/zarr.json")]
    data = np.asarray(max((a for a in arrays if a.ndim == 3 and a.dtype == np.int16), key=lambda a: a.size)[...])
    old = write_array(tmp_path / "old", data, (128, 32, 32), Codec("blosc", "lz4", 5, "bitshuffle", 32768))
    new = write_array(tmp_path / "new", data, (128, 32, 32), DEFAULT_CODEC)

    def stored(p: Path) -> int:
        return sum(f.stat().st_size for f in (p / "c").rglob("*") if f.is_file())

    assert data.nbytes / stored(new) >= 2.0
    assert stored(new) <= 1.02 * stored(old)


@pytest.mark.skipif(blosc_unsplit._compress() is None, reason="no c-blosc library with split modes")
def test_converted_store_has_unsplit_blocks(store: Path) -> None:
    """Conversion writes through a reopened array (zarr.json names zarr's blosc codec): still unsplit."""
    import zarr

    seen = 0
    for z in sorted(store.glob("*/image/zarr.json")):
        arr = zarr.open_array(str(z.parent))
        if int(np.prod(arr.chunks)) * arr.dtype.itemsize <= DEFAULT_CODEC.blocksize:
            continue  # a chunk of one block
        heads = _headers(z.parent)
        assert all(flags & _DONT_SPLIT and size == DEFAULT_CODEC.blocksize for flags, size in heads)
        seen += 1
    assert seen
