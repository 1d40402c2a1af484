"""Test helper: a zarr v3 array written by zarr-python with the store's codec chain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fastmed.store.layout import DEFAULT_CODEC, Codec


def write_array(path: Path, data: np.ndarray[Any, Any], chunks: tuple[int, ...], codec: Codec = DEFAULT_CODEC) -> Path:
    """A zarr v3 array (bytes, blosc or zstd, crc32c) holding ``data``, every chunk stored."""
    import zarr

    arr = zarr.create_array(
        str(path),
        shape=data.shape,
        dtype=data.dtype,
        chunks=chunks,
        compressors=codec.zarr_codecs(),
        fill_value=0,
        config={"write_empty_chunks": True},
    )
    arr[...] = data
    return path


def count_decodes(monkeypatch: Any) -> list[tuple[int, ...]]:
    """Record the index of every chunk the window reader decodes, natively or in Python (filled as reads go)."""
    from fastmed.store import window

    seen: list[tuple[int, ...]] = []
    real = window._chunks.decode_chunk

    def counting(i: Any, idx: tuple[int, ...], *rest: Any) -> Any:
        seen.append(idx)
        return real(i, idx, *rest)

    monkeypatch.setattr(window._chunks, "decode_chunk", counting)
    real_chunks = window._native.read_chunks

    def counting_chunks(i: Any, idx: Any, *rest: Any) -> Any:
        seen.extend(tuple(r) for r in idx.tolist())
        return real_chunks(i, idx, *rest)

    monkeypatch.setattr(window._native, "read_chunks", counting_chunks)
    monkeypatch.setattr(window._native, "RECORD", seen)  # reads planned natively record what they open
    return seen
