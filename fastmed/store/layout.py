"""The store layout: format version, names of groups/arrays/files, chunk shapes and codecs.

Everything that fixes how a store looks on disk lives here (see ``docs/store_format.md``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Cname = Literal["lz4", "lz4hc", "blosclz", "snappy", "zlib", "zstd"]
Shuffle = Literal["noshuffle", "shuffle", "bitshuffle"]

FORMAT_VERSION = 1
"""Version of the store layout; written as the root attribute ``format_version``."""

IMAGE = "image"
LABEL = "label"
TABLE = "series.parquet"
TMP_DIR = ".fastmed-tmp"
ATTR = "fastmed"
"""Group attribute holding a series' record (geometry, ids, statistics, source hash)."""

CHUNK_3D = (128, 32, 32)
"""Chunk shape of 3D arrays (z, y, x), chosen by ``bench/store_window_cost.py`` (docs/store_format.md)."""


@dataclass(frozen=True)
class Codec:
    """Compression of every chunk (crc32c is always appended after it).

    Parameters
    ----------
    name
        ``"blosc"`` or ``"zstd"``.
    cname
        Blosc inner compressor (``"lz4"``, ``"zstd"``); ignored for ``"zstd"``.
    level
        Compression level.
    shuffle
        Blosc filter: ``"shuffle"`` (bytes), ``"bitshuffle"`` or ``"noshuffle"``.
    blocksize
        Blosc block size in bytes (``0``: blosc's choice). Blocks are compressed apart, so a
        read that needs some z-slices of a chunk decodes only the blocks holding them. With
        ``split`` c-blosc makes blocks of at least 64 KiB, and of the size times the item size
        for lz4 (``32768`` gives 64 KiB, 32 slices of a 32×32 int16 chunk).
    split
        Let c-blosc split blocks per byte of an item (its default). ``False``: blocks of exactly
        ``blocksize`` (:mod:`fastmed.store.blosc_unsplit`; same ``zarr.json``, any blosc decoder
        reads them).
    """

    name: str = "blosc"
    cname: Cname = "lz4"
    level: int = 5
    shuffle: Shuffle = "shuffle"
    blocksize: int = 0
    split: bool = True

    def __post_init__(self) -> None:
        if self.name not in ("blosc", "zstd"):
            raise ValueError(f"codec must be 'blosc' or 'zstd', got {self.name!r}")
        if self.blocksize < 0:
            raise ValueError(f"blocksize must be >= 0, got {self.blocksize}")

    def __repr__(self) -> str:
        # The dataclass repr, ``split`` named only when off: stores' source hashes (fingerprint.py) hold the
        # repr, and those of codecs from before the field existed stay the same.
        head = f"Codec(name={self.name!r}, cname={self.cname!r}, level={self.level!r}, shuffle={self.shuffle!r}"
        return f"{head}, blocksize={self.blocksize!r}{'' if self.split else ', split=False'})"

    @property
    def unsplit(self) -> bool:
        """Whether chunks are encoded with :class:`fastmed.store.blosc_unsplit.UnsplitBloscCodec`."""
        return self.name == "blosc" and not self.split

    def zarr_codecs(self) -> list[Any]:
        """The zarr v3 bytes-to-bytes codecs: the compressor, then the crc32c checksum."""
        from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

        comp: Any
        if self.name == "blosc":
            from fastmed.store.blosc_unsplit import UnsplitBloscCodec

            cls = UnsplitBloscCodec if self.unsplit else BloscCodec
            comp = cls(cname=self.cname, clevel=self.level, shuffle=self.shuffle, blocksize=self.blocksize)
        else:
            comp = ZstdCodec(level=self.level)
        return [comp, Crc32cCodec()]


DEFAULT_CODEC = Codec("blosc", "lz4", 5, "bitshuffle", blocksize=16384, split=False)
"""lz4 + bitshuffle in unsplit 16 KiB blocks: 8 z-slices of a (128, 32, 32) int16 chunk (``docs/store_format.md``)."""


def chunks_for(shape: tuple[int, ...], chunk_3d: tuple[int, int, int] = CHUNK_3D) -> tuple[int, ...]:
    """Chunk shape for an array: 2D images (and single slices) are one chunk, 3D uses ``chunk_3d``."""
    if len(shape) == 2 or (len(shape) == 3 and shape[0] == 1):
        return tuple(max(1, s) for s in shape)
    return tuple(max(1, min(c, s)) for c, s in zip(chunk_3d, shape, strict=True))


def series_dir(store: str | os.PathLike[str], series_id: str) -> Path:
    """Folder of a published series group."""
    return Path(store) / series_id


def tmp_root(store: str | os.PathLike[str]) -> Path:
    """Folder holding series being written (removed on the next run if a crash left any)."""
    return Path(store) / TMP_DIR
