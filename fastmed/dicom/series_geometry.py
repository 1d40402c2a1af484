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
SAME_ORIENTATION_DEG = 0.05  # orientations closer than this are one orientation (DS rounding)
KEEP_TILTED_DEG = 10.0  # slices rotated less than this stay in the stack, as a mixed_orientation problem
LOCALIZER_MIN_DEG = 45.0  # a lone image at least this far off the stack's plane is taken for a scout


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
    # Any slice without geometry makes the stack's order and spacing unknowable, not just the first.
    lacking = [s for s in slices if s.orientation is None or s.position is None or s.pixel_spacing is None]
    if lacking:
        missing = [
            name
            for name, attr in (
                ("ImageOrientationPatient", "orientation"),
                ("ImagePositionPatient", "position"),
                ("PixelSpacing", "pixel_spacing"),
            )
            if any(getattr(s, attr) is None for s in lacking)
        ]
        if len(slices) > 1:  # a lone projection image (CR/DX) needs no patient geometry
            problems.append(
                Problem(
                    "missing_geometry",
                    f"geometry tags missing in {len(lacking)} of {len(slices)} slice(s): {', '.join(missing)}",
                )
            )
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
    # No slice lacks geometry from here on (narrowing for the type checker).
    assert first.orientation is not None and first.pixel_spacing is not None
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


def _orientation_angle_deg(a: SliceInfo, b: SliceInfo) -> float | None:
    """Largest angle between the row cosines and between the column cosines of two slices, degrees."""
    if a.orientation is None or b.orientation is None:
        return None
    oa = np.asarray(a.orientation, dtype=np.float64).reshape(2, 3)
    ob = np.asarray(b.orientation, dtype=np.float64).reshape(2, 3)
    norms = np.linalg.norm(oa, axis=1) * np.linalg.norm(ob, axis=1)
    if not np.all(norms > 0):
        return None
    cos = np.clip(np.sum(oa * ob, axis=1) / norms, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).max())


def _normal_angle_deg(a: SliceInfo, b: SliceInfo) -> float | None:
    """Angle between the slice planes of two slices (0 to 90 degrees)."""
    na, nb = a.normal, b.normal
    if na is None or nb is None:
        return None
    return float(np.degrees(np.arccos(min(1.0, abs(float(na @ nb))))))


def split_stacks(slices: Sequence[SliceInfo]) -> tuple[list[SliceInfo], list[Problem], list[Problem]]:
    """Split a series into its main stack and the rest.

    Returns the main stack, the problems that make the series irregular, and notes. Images
    whose ImageType says LOCALIZER, and a lone single-frame image at least
    ``LOCALIZER_MIN_DEG`` off the plane of a multi-slice stack (a scout without the
    ImageType value), are split off as localizers (notes). Slices of the main stack's size
    whose orientation differs from it by less than ``SAME_ORIENTATION_DEG`` are the same
    orientation up to value noise; by less than ``KEEP_TILTED_DEG`` (derived, resampled or
    MPR frames, each slightly rotated), they stay in the stack and the series is irregular
    (``mixed_orientation``). Any other stack of another orientation or size is an
    irregularity too (``mixed_orientation`` / ``mixed_size``), left out of the main stack.
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
    ref = main[0]
    kept: list[SliceInfo] = []
    tilted = 0
    apart = 0
    worst = 0.0
    for other in ranked[1:]:
        k_other = first_key[id(other)]
        if k_other[0] == k_main[0]:
            problems.append(Problem("mixed_size", f"{len(other)} slice(s) have another size or pixel spacing"))
            continue
        angle = _orientation_angle_deg(ref, other[0])
        if angle is not None and k_other[1:] == k_main[1:] and angle < KEEP_TILTED_DEG:
            kept += other
            if angle >= SAME_ORIENTATION_DEG:
                tilted += len(other)
                worst = max(worst, angle)
            continue
        plane = _normal_angle_deg(ref, other[0])
        if (
            len(other) == 1
            and len(main) > 1
            and other[0].frames == 1
            and plane is not None
            and plane >= LOCALIZER_MIN_DEG
        ):
            notes.append(Problem("localizer", "1 image of another orientation split off (localizer)"))
        else:
            apart += len(other)
    if apart:
        problems.append(Problem("mixed_orientation", f"{apart} slice(s) have another orientation"))
    if tilted:
        problems.append(
            Problem(
                "mixed_orientation",
                f"{tilted} slice(s) are rotated up to {worst:.3g} degrees against the stack's orientation",
            )
        )
    return main + kept if kept else main, problems, notes


def multi_sample_problem(slices: Sequence[SliceInfo]) -> Problem | None:
    """A problem when the images are colour or multi-sample (SamplesPerPixel > 1): not a scalar volume.

    ``read_series`` refuses such a series under every ``on_irregular`` policy (a Volume is one
    scalar per voxel); their pixels decode per file with :func:`fastmed.dicom.read_pixels`.
    """
    samples = max(s.samples_per_pixel for s in slices)
    if samples > 1:
        return Problem(
            "multi_sample", f"colour or multi-sample images ({samples} samples per pixel) are not a scalar volume"
        )
    return None


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
    for extra in (rescale_problem(geo.slices), multi_sample_problem(geo.slices)):
        if extra is not None:
            problems.append(extra)
    return geo, problems, notes
