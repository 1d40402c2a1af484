"""The synthetic archive's labels.csv, joined the way a user would: index -> annotate -> masks and labels."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from fastmed import AnnotationError, annotate, index
from fastmed.privacy import keyed_id
from fastmed.synth import EDGE_CASES, generate_archive

from .conftest import Indexed


def test_labels_csv_round_trip(indexed: Indexed) -> None:
    info = indexed.info
    am = annotate(indexed.manifest, Path(info.root) / "labels.csv", on="path", multilabel="findings")
    assert am.summary.matched_series == len(am) == sum(1 for _ in info.all_series())
    assert not am.summary.unmatched_rows and not am.summary.unannotated_series
    assert am.label_names[:2] == ("lesion_count", "lesion_present")
    for st in info.studies:
        organs = {les.organ for s in st.series for les in s.lesions}
        for s in st.series:
            sid = keyed_id(s.series_uid)
            a = am.annotation(sid)
            assert a is not None and not a.problems
            assert a.labels["lesion_count"] == st.lesion_count == len(s.lesions)
            assert a.labels["lesion_present"] == float(st.lesion_count > 0)
            assert {c for c in am.classes["findings"] if a.labels[f"findings:{c}"] == 1.0} == organs
            assert a.report == info.path(st.report).read_text()
            mask = am.load_mask(sid)
            labels = np.load(info.path(s.labels))
            assert mask is not None and mask.shape == indexed.manifest.find(sid).shape
            np.testing.assert_array_equal(mask.reshape(labels.shape), labels)
            # Presence in the table agrees with the mask's voxels and with truth.json.
            assert bool(mask.any()) == bool(a.labels["lesion_present"])
            assert set(np.unique(mask).tolist()) - {0} == {les.id for les in s.lesions}
            for les in s.lesions:  # the lesion centre from truth.json lies inside its label
                centre = tuple(int(round(v)) for v in les.centre_voxel)
                assert mask.reshape(labels.shape)[centre] == les.id


def test_key_kind_is_picked_when_not_given(indexed: Indexed) -> None:
    labels_csv = Path(indexed.info.root) / "labels.csv"
    am = annotate(indexed.manifest, labels_csv)  # the finest key the table has: SeriesInstanceUID
    assert am.on == "SeriesInstanceUID" and am.summary.matched_series == len(indexed.manifest)
    with pytest.raises(AnnotationError, match="finer key"):  # one row per series: not a study-level table
        annotate(indexed.manifest, labels_csv, on="StudyInstanceUID")


def test_study_uid_column_joins_a_study_level_table(indexed: Indexed, tmp_path: Path) -> None:
    # labels.csv has one row per series; a study-level export keeps one row per study (no mask).
    with open(Path(indexed.info.root) / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    seen: dict[str, dict[str, str]] = {}
    for r in rows:
        seen.setdefault(r["StudyInstanceUID"], r)
    study_csv = tmp_path / "studies.csv"
    with open(study_csv, "w", newline="") as f:
        w = csv.DictWriter(f, ["StudyInstanceUID", "lesion_present", "report"], extrasaction="ignore")
        w.writeheader()
        w.writerows(seen.values())
    am = annotate(indexed.manifest, study_csv, on="StudyInstanceUID")
    assert len(am) == len(indexed.manifest) and am.label_names == ("lesion_present",)
    for st in indexed.info.studies:
        for s in st.series:
            assert am.annotation(keyed_id(s.series_uid)).labels["lesion_present"] == float(st.lesion_count > 0)


@pytest.mark.parametrize("seed", [7])
def test_edge_case_series_are_flagged_not_fatal(tmp_path: Path, seed: int) -> None:
    info = generate_archive(tmp_path / "edges", 6, seed, edge_cases=EDGE_CASES)
    man = index(info.root, cache=False)
    labels_csv = Path(info.root) / "labels.csv"
    with pytest.raises(AnnotationError, match="several table rows"):  # mixed_series: two series, one folder
        annotate(man, labels_csv, on="path")
    am = annotate(man, labels_csv, on="SeriesInstanceUID", on_irregular="allow", how="left")
    # A grid the NIfTI mask cannot share: a slice missing from the files, or uneven slice steps.
    misfits = {"missing_slice", "nonuniform_spacing"}
    assert am.summary.matched_series == len(am.annotations) == sum(1 for _ in info.all_series())
    for s in info.all_series():
        sid = keyed_id(s.series_uid)
        a = am.annotation(sid)
        assert a is not None
        if misfits & {e["name"] for e in s.edge_cases}:
            assert a.mask is None and len(a.problems) == 1, s.edge_cases
        else:
            assert not a.problems, (s.edge_cases, a.problems)
            mask = am.load_mask(sid)
            labels = np.load(info.path(s.labels))
            assert mask is not None and mask.shape == man.find(sid).shape
            np.testing.assert_array_equal(mask.reshape(labels.shape), labels)  # tilted and shuffled ones too
    assert am.summary.mask_problems == 2
