"""Geometry of one stack of slices: order along the normal, spacing, and every irregularity.

Spacing comes from ImagePositionPatient differences along the slice normal, never from
SliceThickness. Problems are plain sentences with a machine-readable kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fastmed.dicom.slice_info import SliceInfo

REL_TOL = 0.01  # relative spacing tolerance (DS strings carry ~1e-5 mm noise; scanners ~1e-3)
ABS_TOL_MM = 1e-3
TILT_TOL_DEG = 0.05


@dataclass(frozen=True)
class Problem:
    """One irregularity of a series: ``kind`` for code, ``message`` for people (no identifiers)."""

    kind: str
    message: str


@dataclass
class StackGeometry:
    """The analysed stack: slices in order and the grid they lie on."""

    slices: list[SliceInfo]
    offsets: npt.NDArray[np.float64]  # position of each slice along the normal, relative to the first
    spacing_z: float
    spacing_yx: tuple[float, float]
    origin: tuple[float, float, float]
    direction: npt.NDArray[np.float64]  # columns: x (row cosines), y (column cosines), z (normal)
    step: npt.NDArray[np.float64]  # mean patient-space step between consecutive slices
    problems: list[Problem] = field(default_factory=list)
    dropped_duplicates: int = 0

    @property
    def tilt_deg(self) -> float:
        """Angle between the slice step and the normal (gantry tilt / shear), degrees."""
        n = self.direction[:, 2]
        s = self.step
        norm = float(np.linalg.norm(s))
        if norm == 0:
            return 0.0
        return float(np.degrees(np.arccos(min(1.0, abs(float(s @ n)) / norm))))


def _cross3(o: tuple[float, ...]) -> npt.NDArray[np.float64]:
    """``np.cross(o[:3], o[3:])`` (the same products and differences) without its overhead."""
    a0, a1, a2, b0, b1, b2 = o
    return np.array([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], dtype=np.float64)


def _median(x: npt.NDArray[np.float64]) -> float:
    """``float(np.median(x))`` for a non-empty 1-d array: middle value, or the mean of the two middle ones."""
    s = np.sort(x)
    k = len(s)
    if np.isnan(s[-1]):  # sort puts NaN last; np.median gives NaN then
        return float("nan")
    return float(s[k // 2]) if k % 2 else float((s[k // 2 - 1] + s[k // 2]) / 2.0)


def analyse_stack(slices: Sequence[SliceInfo]) -> StackGeometry:
    """Sort slices along their normal and measure spacing, duplicates, gaps and tilt.

    Parameters
    ----------
    slices
        Slices of one orientation and size (see :func:`split_stacks`).
    """
    problems: list[Problem] = []
    first = slices[0]
    if first.orientation is None or first.position is None or first.pixel_spacing is None:
        missing = [
            name
            for name, v in (
                ("ImageOrientationPatient", first.orientation),
                ("ImagePositionPatient", first.position),
                ("PixelSpacing", first.pixel_spacing),
            )
            if v is None
        ]
        if len(slices) > 1:  # a lone projection image (CR/DX) needs no patient geometry
            problems.append(Problem("missing_geometry", f"geometry tags missing: {', '.join(missing)}"))
        sy, sx = first.pixel_spacing or (1.0, 1.0)
        return StackGeometry(
            slices=sorted(slices, key=lambda s: (s.instance_number or 0, s.frame)),
            offsets=np.arange(len(slices), dtype=np.float64),
            spacing_z=1.0,
            spacing_yx=(float(sy), float(sx)),
            origin=tuple(first.position or (0.0, 0.0, 0.0)),  # type: ignore[arg-type]
            direction=np.eye(3),
            step=np.array([0.0, 0.0, 1.0]),
            problems=problems,
        )
    r = np.asarray(first.orientation[:3], dtype=np.float64)
    c = np.asarray(first.orientation[3:], dtype=np.float64)
    n = _cross3(first.orientation)
    n /= np.linalg.norm(n)
    pos = np.array([s.position for s in slices], dtype=np.float64)
    d = pos @ n
    order = np.lexsort((np.array([s.frame for s in slices]), np.array([s.instance_number or 0 for s in slices]), d))
    ordered = [slices[i] for i in order.tolist()]
    d = d[order]
    pos = pos[order]

    # Duplicate positions: keep the first (lowest instance number) of each group.
    keep = [0]
    dup = 0
    dl = d.tolist()  # the same float64 values; Python floats index faster in this loop
    for i in range(1, len(dl)):
        if abs(dl[i] - dl[keep[-1]]) <= ABS_TOL_MM * 10:
            dup += 1
        else:
            keep.append(i)
    if dup:
        problems.append(Problem("duplicate_position", f"{dup} slice(s) share a position with another slice"))
    ordered = [ordered[i] for i in keep]
    d = d[keep]
    pos = pos[keep]

    diffs = np.diff(d)
    spacing = _median(diffs) if len(diffs) else float(first.slice_thickness or 1.0)
    if len(diffs):
        tol = max(REL_TOL * spacing, ABS_TOL_MM)
        off = np.abs(diffs - spacing) > tol
        if off.any():
            ratio = diffs / spacing
            k = np.rint(ratio)
            gaps = off & (k >= 2) & (np.abs(ratio - k) <= 0.1)
            if gaps.any():
                n_missing = int((k[gaps] - 1).sum())
                where = ", ".join(f"after slice {int(i)}" for i in np.flatnonzero(gaps)[:5])
                problems.append(Problem("missing_slice", f"{n_missing} slice(s) missing ({where})"))
            other = off & ~gaps
            if other.any():
                problems.append(
                    Problem(
                        "nonuniform_spacing",
                        f"slice spacing varies from {diffs.min():.4g} to {diffs.max():.4g} mm "
                        f"(median {spacing:.4g} mm)",
                    )
                )
    step = (pos[-1] - pos[0]) / max(1, len(pos) - 1) if len(pos) > 1 else n * spacing
    geo = StackGeometry(
        slices=ordered,
        offsets=d - d[0],
        spacing_z=spacing if spacing > 0 else 1.0,
        spacing_yx=(float(first.pixel_spacing[0]), float(first.pixel_spacing[1])),
        origin=tuple(float(v) for v in pos[0]),  # type: ignore[arg-type]
        direction=np.stack([r, c, n], axis=1),
        step=step,
        problems=problems,
        dropped_duplicates=dup,
    )
    tilt = geo.tilt_deg
    if len(pos) > 1 and tilt > TILT_TOL_DEG:
        problems.append(Problem("gantry_tilt", f"slices are sheared by {tilt:.2f} degrees (gantry tilt)"))
    return geo


def stack_key(s: SliceInfo) -> tuple[object, ...]:
    """Slices stack together when orientation, size and pixel spacing agree."""
    o = tuple(np.round(s.orientation, 4)) if s.orientation is not None else None
    ps = tuple(np.round(s.pixel_spacing, 4)) if s.pixel_spacing is not None else None
    return (o, s.rows, s.columns, ps, s.samples_per_pixel)


def _rounded(values: list[tuple[float, ...] | None], width: int) -> list[tuple[float, ...] | None]:
    """``tuple(np.round(v, 4))`` of every value (None kept), in one numpy call."""
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    rows = iter(np.round(np.array(present, dtype=np.float64).reshape(len(present), width), 4).tolist())
    return [tuple(next(rows)) if v is not None else None for v in values]


def _stack_keys(slices: Sequence[SliceInfo]) -> list[tuple[object, ...]]:
    """:func:`stack_key` of every slice, rounding all of them at once (same keys)."""
    f = slices[0]
    if all(
        s.orientation == f.orientation
        and s.pixel_spacing == f.pixel_spacing
        and s.rows == f.rows
        and s.columns == f.columns
        and s.samples_per_pixel == f.samples_per_pixel
        for s in slices
    ):  # the usual series: equal values, equal keys (rounded once)
        return [stack_key(f)] * len(slices)
    orient = _rounded([s.orientation for s in slices], 6)
    spacing = _rounded([s.pixel_spacing for s in slices], 2)
    return [(o, s.rows, s.columns, ps, s.samples_per_pixel) for s, o, ps in zip(slices, orient, spacing, strict=True)]


def _localizers(slices: Sequence[SliceInfo]) -> list[bool]:
    """``s.is_localizer`` of every slice, computed once per distinct ImageType."""
    seen: dict[tuple[str, ...], bool] = {}
    out = []
    for s in slices:
        t = s.image_type
        hit = seen.get(t)
        if hit is None:
            hit = seen[t] = s.is_localizer
        out.append(hit)
    return out


def split_stacks(slices: Sequence[SliceInfo]) -> tuple[list[SliceInfo], list[Problem], list[Problem]]:
    """Split a series into its main stack and the rest.

    Returns the main stack, the problems that make the series irregular (a second
    multi-slice stack of another orientation or size), and notes (localizers split off).
    """
    is_loc = _localizers(slices)
    n_loc = sum(is_loc)
    rest = [s for s, loc in zip(slices, is_loc, strict=True) if not loc] if n_loc < len(slices) else list(slices)
    groups: dict[tuple[object, ...], list[SliceInfo]] = {}
    first_key: dict[int, tuple[object, ...]] = {}
    for s, key in zip(rest, _stack_keys(rest), strict=True):
        g = groups.setdefault(key, [])
        if not g:
            first_key[id(g)] = key
        g.append(s)
    ranked = sorted(groups.values(), key=len, reverse=True)
    main = ranked[0]
    problems: list[Problem] = []
    notes: list[Problem] = []
    if n_loc:  # also when every image is one (then they are the stack): as before
        notes.append(Problem("localizer", f"{n_loc} localizer image(s) split off"))
    k_main = first_key[id(main)]
    for other in ranked[1:]:
        k_other = first_key[id(other)]
        if len(other) == 1 and k_other[0] != k_main[0]:
            notes.append(Problem("localizer", "1 image of another orientation split off (localizer)"))
        elif k_other[0] != k_main[0]:
            problems.append(Problem("mixed_orientation", f"{len(other)} slice(s) have another orientation"))
        else:
            problems.append(Problem("mixed_size", f"{len(other)} slice(s) have another size or pixel spacing"))
    return main, problems, notes


def rescale_problem(slices: Sequence[SliceInfo]) -> Problem | None:
    """A problem when slices disagree on RescaleSlope/Intercept."""
    pairs = {(s.rescale_slope, s.rescale_intercept) for s in slices}
    if len(pairs) > 1:
        return Problem("inconsistent_rescale", f"{len(pairs)} different rescale slope/intercept pairs")
    return None


def assess_series(slices: Sequence[SliceInfo]) -> tuple[StackGeometry, list[Problem], list[Problem]]:
    """The main stack's geometry, every problem that makes the series irregular, and the notes.

    What both the index (one manifest row) and ``read_series`` (one volume) decide from.
    """
    main, problems, notes = split_stacks(slices)
    geo = analyse_stack(main)
    problems += geo.problems
    rp = rescale_problem(geo.slices)
    if rp is not None:
        problems.append(rp)
    return geo, problems, notes
