"""Edge cases injected into chosen series, each recorded exactly as done.

Geometry edge cases (``gantry_tilt``, ``nonuniform_spacing``) change a series' grid before
lesions are drawn; file edge cases (``missing_slice``, ``duplicate_slice``, ``localizer``,
``shuffled_names``, ``mixed_series``) change which files exist, what they are named and where.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fastmed.rng import KeyedRNG
from fastmed.synth.geometry import SeriesGeometry, centred_geometry
from fastmed.synth.keys import Purpose, make_uid, rng_for
from fastmed.synth.plan import SeriesPlan, StudyPlan

EDGE_CASES = (
    "missing_slice",
    "duplicate_slice",
    "shuffled_names",
    "gantry_tilt",
    "localizer",
    "mixed_series",
    "nonuniform_spacing",
)
"""Names accepted by ``generate_archive(edge_cases=...)`` and ``fastmed synth --edge-case``."""

_NAME_EDGE = {name: i for i, name in enumerate(EDGE_CASES)}


@dataclass(eq=False)
class FileEntry:
    """One file to write: which slice it shows, its instance number and UID, and its name."""

    kind: str  # "slice", "duplicate" or "localizer"
    slice_index: int  # -1 for the localizer
    instance_number: int
    sop_uid: str
    position: tuple[float, float, float]
    path: str = ""


def _rng(seed: int, s: SeriesPlan, name: str, item: int = 0) -> KeyedRNG:
    return rng_for(seed, s.study, Purpose.EDGE, s.index, item=_NAME_EDGE[name] * 16 + item)


def assign_edge_cases(seed: int, studies: Sequence[StudyPlan], names: Sequence[str]) -> None:
    """Pick a series for each edge case and apply the geometry ones.

    Each edge case goes to the first compatible CT/MR series that has none yet (gantry tilt
    prefers an axial CT series); when all have one, the least-loaded compatible series.

    Raises
    ------
    ValueError
        For an unknown name, or when the archive has no CT/MR series to carry it.
    """
    volumes = [s for st in studies for s in st.series if s.is_volume]
    for name in names:
        if name not in _NAME_EDGE:
            raise ValueError(f"unknown edge case {name!r}; choose from {list(EDGE_CASES)}")
        cands = [s for s in volumes if s.edge(name) is None]
        if name == "gantry_tilt":
            cands = sorted(cands, key=lambda s: (s.modality != "CT", s.index != 0))
        if name == "mixed_series":
            by_study = {st.index: st for st in studies}
            cands = [s for s in cands if not any(o.edge("mixed_series") for o in by_study[s.study].series)]
        if not cands:
            raise ValueError(f"edge case {name!r} needs a CT or MR series that does not carry it yet")
        free = [s for s in cands if not s.edge_cases]
        target = free[0] if free else min(cands, key=lambda s: len(s.edge_cases))
        record: dict[str, object] = {"name": name}
        target.edge_cases.append(record)
        if name == "gantry_tilt":
            _tilt(seed, target, record)
        elif name == "nonuniform_spacing":
            _nonuniform(target, record)
        elif name == "mixed_series":
            study = next(st for st in studies if st.index == target.study)
            other = next(o for o in study.series if o is not target)
            target.folder = other.folder
            record.update(folder=other.folder, shared_with_series=other.index)


def _tilt(seed: int, s: SeriesPlan, record: dict[str, object]) -> None:
    g = s.geometry
    rng = _rng(seed, s, "gantry_tilt")
    tilt = float(rng.uniform(10.0, 25.0)) * (1.0 if rng.bernoulli(0.5) else -1.0)
    t = np.deg2rad(tilt)
    centre = g.origin + 0.5 * (
        g.offsets[-1] * g.step_dir
        + (g.shape[1] - 1) * g.spacing[1] * g.col_dir
        + (g.shape[2] - 1) * g.spacing[2] * g.row_dir
    )
    # The gantry tilts the image plane about patient x while the table still moves along z.
    s.geometry = centred_geometry(
        centre,
        g.shape,
        g.spacing,
        np.array([1.0, 0.0, 0.0]),
        np.array([0.0, np.cos(t), np.sin(t)]),
        step_dir=np.array([0.0, 0.0, 1.0]),
    )
    s.extra["GantryDetectorTilt"] = round(tilt, 4)
    record.update(
        tilt_deg=round(tilt, 4),
        step_direction=[0.0, 0.0, 1.0],
        normal=[float(v) for v in s.geometry.normal],
        spacing_along_normal=float(g.spacing[0] * np.cos(t)),
    )


def _nonuniform(s: SeriesPlan, record: dict[str, object]) -> None:
    g = s.geometry
    nz, dz = g.shape[0], g.spacing[0]
    m = nz // 2
    steps = np.where(np.arange(1, nz) < m, dz, 1.5 * dz)
    offsets = np.concatenate([[0.0], np.cumsum(steps)])
    s.geometry = g.with_offsets(offsets)
    record.update(from_index=m, spacing_before=dz, spacing_after=1.5 * dz, offsets_mm=[float(o) for o in offsets])


def localizer_geometry(g: SeriesGeometry) -> SeriesGeometry:
    """Return a scout plane through the series centre with the series' rows and columns.

    Frontal (coronal) unless the series itself is close to coronal, then sagittal, so the
    localizer's orientation always differs from the series'.
    """
    centre = g.origin + 0.5 * (
        g.offsets[-1] * g.step_dir
        + (g.shape[1] - 1) * g.spacing[1] * g.col_dir
        + (g.shape[2] - 1) * g.spacing[2] * g.row_dir
    )
    extent = max(g.offsets[-1], (g.shape[1] - 1) * g.spacing[1], (g.shape[2] - 1) * g.spacing[2])
    _, ny, nx = g.shape
    coronal = abs(float(g.normal[1])) > 0.7
    row = np.array([0.0, 1.0, 0.0]) if coronal else np.array([1.0, 0.0, 0.0])
    return centred_geometry(
        centre, (1, ny, nx), (1.0, 1.1 * extent / ny, 1.1 * extent / nx), row, np.array([0.0, 0.0, -1.0])
    )


def build_entries(seed: int, s: SeriesPlan) -> list[FileEntry]:
    """Return the files of a series before naming, applying missing/duplicate/localizer edge cases."""
    g = s.geometry
    nz = g.shape[0]

    def inst(k: int) -> int:
        return k + 1 if s.instance_order == "ascending" else nz - k

    def pos(k: int) -> tuple[float, float, float]:
        p = g.position(k)
        return float(p[0]), float(p[1]), float(p[2])

    def sop(*parts: object) -> str:
        return str(make_uid(seed, s.study, "sop", s.index, *parts))

    entries = [FileEntry("slice", k, inst(k), sop(k), pos(k)) for k in range(nz)]
    rec = s.edge("missing_slice")
    if rec is not None:
        k = int(_rng(seed, s, "missing_slice").integers(2, max(3, nz - 2)))
        gone = entries.pop(k)
        rec.update(
            removed_index=k,
            removed_instance_number=gone.instance_number,
            removed_position=list(gone.position),
        )
    rec = s.edge("duplicate_slice")
    if rec is not None:
        k = int(_rng(seed, s, "duplicate_slice").integers(2, max(3, nz - 2)))
        dup = FileEntry("duplicate", k, nz + 1, sop("duplicate", k), pos(k))
        entries.append(dup)
        rec.update(duplicated_index=k, instance_number=dup.instance_number)
    rec = s.edge("localizer")
    if rec is not None:
        lg = localizer_geometry(g)
        p = lg.position(0)
        entries.append(FileEntry("localizer", -1, 0, sop("localizer"), (float(p[0]), float(p[1]), float(p[2]))))
        rec.update(orientation=[*map(float, lg.row_dir), *map(float, lg.col_dir)], instance_number=0)
    return entries


def assign_names(seed: int, series: Sequence[SeriesPlan], entries: dict[int, list[FileEntry]]) -> None:
    """Name files ``IM_####.dcm`` per folder in instance order; shuffle where asked.

    ``entries`` maps ``id(series)`` to its files. Two series sharing a folder (mixed_series)
    are numbered one after the other.
    """
    folders: dict[str, list[SeriesPlan]] = {}
    for s in series:
        folders.setdefault(s.folder, []).append(s)
    for folder, members in folders.items():
        ordered: list[tuple[SeriesPlan, FileEntry]] = []
        for s in sorted(members, key=lambda m: m.index):
            ordered += [(s, e) for e in sorted(entries[id(s)], key=lambda e: (e.instance_number, e.kind))]
        names = [f"{folder}/IM_{i + 1:04d}.dcm" for i in range(len(ordered))]
        for s in members:
            rec = s.edge("shuffled_names")
            if rec is None:
                continue
            slots = [i for i, (o, _) in enumerate(ordered) if o is s]
            perm = np.argsort(np.asarray(_rng(seed, s, "shuffled_names").random(len(slots))))
            if np.array_equal(perm, np.arange(len(slots))):
                perm = np.roll(perm, 1)  # a shuffle that changes nothing would test nothing
            picked = [names[slots[int(p)]] for p in perm]
            for slot, name in zip(slots, picked, strict=True):
                names[slot] = name
        for (_, e), name in zip(ordered, names, strict=True):
            e.path = name
