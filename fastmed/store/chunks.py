"""Chunk-level reads through the codec layer: crc32c checked, named errors, only the chunks a box needs.

Reads the arrays this package writes (bytes little-endian -> blosc or zstd -> crc32c) without
zarr-python's per-call overhead. Any other codec chain is refused with :class:`CacheError`;
plain zarr-python opens every array as well.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import CacheError


@dataclass(frozen=True)
class ArrayInfo:
    """What a zarr v3 array's metadata says, for chunk reads."""

    path: Path
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    dtype: np.dtype[Any]
    fill_value: Any
    compressor: str  # "blosc" or "zstd"
    where: str  # series id and array name, for errors

    @property
    def grid(self) -> tuple[int, ...]:
        """Number of chunks along each axis."""
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunks, strict=True))

    def chunk_file(self, idx: tuple[int, ...]) -> Path:
        """File of chunk ``idx`` (default key encoding, ``/`` separator)."""
        return self.path.joinpath("c", *(str(i) for i in idx))

    def all_chunks(self) -> Iterator[tuple[int, ...]]:
        """Every chunk index, in C order."""
        return itertools.product(*(range(n) for n in self.grid))


def array_info(path: str | os.PathLike[str], where: str) -> ArrayInfo:
    """Read and check an array's ``zarr.json``; ``where`` names it in errors."""
    p = Path(path)
    try:
        meta = json.loads((p / "zarr.json").read_text())
    except (OSError, ValueError) as exc:
        raise CacheError(f"{where}: array metadata unreadable ({type(exc).__name__})") from None
    try:
        codecs = [c["name"] for c in meta["codecs"]]
        if codecs[0] != "bytes" or codecs[-1] != "crc32c" or len(codecs) != 3 or codecs[1] not in ("blosc", "zstd"):
            raise CacheError(f"{where}: codec chain {codecs} is not one fastmed writes")
        if meta["chunk_key_encoding"]["configuration"].get("separator", "/") != "/":
            raise CacheError(f"{where}: unexpected chunk key separator")
        endian = meta["codecs"][0].get("configuration", {}).get("endian", "little")
        dtype = np.dtype(meta["data_type"]).newbyteorder("<" if endian == "little" else ">")
        return ArrayInfo(
            path=p,
            shape=tuple(meta["shape"]),
            chunks=tuple(meta["chunk_grid"]["configuration"]["chunk_shape"]),
            dtype=dtype,
            fill_value=meta.get("fill_value", 0),
            compressor=codecs[1],
            where=where,
        )
    except (KeyError, IndexError, TypeError) as exc:
        raise CacheError(f"{where}: malformed array metadata ({exc})") from None


def _crc32c(data: bytes | memoryview) -> int:
    import crc32c

    return int(crc32c.crc32c(data))


def decode_chunk(info: ArrayInfo, idx: tuple[int, ...], out: npt.NDArray[Any] | None = None) -> npt.NDArray[Any]:
    """Read, checksum and decompress chunk ``idx`` (full chunk shape, edge chunks padded).

    ``out`` (C-contiguous, chunk shape, ``info.dtype``) receives the voxels instead of a new
    array. The checksum and the decompression release the GIL (crc32c, blosc / zstd), so
    chunks decode in parallel threads.

    Raises
    ------
    CacheError
        The chunk file is missing, its crc32c does not match, or it does not decompress to
        the chunk's size; the message names the series, array and chunk index.
    """
    where = f"{info.where} chunk {idx}"
    try:
        raw = info.chunk_file(idx).read_bytes()
    except FileNotFoundError:
        raise CacheError(f"{where}: chunk file missing") from None
    except OSError as exc:
        raise CacheError(f"{where}: unreadable ({exc.strerror})") from None
    if len(raw) < 4:
        raise CacheError(f"{where}: chunk shorter than its checksum")
    body = memoryview(raw)[:-4]
    if _crc32c(body) != int.from_bytes(raw[-4:], "little"):
        raise CacheError(f"{where}: crc32c checksum mismatch (corrupt chunk)")
    n = int(np.prod(info.chunks)) * info.dtype.itemsize
    dest = np.empty(info.chunks, dtype=info.dtype) if out is None else out
    try:
        if info.compressor == "blosc":
            from numcodecs import blosc

            # Blosc header: bytes 4..8 hold the uncompressed size (little endian).
            size = int.from_bytes(body[4:8], "little") if len(body) >= 16 else -1
            if size == n:
                blosc.decompress(body, dest)
        else:
            from numcodecs import Zstd

            got = Zstd().decode(body)
            size = len(got)
            if size == n:
                dest.reshape(-1).view(np.uint8)[:] = np.frombuffer(got, dtype=np.uint8)
    except Exception as exc:  # a codec library's own error type: reported as a corrupt chunk
        raise CacheError(f"{where}: does not decompress ({type(exc).__name__})") from None
    if size != n:
        raise CacheError(f"{where}: decompressed to {size} bytes, expected {n}")
    return dest


def read_box(info: ArrayInfo, start: tuple[int, ...], stop: tuple[int, ...]) -> npt.NDArray[Any]:
    """Read the box ``[start, stop)`` decoding only the chunks it overlaps (serially, in this thread)."""
    from fastmed.store.window import read_window

    return read_window(info, start, stop, threads=1)
