"""Chunk-level reads through the codec layer: crc32c checked, named errors, only the bytes a box needs.

Reads the arrays this package writes (bytes little-endian -> blosc or zstd -> crc32c) without
zarr-python's per-call overhead. Any other codec chain is refused with :class:`CacheError`;
plain zarr-python opens every array as well.

A chunk file is read into a reused buffer (no allocation per chunk), its crc32c checked over
the whole file, and decoded with one blosc thread (imagecodecs' ``blosc_decode``, which runs
``blosc_decompress_ctx`` without the GIL). A blosc chunk is a header, a table of block starts
and independently compressed blocks of ``blocksize`` bytes (consecutive C-order voxels, so
whole z-slices of a chunk); when a read needs only some z-slices of a chunk, only the blocks
holding them are decoded (:func:`decode_chunk`'s ``rows``), from a blosc stream rebuilt with
just those blocks. Every length in the header and block table is checked against the file first.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import CacheError

BLOSC_HEADER = 16
"""Bytes of a blosc (format 2) chunk header: version, versionlz, flags, typesize, nbytes, blocksize, cbytes."""
_MEMCPYED = 0x2


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

    @property
    def chunk_nbytes(self) -> int:
        """Bytes of one decoded chunk (edge chunks are stored padded to the full chunk shape)."""
        return int(np.prod(self.chunks)) * self.dtype.itemsize

    @property
    def max_file_bytes(self) -> int:
        """Upper bound on a chunk file's size (compressor bound, header, block table, checksum)."""
        n = self.chunk_nbytes
        return n + n // 64 + 4096

    def chunk_file(self, idx: tuple[int, ...]) -> Path:
        """File of chunk ``idx`` (default key encoding, ``/`` separator)."""
        return Path(self.chunk_path(idx))

    def chunk_path(self, idx: tuple[int, ...]) -> str:
        """:meth:`chunk_file` as a string (built without pathlib: this is on every chunk read)."""
        return f"{self.path}{os.sep}c{os.sep}" + os.sep.join(map(str, idx))

    def all_chunks(self) -> Iterator[tuple[int, ...]]:
        """Every chunk index, in C order."""
        return itertools.product(*(range(n) for n in self.grid))


def array_info(path: str | os.PathLike[str], where: str) -> ArrayInfo:
    """Read and check an array's ``zarr.json``; ``where`` names it in errors.

    Parsed metadata is kept per path, keyed by the file's modification time, size and inode
    (one ``stat`` per call): a dataset makes a :class:`~fastmed.store.window.StoreVolume` per item,
    and a rewritten array (a re-converted series) is parsed again.
    """
    meta_file = os.path.join(os.fspath(path), "zarr.json")
    try:
        st = os.stat(meta_file)
    except OSError as exc:
        raise CacheError(f"{where}: array metadata unreadable ({type(exc).__name__})") from None
    return _parsed_info(meta_file, where, st.st_mtime_ns, st.st_size, st.st_ino)


@functools.lru_cache(maxsize=4096)
def _parsed_info(meta_file: str, where: str, mtime_ns: int, size: int, inode: int) -> ArrayInfo:
    """:func:`array_info` for one version of ``zarr.json`` (the last three arguments key the cache)."""
    p = Path(meta_file).parent
    try:
        meta = json.loads(Path(meta_file).read_text())
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


class Scratch:
    """Buffers one decoding task reuses: the chunk file, a rebuilt blosc stream, one decoded chunk."""

    def __init__(self, info: ArrayInfo):
        self.key = (info.chunks, info.dtype.str)
        self.raw = memoryview(bytearray(info.max_file_bytes + 1))
        self.frame = memoryview(bytearray(info.max_file_bytes + 1))
        self.chunk = np.empty(info.chunks, dtype=info.dtype)


_FREE: dict[tuple[Any, ...], list[Scratch]] = {}
_FREE_LOCK = threading.Lock()
_KEEP = 8


def _after_fork() -> None:
    """A forked child starts with no kept buffers and a fresh lock (another thread may have held it)."""
    global _FREE_LOCK
    _FREE_LOCK = threading.Lock()
    _FREE.clear()


os.register_at_fork(after_in_child=_after_fork)


def take_scratch(info: ArrayInfo) -> Scratch:
    """Buffers for decoding chunks of ``info``'s shape and type (reused; hand back with :func:`give_scratch`)."""
    key = (info.chunks, info.dtype.str)
    with _FREE_LOCK:
        free = _FREE.get(key)
        if free:
            return free.pop()
    return Scratch(info)


def give_scratch(s: Scratch) -> None:
    """Return buffers from :func:`take_scratch` for the next read (a few per chunk shape are kept)."""
    with _FREE_LOCK:
        free = _FREE.setdefault(s.key, [])
        if len(free) < _KEEP:
            free.append(s)


def _crc32c(data: bytes | memoryview) -> int:
    import crc32c

    return int(crc32c.crc32c(data))


def read_chunk_file(info: ArrayInfo, idx: tuple[int, ...], buf: memoryview) -> memoryview:
    """Read chunk ``idx``'s file into ``buf``, check its crc32c; returns the compressed bytes (a view of ``buf``).

    Raises
    ------
    CacheError
        Missing, unreadable, larger than any chunk of this array can be, or a checksum mismatch.
    """
    where = f"{info.where} chunk {idx}"
    try:
        fd = os.open(info.chunk_path(idx), os.O_RDONLY)
    except FileNotFoundError:
        raise CacheError(f"{where}: chunk file missing") from None
    except OSError as exc:
        raise CacheError(f"{where}: unreadable ({exc.strerror})") from None
    n = 0
    try:
        while n < len(buf):
            got = os.readv(fd, [buf[n:]])
            if got == 0:
                break
            n += got
    except OSError as exc:
        raise CacheError(f"{where}: unreadable ({exc.strerror})") from None
    finally:
        os.close(fd)
    if n >= len(buf):
        raise CacheError(f"{where}: chunk file larger than any chunk of this array can be")
    if n < 4:
        raise CacheError(f"{where}: chunk shorter than its checksum")
    body = buf[: n - 4]
    if _crc32c(body) != int.from_bytes(buf[n - 4 : n], "little"):
        raise CacheError(f"{where}: crc32c checksum mismatch (corrupt chunk)")
    return body


def _blosc_decode(src: memoryview, dest: npt.NDArray[np.uint8]) -> None:
    """Decode one blosc stream into ``dest`` (exactly its size) with one thread, without the GIL."""
    import imagecodecs

    if imagecodecs.BLOSC.available:
        # imagecodecs reads any buffer (its stubs list bytes only); ``out`` as a memoryview is filled in place.
        imagecodecs.blosc_decode(src, numthreads=1, out=memoryview(dest))  # type: ignore[arg-type]
    else:  # pragma: no cover - imagecodecs wheels ship blosc
        from numcodecs import blosc

        blosc.decompress(src, dest)


def _blosc_blocks(where: str, body: memoryview, nbytes: int, blocksize: int) -> tuple[list[int], list[int]]:
    """Start and end offsets of every block of a blosc chunk, checked against the chunk's length."""
    nblocks = -(-nbytes // blocksize)
    table = BLOSC_HEADER + 4 * nblocks
    if len(body) < table:
        raise CacheError(f"{where}: blosc block table runs past the chunk")
    starts = list(struct.unpack_from(f"<{nblocks}i", body, BLOSC_HEADER))
    ordered = sorted(starts)
    if ordered[0] < table or ordered[-1] >= len(body):
        raise CacheError(f"{where}: blosc block offsets outside the chunk")
    if any(a == b for a, b in zip(ordered, ordered[1:], strict=False)):
        raise CacheError(f"{where}: blosc block offsets overlap")
    if ordered == starts:  # blocks stored in order (c-blosc writes them so with one thread)
        return starts, [*starts[1:], len(body)]
    end_of = dict(zip(ordered, [*ordered[1:], len(body)], strict=True))
    return starts, [end_of[a] for a in starts]


def _decode_blosc(
    info: ArrayInfo,
    where: str,
    body: memoryview,
    dest: npt.NDArray[np.uint8],
    rows: tuple[int, int] | None,
    s: Scratch,
) -> None:
    """Check a blosc chunk's header and block table against the file, then decode it (or the blocks of ``rows``)."""
    n = dest.size
    if len(body) < BLOSC_HEADER:
        raise CacheError(f"{where}: shorter than a blosc header")
    flags = body[2]
    nbytes, blocksize, cbytes = struct.unpack_from("<III", body, 4)
    if nbytes != n:
        raise CacheError(f"{where}: decompressed to {nbytes} bytes, expected {n}")
    if cbytes != len(body):
        raise CacheError(f"{where}: blosc header says {cbytes} bytes, the chunk has {len(body)}")
    if flags & _MEMCPYED:
        if cbytes != BLOSC_HEADER + n:
            raise CacheError(f"{where}: stored chunk of {cbytes - BLOSC_HEADER} bytes, expected {n}")
        dest[:] = np.frombuffer(body[BLOSC_HEADER:], dtype=np.uint8)
        return
    if blocksize <= 0 or blocksize > n:
        raise CacheError(f"{where}: blosc block size {blocksize} invalid for a {n}-byte chunk")
    whole, b0, b1 = True, 0, 0
    if rows is not None and n % blocksize == 0:  # blocks b0..b1 hold the slices rows[0]..rows[1]
        row_bytes = n // info.chunks[0]
        b0, b1 = rows[0] * row_bytes // blocksize, -(-rows[1] * row_bytes // blocksize)
        whole = b0 == 0 and b1 == n // blocksize
    try:
        if whole:
            _blosc_blocks(where, body, nbytes, blocksize)  # offsets checked before the decoder trusts them
            _blosc_decode(body, dest)
            return
        starts, ends = _blosc_blocks(where, body, nbytes, blocksize)
        m = b1 - b0
        head = BLOSC_HEADER + 4 * m
        new_starts, at = [], head
        for k in range(b0, b1):
            new_starts.append(at)
            at += ends[k] - starts[k]
        frame = s.frame
        frame[:BLOSC_HEADER] = body[:BLOSC_HEADER]
        struct.pack_into(f"<III{m}i", frame, 4, m * blocksize, blocksize, at, *new_starts)
        if starts[b0 + 1 : b1] == ends[b0 : b1 - 1]:  # the blocks lie in order: one copy
            frame[head:at] = body[starts[b0] : ends[b1 - 1]]
        else:
            for k, a in zip(range(b0, b1), new_starts, strict=True):
                frame[a : a + ends[k] - starts[k]] = body[starts[k] : ends[k]]
        _blosc_decode(frame[:at], dest[b0 * blocksize : b1 * blocksize])
    except CacheError:
        raise
    except Exception as exc:  # a codec library's own error type: reported as a corrupt chunk
        raise CacheError(f"{where}: does not decompress ({type(exc).__name__})") from None


def decode_chunk(
    info: ArrayInfo,
    idx: tuple[int, ...],
    out: npt.NDArray[Any] | None = None,
    rows: tuple[int, int] | None = None,
    scratch: Scratch | None = None,
) -> npt.NDArray[Any]:
    """Read, checksum and decompress chunk ``idx`` (full chunk shape, edge chunks padded).

    Parameters
    ----------
    info
        The array.
    idx
        Chunk index.
    out
        C-contiguous, chunk shape, ``info.dtype``: receives the voxels instead of a new array.
    rows
        ``(z0, z1)``: only the chunk's slices ``[z0, z1)`` along the first axis are needed;
        a blosc chunk then decodes only the blocks that hold them (the rest of ``out`` is left
        as it was). ``None``: the whole chunk.
    scratch
        Reused buffers (:func:`take_scratch`); taken and handed back here when ``None``.

    Returns
    -------
    numpy.ndarray
        ``out`` (or a new array) of the chunk's shape and ``info.dtype``.

    Raises
    ------
    CacheError
        The chunk file is missing, its crc32c does not match, its header or block table does
        not fit the file, or it does not decompress to the chunk's size; the message names the
        series, array and chunk index.
    """
    own = scratch is None
    s = take_scratch(info) if scratch is None else scratch
    try:
        where = f"{info.where} chunk {idx}"
        body = read_chunk_file(info, idx, s.raw)
        dest = np.empty(info.chunks, dtype=info.dtype) if out is None else out
        flat = dest.reshape(-1).view(np.uint8)
        if info.compressor == "blosc":
            _decode_blosc(info, where, body, flat, rows, s)
        else:
            _decode_zstd(where, body, flat)
        return dest
    finally:
        if own:
            give_scratch(s)


def _decode_zstd(where: str, body: memoryview, dest: npt.NDArray[np.uint8]) -> None:
    from numcodecs import Zstd

    try:
        got = np.frombuffer(Zstd().decode(body), dtype=np.uint8)
    except Exception as exc:  # a codec library's own error type: reported as a corrupt chunk
        raise CacheError(f"{where}: does not decompress ({type(exc).__name__})") from None
    if got.size != dest.size:
        raise CacheError(f"{where}: decompressed to {got.size} bytes, expected {dest.size}")
    dest[:] = got


def read_box(info: ArrayInfo, start: tuple[int, ...], stop: tuple[int, ...]) -> npt.NDArray[Any]:
    """Read the box ``[start, stop)`` decoding only the chunks it overlaps (serially, in this thread)."""
    from fastmed.store.window import read_window

    return read_window(info, start, stop, threads=1)
