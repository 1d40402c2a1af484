"""The index's shortcut for clean series: prove a series regular in a few array operations over all of them.

Most series of an archive are plain stacks: single-frame, single-sample slices of one orientation,
size, pixel spacing and rescale, no localizers, evenly spaced along the normal (or one such image). For those,
:func:`fastmed.dicom.series_geometry.assess_series` finds no problem and its result is a
function of the slice positions only, so the index computes it here for every series at once
(one sort, one ``diff``) instead of series by series. A series is taken only when every check
on the way shows it clean; anything else (a duplicate, a gap, uneven spacing, tilt near the
tolerance, a missing or odd value) is left to ``assess_series``, which names the problems.

The values that reach the manifest (order of files, spacing) are computed with the same
floating-point operations as ``assess_series``; ``tests/dicom/test_clean_series.py`` compares
the two on archives full of irregular series.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastmed.dicom.series_geometry import ABS_TOL_MM, REL_TOL, TILT_TOL_DEG, _cross3
from fastmed.dicom.slice_info import SliceInfo

# What must agree across a series for it to be one stack with one rescale (split_stacks,
# rescale_problem), plus the per-slice values that must be plain (one frame, one sample).
_KEY = operator.attrgetter(
    "orientation",
    "pixel_spacing",
    "rows",
    "columns",
    "rescale_slope",
    "rescale_intercept",
    "frames",
    "frame",
    "samples_per_pixel",
)
_PLAIN = (1, 0, 1)  # frames, frame, samples_per_pixel: the last three of _KEY
_POSITION = operator.attrgetter("position")
_UNSEEN = np.empty(0)  # marker: orientation not seen yet


@dataclass(frozen=True)
class CleanStack:
    """A series shown regular: its slices in the order ``assess_series`` puts them, and the z spacing."""

    slices: list[SliceInfo]
    spacing_z: float
    spacing_yx: tuple[float, float]


def _single(s: SliceInfo) -> CleanStack:
    """A one-image series (no localizer, one frame, one sample): what analyse_stack makes of it."""
    ps = s.pixel_spacing
    spacing_z = 1.0
    if s.orientation is not None and s.position is not None and ps is not None:
        t = float(s.slice_thickness or 1.0)  # no step to measure: the thickness
        spacing_z = t if t > 0 else 1.0
    sy, sx = ps or (1.0, 1.0)
    return CleanStack([s], spacing_z, (float(sy), float(sx)))


def clean_stacks(series: Sequence[list[SliceInfo]]) -> list[CleanStack | None]:
    """For each series, its ordered slices when it is clean; ``None`` when ``assess_series`` must decide."""
    out: list[CleanStack | None] = [None] * len(series)
    picked: list[int] = []
    normals: list[npt.NDArray[np.float64]] = []
    flat_pos: list[tuple[float, float, float]] = []
    localizer: dict[tuple[str, ...], bool] = {}
    normal_of: dict[tuple[float, ...], npt.NDArray[np.float64] | None] = {}
    for k, slices in enumerate(series):
        n_slices = len(slices)
        first = slices[0]
        key = _KEY(first)
        if n_slices == 1:
            if key[-3:] == _PLAIN and not _is_localizer(first, localizer):
                out[k] = _single(first)
            continue
        if first.orientation is None or first.pixel_spacing is None or key[-3:] != _PLAIN:
            continue
        if list(map(_KEY, slices)).count(key) != n_slices:
            continue
        pos = list(map(_POSITION, slices))
        if None in pos:
            continue
        if any(_is_localizer(s, localizer) for s in {s.image_type: s for s in slices}.values()):
            continue
        n = normal_of.get(first.orientation, _UNSEEN)
        if n is _UNSEEN:
            n = normal_of[first.orientation] = _normal(first.orientation)
        if n is None:
            continue
        picked.append(k)
        normals.append(n)
        flat_pos.extend(pos)  # no None: checked above
    if not picked:
        return out
    sizes = np.array([len(series[k]) for k in picked])
    start = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    allpos = np.array(flat_pos, dtype=np.float64)
    # Offsets along each series' normal: the same product analyse_stack computes, series by series
    # (on a contiguous block of rows, as analyse_stack's own array).
    ds = [allpos[a : a + m] @ n for a, m, n in zip(start.tolist(), sizes.tolist(), normals, strict=True)]
    code = np.repeat(np.arange(len(picked)), sizes)
    d = np.concatenate(ds)
    flat = [s for k in picked for s in series[k]]
    inst = np.array([s.instance_number or 0 for s in flat], dtype=np.int64)
    # analyse_stack sorts by (d, instance number, frame); frames are all 0 here. Series are blocks.
    order = np.lexsort((inst, d, code))
    d = d[order]
    diffs = np.diff(d)
    inner = np.ones(len(diffs), dtype=bool)
    inner[start[1:] - 1] = False  # a difference across two series is not a step
    diffs = diffs[inner]
    dcode = code[1:][inner]
    # Median step per series (the middle value, or the mean of the two middle ones, as _median).
    sorted_diffs = diffs[np.lexsort((diffs, dcode))]
    m = sizes - 1
    dstart = np.concatenate(([0], np.cumsum(m)[:-1]))
    hi = sorted_diffs[dstart + m // 2]
    lo = sorted_diffs[dstart + (m - 1) // 2]
    spacing = np.where(m % 2 == 1, hi, (lo + hi) / 2.0)
    # Clean: finite, no duplicate (every step beyond the duplicate tolerance), every step within
    # the spacing tolerance of the median, and the mean step along the normal (no tilt).
    tol = np.maximum(REL_TOL * spacing, ABS_TOL_MM)
    finite = np.isfinite(d)
    bad = np.zeros(len(picked), dtype=bool)
    np.logical_or.at(bad, code, ~finite)
    np.logical_or.at(bad, dcode, (diffs <= ABS_TOL_MM * 10) | (np.abs(diffs - spacing[dcode]) > tol[dcode]))
    first_pos, last_pos = start, start + sizes - 1
    stacked = allpos[order]
    step = stacked[last_pos] - stacked[first_pos]
    nrm = np.array(normals)
    along = np.abs(np.einsum("ij,ij->i", step, nrm))
    length = np.sqrt(np.einsum("ij,ij->i", step, step))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.minimum(1.0, along / length)
    # A margin of 10 % of the tolerance keeps rounding differences with tilt_deg out of the decision.
    bad |= ~(np.degrees(np.arccos(cos)) <= 0.9 * TILT_TOL_DEG) | ~(length > 0) | ~np.isfinite(spacing)
    bad |= ~(spacing > 0)
    order_list = order.tolist()
    for j, k in enumerate(picked):
        if bad[j]:
            continue
        a, b = int(start[j]), int(start[j] + sizes[j])
        sy, sx = series[k][0].pixel_spacing or (1.0, 1.0)  # never None here: checked above
        out[k] = CleanStack([flat[i] for i in order_list[a:b]], float(spacing[j]), (float(sy), float(sx)))
    return out


def _normal(orientation: tuple[float, ...]) -> npt.NDArray[np.float64] | None:
    """The unit normal as analyse_stack computes it; None when it has no length."""
    n = _cross3(orientation)
    norm = np.linalg.norm(n)
    if not norm > 0:
        return None
    n /= norm
    return n


def _is_localizer(s: SliceInfo, seen: dict[tuple[str, ...], bool]) -> bool:
    hit = seen.get(s.image_type)
    if hit is None:
        hit = seen[s.image_type] = s.is_localizer
    return hit
