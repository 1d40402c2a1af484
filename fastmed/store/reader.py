"""Reading a store: its table, whole arrays or boxes of them, crc32c checked chunk by chunk."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import CacheError
from fastmed.store import layout
from fastmed.store.chunks import ArrayInfo, array_info, read_box
from fastmed.volume import Volume


class Store:
    """An open fastmed store (read-only).

    Parameters
    ----------
    path
        The store folder written by :func:`fastmed.convert`.

    Raises
    ------
    CacheError
        Not a fastmed store, another format version, or an unreadable table.
    """

    def __init__(self, path: str | os.PathLike[str]):
        import json

        from fastmed.store.table import read_table

        self.path = Path(path)
        try:
            root = json.loads((self.path / "zarr.json").read_text())
        except (OSError, ValueError):
            raise CacheError(f"{self.path}: not a fastmed store (no readable zarr.json)") from None
        version = root.get("attributes", {}).get("format_version")
        if version != layout.FORMAT_VERSION:
            raise CacheError(f"{self.path}: store format version {version}, expected {layout.FORMAT_VERSION}")
        self.rows = read_table(self.path)
        self._by_id = {r["series_id"]: r for r in self.rows}
        self._infos: dict[tuple[str, str], ArrayInfo] = {}

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        """Keyed series ids, in table order."""
        return [r["series_id"] for r in self.rows]

    def row(self, series_id: str) -> dict[str, Any]:
        """The table row of a series."""
        try:
            return self._by_id[series_id]
        except KeyError:
            raise CacheError(f"{self.path}: series {series_id} is not in the store") from None

    def info(self, series_id: str, array: str = layout.IMAGE) -> ArrayInfo:
        """Metadata of ``image`` or ``label`` of a series (cached)."""
        key = (series_id, array)
        if key not in self._infos:
            rel = self.row(series_id)[array]
            if not rel:
                raise CacheError(f"series {series_id} has no {array} array")
            self._infos[key] = array_info(self.path / rel, f"series {series_id} {array}")
        return self._infos[key]

    def read(
        self,
        series_id: str,
        array: str = layout.IMAGE,
        start: tuple[int, ...] | None = None,
        stop: tuple[int, ...] | None = None,
    ) -> npt.NDArray[Any]:
        """Read a whole array, or the box ``[start, stop)``, decoding only the chunks it overlaps.

        Raises
        ------
        CacheError
            A chunk is missing or corrupt; the message names the series, array and chunk index.
        """
        info = self.info(series_id, array)
        return read_box(info, start or (0,) * len(info.shape), stop or info.shape)

    def volume(self, series_id: str) -> Volume:
        """The image as a :class:`~fastmed.Volume` with the stored geometry and non-identifying meta."""
        r = self.row(series_id)
        meta = {k: r[k] for k in ("series_id", "study_id", "modality", "classes", "report")}
        meta["stats"] = {k: r[k] for k in ("p0_5", "p99_5", "mean", "std", "min", "max")}
        return Volume(
            self.read(series_id),
            tuple(r["spacing"]),
            tuple(r["origin"]),
            np.asarray(r["direction"], dtype=np.float64).reshape(3, 3),
            meta,
        )


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open a store written by :func:`fastmed.convert` for reading."""
    return Store(path)
