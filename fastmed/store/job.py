"""A series conversion job: everything a Dask worker needs, with no patient-identifying value."""

from __future__ import annotations

from dataclasses import dataclass

from fastmed.store.annotations import SeriesAnnotation
from fastmed.store.layout import Codec


@dataclass(frozen=True)
class SeriesJob:
    """One series to (re)write into the store.

    ``paths`` are absolute file paths in slice order; they travel to the worker only and are
    never written into the store.
    """

    series_id: str
    study_id: str
    modality: str
    paths: tuple[str, ...]
    shape: tuple[int, int, int]
    store: str
    source_hash: str
    annotation: SeriesAnnotation
    chunk_3d: tuple[int, int, int]
    codec: Codec

    def slabs(self, slab: int) -> list[tuple[int, int]]:
        """Chunk-aligned z ranges for split writing, or ``[]`` when the series is written whole.

        A series is split when it has one file per slice and more than ``slab`` slices; slab
        borders fall on chunk borders so that no two writers touch one chunk.
        """
        nz = self.shape[0]
        if slab <= 0 or nz <= slab or len(self.paths) != nz:
            return []
        step = max(self.chunk_3d[0], slab - slab % self.chunk_3d[0])
        edges = list(range(0, nz, step)) + [nz]
        return list(zip(edges[:-1], edges[1:], strict=True))
