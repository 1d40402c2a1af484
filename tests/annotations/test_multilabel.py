"""Class labels: numeric columns as given, ';'-separated names as a multi-hot vector with a recorded class list."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from fastmed import AnnotationError, annotate
from fastmed.privacy import keyed_id

from .conftest import Indexed


def _table(indexed: Indexed, findings: list[str | None]) -> pa.Table:
    series = [s for s in indexed.info.all_series()][: len(findings)]
    return pa.table(
        {
            "SeriesInstanceUID": [s.series_uid for s in series],
            "findings": findings,
            "present": [int(bool(f)) for f in findings],
            "score": [0.5, None, 2.0, 1.0][: len(findings)],
            "note": ["free text"] * len(findings),
        }
    )


def test_multi_hot_matches_the_names(indexed: Indexed) -> None:
    findings = ["liver; right lung", "", "nodule;liver", None]
    am = annotate(indexed.manifest, _table(indexed, findings), on="SeriesInstanceUID", multilabel="findings")
    assert am.classes == {"findings": ("liver", "nodule", "right lung")}
    assert am.label_names == ("present", "score", "findings:liver", "findings:nodule", "findings:right lung")
    series = list(indexed.info.all_series())
    for s, f in zip(series, findings, strict=False):
        v = am.label_vector(keyed_id(s.series_uid))
        if f is None:
            assert np.isnan(v[2:]).all()
            continue
        names = {x.strip() for x in f.split(";") if x.strip()}
        assert v[2:].tolist() == [float(c in names) for c in am.classes["findings"]]
    assert math.isnan(am.annotation(keyed_id(series[1].series_uid)).labels["score"])


def test_given_class_list_orders_and_checks(indexed: Indexed) -> None:
    t = _table(indexed, ["liver", "right lung"])
    am = annotate(indexed.manifest, t, on="SeriesInstanceUID", multilabel={"findings": ["right lung", "liver", "x"]})
    assert am.classes["findings"] == ("right lung", "liver", "x")
    sid = keyed_id(next(indexed.info.all_series()).series_uid)
    assert am.annotation(sid).labels["findings:liver"] == 1.0
    with pytest.raises(AnnotationError, match="not in its class list"):
        annotate(indexed.manifest, t, on="SeriesInstanceUID", multilabel={"findings": ["liver"]})


def test_explicit_labels_and_text_columns(indexed: Indexed) -> None:
    t = _table(indexed, ["liver", ""])
    am = annotate(indexed.manifest, t, on="SeriesInstanceUID", labels=["present"], report="note")
    assert am.label_names == ("present",)
    assert all(a.report == "free text" for a in am.annotations.values())
    with pytest.raises(AnnotationError, match="not numeric"):
        annotate(indexed.manifest, t, on="SeriesInstanceUID", labels=["note"])
