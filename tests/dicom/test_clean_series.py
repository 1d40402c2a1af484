"""The index's clean-series shortcut against ``assess_series`` (the oracle) on regular and irregular series."""

from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import numpy as np
import pydicom.data
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed.dicom.clean_series import clean_stacks
from fastmed.dicom.index import _build_manifest, index
from fastmed.dicom.series_geometry import assess_series
from fastmed.dicom.slice_info import SliceInfo
from fastmed.synth import EDGE_CASES, generate_archive

DEFECTS = (
    "none",
    "duplicate",
    "gap",
    "jitter",
    "small_jitter",
    "tilt",
    "small_tilt",
    "nan",
    "no_position",
    "localizer",
    "other_orientation",
    "other_size",
    "rescale",
    "multiframe",
    "colour",
    "reverse",
    "no_spacing",
)
SINGLE_DEFECTS = ("localizer", "multiframe", "colour")  # what keeps a one-image series from the shortcut


@st.composite
def series(draw: st.DrawFn) -> tuple[list[SliceInfo], str]:
    n = draw(st.integers(1, 12))
    defect = draw(st.sampled_from(DEFECTS))
    angle = draw(st.sampled_from([0.0, 0.3, 1.0]))
    c, s = math.cos(angle), math.sin(angle)
    orientation = (c, s, 0.0, -s, c, 0.0) if draw(st.booleans()) else (1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    normal = np.cross(orientation[:3], orientation[3:])
    spacing = draw(st.sampled_from([0.5, 1.25, 2.5, 5.0]))
    origin = np.array([draw(st.floats(-300, 300)) for _ in range(3)])
    offsets = np.arange(n, dtype=np.float64) * spacing
    if defect == "reverse":
        offsets = offsets[::-1].copy()
    k = draw(st.integers(0, max(0, n - 1)))
    if defect == "duplicate" and n > 1:
        offsets[k] = offsets[k - 1] if k else offsets[1]
    if defect == "gap" and n > 2:
        offsets[k:] += spacing
    if defect in ("jitter", "small_jitter") and n > 2:
        offsets[k] += spacing * (0.2 if defect == "jitter" else 0.002)
    shear = np.zeros(3)
    if defect in ("tilt", "small_tilt"):
        shear = np.array(orientation[3:]) * spacing * (0.2 if defect == "tilt" else 1e-4)
    positions: list[tuple[float, float, float] | None] = [
        tuple(float(v) for v in origin + o * normal + i * shear) for i, o in enumerate(offsets)
    ]
    if defect == "nan":
        positions[k] = (math.nan, 0.0, 0.0)
    if defect == "no_position":
        positions[0] = None  # on a later slice assess_series itself fails (np.array of a None)
    instances = draw(st.permutations(list(range(1, n + 1))))
    out = []
    for i in range(n):
        out.append(
            SliceInfo(
                f"/a/s/{i:03d}.dcm",
                "sid",
                12 if not (defect == "other_size" and i == k) else 14,
                10,
                None if defect == "no_spacing" else (0.7, 0.8),
                orientation if not (defect == "other_orientation" and i == k) else (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
                positions[i],
                frames=4 if defect == "multiframe" and i == k else 1,
                rescale_slope=2.0 if defect == "rescale" and i == k else 1.0,
                instance_number=instances[i],
                image_type=("ORIGINAL", "LOCALIZER") if defect == "localizer" and i == k else ("ORIGINAL",),
                samples_per_pixel=3 if defect == "colour" else 1,
                slice_thickness=spacing,
            )
        )
    return out, defect


@settings(max_examples=300, deadline=None)
@given(st.lists(series(), min_size=1, max_size=4))
def test_shortcut_equals_assess_series(batch: list[tuple[list[SliceInfo], str]]) -> None:
    groups = [g for g, _ in batch]
    got = clean_stacks(groups)
    for (slices, defect), stack in zip(batch, got, strict=True):
        geo, problems, notes = assess_series(slices)
        if stack is None:
            if (defect in ("none", "reverse") and len(slices) > 1) or (
                len(slices) == 1 and defect not in SINGLE_DEFECTS
            ):
                pytest.fail("a regular series was not taken by the shortcut")
            continue
        assert not problems and not notes, (defect, problems, notes)
        assert [id(s) for s in stack.slices] == [id(s) for s in geo.slices]
        assert stack.spacing_z == geo.spacing_z  # the same float, not an approximation
        assert stack.spacing_yx == geo.spacing_yx


def _extra(root: Path) -> None:
    (root / "extra").mkdir()
    for name in ("emri_small.dcm", "CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "image_dfl.dcm"):
        shutil.copy(pydicom.data.get_testdata_file(name), root / "extra" / name)


@pytest.mark.parametrize("edge", [False, True])
def test_manifest_with_and_without_shortcut(tmp_path: Path, edge: bool) -> None:
    generate_archive(tmp_path, 6, 11, edge_cases=EDGE_CASES if edge else ())
    _extra(tmp_path)
    man = index(tmp_path, cache=False)
    import importlib

    ix = importlib.import_module("fastmed.dicom.index")
    fresh: dict[str, object] = {}
    from fastmed.dicom.slice_reader import read_slice_infos_many
    from fastmed.privacy import keyed_id

    root = tmp_path.resolve()
    rels = ix._walk(root)
    got = read_slice_infos_many([str(root / r) for r in rels], series_id=keyed_id)
    for rel, res in zip(rels, got, strict=True):
        fresh[rel] = ix._reason(res) if isinstance(res, Exception) else res
    studies = {r.files[0]: r.study_id for r in man}
    slow = _build_manifest(root, fresh, studies, shortcut=False)  # type: ignore[arg-type]
    fast = _build_manifest(root, fresh, studies)  # type: ignore[arg-type]
    strip = [dataclasses.replace(r, study_id="") for r in man]
    assert [dataclasses.replace(r, study_id="") for r in fast.rows] == strip
    assert [dataclasses.replace(r, study_id="") for r in slow.rows] == strip
    assert slow.rejected == fast.rejected == man.rejected
    if edge:
        assert not all(r.valid for r in man)  # the irregular series are there
