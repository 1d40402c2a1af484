"""``fastmed verify``: read every chunk of a store, check crc32c, shapes and the table."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from fastmed.dicom import _pool
from fastmed.errors import CacheError
from fastmed.store import layout
from fastmed.store.chunks import ArrayInfo, array_info, decode_chunk
from fastmed.store.publish import read_record


@dataclass(frozen=True)
class BadChunk:
    """A chunk that failed its check: series id, array name, chunk index and reason."""

    series_id: str
    array: str
    chunk: tuple[int, ...]
    reason: str

    def __str__(self) -> str:
        return f"series {self.series_id} {self.array} chunk {self.chunk}: {self.reason}"


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`."""

    store: str
    series: int = 0
    chunks: int = 0
    bad_chunks: list[BadChunk] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # table / metadata problems
    notes: list[str] = field(default_factory=list)  # harmless findings

    @property
    def ok(self) -> bool:
        """True when no chunk and no table entry is bad."""
        return not self.bad_chunks and not self.problems

    def __str__(self) -> str:
        head = f"{self.store}: {self.series} series, {self.chunks} chunks checked, "
        head += "OK" if self.ok else f"{len(self.bad_chunks)} corrupt chunk(s), {len(self.problems)} problem(s)"
        return "\n".join([head] + [f"  {b}" for b in self.bad_chunks] + [f"  {p}" for p in self.problems])


def _check_chunk(info: ArrayInfo, idx: tuple[int, ...]) -> str | None:
    try:
        decode_chunk(info, idx)
    except CacheError as exc:
        return str(exc).rsplit(": ", 1)[-1]
    return None


def verify(store: str | os.PathLike[str], threads: int | None = None) -> VerifyReport:
    """Check a store: every chunk of every array (crc32c, size), shapes, and the table against the groups.

    Parameters
    ----------
    store
        The store folder.
    threads
        Threads reading chunks (default: the CPU affinity).

    Returns
    -------
    VerifyReport
        ``ok`` is False when any chunk or table entry is bad; ``bad_chunks`` lists each corrupt
        chunk by series id, array and chunk index.
    """
    import zarr

    from fastmed.store.table import read_table

    p = Path(store)
    rep = VerifyReport(store=str(p))
    try:
        attrs = zarr.open_group(str(p), mode="r").attrs.asdict()
    except Exception as exc:  # zarr raises several types for a missing or broken root
        rep.problems.append(f"root group unreadable ({type(exc).__name__})")
        return rep
    if attrs.get("format_version") != layout.FORMAT_VERSION:
        rep.problems.append(f"format_version {attrs.get('format_version')}, expected {layout.FORMAT_VERSION}")
        return rep
    try:
        rows = read_table(p)
    except CacheError as exc:
        rep.problems.append(str(exc))
        return rep
    work: list[tuple[str, str, ArrayInfo, tuple[int, ...]]] = []
    for row in rows:
        sid = row["series_id"]
        rec = read_record(layout.series_dir(p, sid))
        if rec is None:
            rep.problems.append(f"series {sid}: in the table but its group is missing or unreadable")
            continue
        if rec.get("source_hash") != row["source_hash"]:
            rep.problems.append(f"series {sid}: group and table disagree (source hash)")
        rep.series += 1
        for name, rel in ((layout.IMAGE, row["image"]), (layout.LABEL, row["label"])):
            if not rel:
                continue
            try:
                info = array_info(p / rel, f"series {sid} {name}")
            except CacheError as exc:
                rep.problems.append(str(exc))
                continue
            if list(info.shape) != list(row["shape"]):
                rep.problems.append(f"series {sid} {name}: shape {info.shape} differs from the table {row['shape']}")
            work += [(sid, name, info, idx) for idx in info.all_chunks()]
    reasons = _pool.map_chunks(lambda w: _check_chunk(w[2], w[3]), work, threads)
    rep.chunks = len(work)
    for (sid, name, _info, idx), why in zip(work, reasons, strict=True):
        if why is not None:
            rep.bad_chunks.append(BadChunk(sid, name, idx, why))
    listed = {r["series_id"] for r in rows}
    extra = [d.name for d in p.iterdir() if d.is_dir() and (d / "zarr.json").exists() and d.name not in listed]
    if extra:
        rep.notes.append(f"{len(extra)} series group(s) not in the table (from another manifest): {', '.join(extra)}")
    if layout.tmp_root(p).exists():
        rep.notes.append("temporary groups of an unfinished conversion are present (removed by the next convert)")
    return rep
