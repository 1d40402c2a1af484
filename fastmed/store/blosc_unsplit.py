"""Blosc chunks whose blocks have the size asked for: c-blosc 1.x encoding with block splitting off.

A window read decodes whole blosc blocks (:mod:`fastmed.store.native_read`), so smaller blocks
decode fewer bytes a footprint never samples. c-blosc 1.x (``compute_blocksize`` in its
``blosc.c``) honours a forced block size only for codecs it does not split: for a split codec
(lz4, blosclz, snappy, zlib with an item size up to 16 under the default "forward compatible"
split mode) it multiplies the size by the item size and raises it to at least 64 KiB. For int16
chunks of ``(128, 32, 32)`` that makes 32-slice blocks, whatever was asked.

:class:`UnsplitBloscCodec` is zarr's :class:`~zarr.codecs.BloscCodec` (same ``zarr.json``
metadata, same decoding) whose encoder runs c-blosc with split mode ``NEVER``: blocks of the
asked size, the ``dont_split`` flag set in every chunk header. Any blosc 1.x or 2.x decoder
(zarr-python, numcodecs, imagecodecs, the native reader) reads such chunks: the flag is part of
the blosc format. It uses the c-blosc that imagecodecs ships (the one the native reader decodes
with); without one it encodes like zarr (split blocks: still valid, only larger).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from zarr.codecs import BloscCodec

if TYPE_CHECKING:
    from zarr.core.array_spec import ArraySpec
    from zarr.core.buffer import Buffer

QUALNAME = f"{__name__}.UnsplitBloscCodec"
_NEVER_SPLIT = 2  # c-blosc's BLOSC_NEVER_SPLIT
_OVERHEAD = 16  # BLOSC_MAX_OVERHEAD: the header a stored (incompressible) chunk adds
_SHUFFLE = {"noshuffle": 0, "shuffle": 1, "bitshuffle": 2}


@functools.lru_cache(maxsize=1)
def _compress() -> Any | None:
    """c-blosc's ``blosc_compress_ctx`` with the library's split mode set to ``NEVER``, or ``None``."""
    from fastmed.store.native_read import blosc_library

    lib = blosc_library()
    if lib is None:
        return None
    try:
        lib.blosc_set_splitmode(ctypes.c_int(_NEVER_SPLIT))
        fn = lib.blosc_compress_ctx
    except AttributeError:  # a c-blosc older than 1.17
        return None
    fn.restype = ctypes.c_int
    fn.argtypes = [
        ctypes.c_int,  # clevel
        ctypes.c_int,  # doshuffle
        ctypes.c_size_t,  # typesize
        ctypes.c_size_t,  # nbytes
        ctypes.c_void_p,  # src
        ctypes.c_void_p,  # dest
        ctypes.c_size_t,  # destsize
        ctypes.c_char_p,  # compressor
        ctypes.c_size_t,  # blocksize
        ctypes.c_int,  # numinternalthreads
    ]
    return fn


class UnsplitBloscCodec(BloscCodec):
    """:class:`zarr.codecs.BloscCodec` encoding with c-blosc's block splitting off (see the module docstring)."""

    def _encode_sync(self, chunk_bytes: Buffer, chunk_spec: ArraySpec) -> Buffer | None:
        fn = _compress()
        if fn is None:
            return super()._encode_sync(chunk_bytes, chunk_spec)
        src = np.ascontiguousarray(chunk_bytes.as_numpy_array()).view(np.uint8).reshape(-1)
        dest = np.empty(src.nbytes + _OVERHEAD, dtype=np.uint8)
        shuffle = _SHUFFLE[getattr(self.shuffle, "value", str(self.shuffle))]
        cname = getattr(self.cname, "value", str(self.cname)).encode()
        n = fn(
            int(self.clevel),
            shuffle,
            int(self.typesize or 1),
            src.nbytes,
            src.ctypes.data,
            dest.ctypes.data,
            dest.nbytes,
            cname,
            int(self.blocksize),
            1,
        )
        if n <= 0:  # cannot happen with room for a stored chunk; zarr's encoder then says why
            return super()._encode_sync(chunk_bytes, chunk_spec)
        return chunk_spec.prototype.buffer.from_bytes(dest[:n].tobytes())


@contextlib.contextmanager
def encoding(unsplit: bool) -> Iterator[None]:
    """Arrays zarr opens inside encode ``blosc`` chunks with :class:`UnsplitBloscCodec` (when ``unsplit``)."""
    if not unsplit:
        yield
        return
    import zarr
    from zarr.registry import register_codec

    register_codec("blosc", UnsplitBloscCodec, qualname=QUALNAME)
    with zarr.config.set({"codecs.blosc": QUALNAME}):
        yield
