"""annotate() joins on every key kind; how=, unmatched rows and duplicate keys behave."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from fastmed import AnnotationError, Manifest, annotate
from fastmed.privacy import keyed_id

from .conftest import Indexed


def _series_truth(indexed: Indexed) -> list[tuple[str, str, str, str, str]]:
    """(series id, series uid, study uid, accession, folder) from truth.json, the generator's record."""
    out = []
    for st in indexed.info.studies:
        for s in st.series:
            out.append((keyed_id(s.series_uid), s.series_uid, st.study_uid, st.patient["AccessionNumber"], s.folder))
    return out


def _study_of(indexed: Indexed) -> dict[str, int]:
    return {keyed_id(s.series_uid): st.index for st in indexed.info.studies for s in st.series}


def test_series_uid_join(indexed: Indexed) -> None:
    truth = _series_truth(indexed)
    table = pa.table({"SeriesInstanceUID": [t[1] for t in truth], "score": [float(i) for i in range(len(truth))]})
    am = annotate(indexed.manifest, table, on="SeriesInstanceUID")
    assert len(am) == len(truth) == am.summary.matched_series
    for i, t in enumerate(truth):
        assert am.annotation(t[0]).labels == {"score": float(i)}


@pytest.mark.parametrize("on", ["StudyInstanceUID", "AccessionNumber", "study_key"])
def test_study_level_join_annotates_every_series_of_the_study(indexed: Indexed, on: str) -> None:
    studies = indexed.info.studies
    key = {
        "StudyInstanceUID": [st.study_uid for st in studies],
        "AccessionNumber": [st.patient["AccessionNumber"] for st in studies],
        "study_key": [keyed_id(st.study_uid) for st in studies],
    }[on]
    table = pa.table({on: key, "lesion_count": [st.lesion_count for st in studies]})
    am = annotate(indexed.manifest, table, on=on)
    study_of = _study_of(indexed)
    assert {r.series_id for r in am} == set(study_of)
    for sid, i in study_of.items():
        assert am.annotation(sid).labels["lesion_count"] == studies[i].lesion_count


def test_study_key_from_the_index_or_the_header_agree(indexed: Indexed) -> None:
    # The index fills ManifestRow.study_id with keyed_id(StudyInstanceUID); without it the join reads
    # the header. Both must give the same key, or a study table would silently match nothing.
    study_of = {keyed_id(s.series_uid): st.study_uid for st in indexed.info.studies for s in st.series}
    for r in indexed.manifest:
        assert r.study_id in ("", keyed_id(study_of[r.series_id]))
    rows_blank = [dataclasses.replace(r, study_id="") for r in indexed.manifest]
    rows_filled = [dataclasses.replace(r, study_id=keyed_id(study_of[r.series_id])) for r in indexed.manifest]
    table = pa.table({"StudyInstanceUID": [st.study_uid for st in indexed.info.studies], "i": list(range(6))})
    got = []
    for rows in (rows_blank, rows_filled):
        am = annotate(Manifest(indexed.manifest.root, rows), table, on="StudyInstanceUID")
        got.append({sid: a.labels["i"] for sid, a in am.annotations.items()})
    assert got[0] == got[1] and len(got[0]) == len(indexed.manifest)


def test_path_and_series_key_joins_agree(indexed: Indexed, tmp_path: Path) -> None:
    truth = _series_truth(indexed)
    by_path = pa.table({"path": [t[4] + "/" for t in truth], "y": [1.0] * len(truth)})  # trailing slash is fine
    pq.write_table(by_path, tmp_path / "t.parquet")
    a = annotate(indexed.manifest, tmp_path / "t.parquet", on="path")
    keyed = pa.table({"series_key": [t[0] for t in truth], "y": [1.0] * len(truth)})
    b = annotate(indexed.manifest, keyed, on="series_key")
    assert {r.series_id for r in a} == {r.series_id for r in b} == {t[0] for t in truth}


def test_result_is_a_manifest(indexed: Indexed, tmp_path: Path) -> None:
    truth = _series_truth(indexed)[:4]
    am = annotate(indexed.manifest, pa.table({"SeriesInstanceUID": [t[1] for t in truth]}), on="SeriesInstanceUID")
    assert isinstance(am, Manifest) and am.root == indexed.manifest.root and am.source is indexed.manifest
    assert am.find(truth[0][0]) == indexed.manifest.find(truth[0][0]) and len(am.valid) <= 4
    am.to_parquet(tmp_path / "m.parquet")  # the joined rows, as a plain manifest
    assert [r.series_id for r in Manifest.from_parquet(tmp_path / "m.parquet")] == [r.series_id for r in am]


def test_pandas_table_and_custom_key_column(indexed: Indexed) -> None:
    pd = pytest.importorskip("pandas")
    truth = _series_truth(indexed)
    df = pd.DataFrame({"uid": [t[1] for t in truth], "flag": [1] * len(truth)})
    am = annotate(indexed.manifest, df, on="SeriesInstanceUID", column="uid")
    assert am.summary.matched_series == len(truth)


def test_left_join_and_unmatched_rows(indexed: Indexed, caplog: pytest.LogCaptureFixture) -> None:
    truth = _series_truth(indexed)
    keep = truth[:3]
    uids = [t[1] for t in keep] + ["1.2.3.999", "", "1.2.3.998"]
    am_inner = annotate(indexed.manifest, pa.table({"SeriesInstanceUID": uids, "y": [1] * 6}), on="SeriesInstanceUID")
    am_left = annotate(
        indexed.manifest, pa.table({"SeriesInstanceUID": uids, "y": [1] * 6}), on="SeriesInstanceUID", how="left"
    )
    kept = {t[0] for t in keep}
    assert [r.series_id for r in am_inner] == [r.series_id for r in indexed.manifest if r.series_id in kept]
    assert len(am_left) == len(indexed.manifest)
    for am in (am_inner, am_left):
        s = am.summary
        assert s.table_rows == 6 and s.matched_series == 3
        assert s.unmatched_rows == (3, 5) and s.rows_without_key == (4,)
        assert s.unmatched_keys == (keyed_id("1.2.3.999"), keyed_id("1.2.3.998"))
        assert set(s.unannotated_series) == {t[0] for t in truth[3:]}
        assert "2 table rows matched no series" in str(s) and "7 series have no annotation" in str(s)
    assert am_left.annotation(truth[5][0]) is None
    assert "2 table rows matched no series" in caplog.text and "1.2.3.999" not in caplog.text
    assert all(v != v for v in am_left.label_vector(truth[5][0]))  # NaN for an unannotated series


def test_duplicate_keys_are_an_error(indexed: Indexed) -> None:
    uid = indexed.info.studies[0].study_uid
    with pytest.raises(AnnotationError, match="several table rows") as exc:
        annotate(indexed.manifest, pa.table({"StudyInstanceUID": [uid, uid], "y": [0, 1]}), on="StudyInstanceUID")
    assert keyed_id(uid) in str(exc.value) and uid not in str(exc.value)


def test_missing_column_and_bad_arguments(indexed: Indexed) -> None:
    with pytest.raises(AnnotationError, match="no key column 'path'"):
        annotate(indexed.manifest, pa.table({"x": ["a"]}), on="path")
    with pytest.raises(AnnotationError, match="no key column; name one of"):
        annotate(indexed.manifest, pa.table({"x": ["a"]}))
    with pytest.raises(ValueError, match="on must be"):
        annotate(indexed.manifest, pa.table({"x": ["a"]}), on="PatientID")
    with pytest.raises(ValueError, match="how must be"):
        annotate(indexed.manifest, pa.table({"path": ["a"]}), on="path", how="outer")  # type: ignore[arg-type]
    with pytest.raises(AnnotationError, match="report column 'text'"):
        annotate(indexed.manifest, pa.table({"path": ["a"]}), on="path", report="text")


def test_accession_keys_stay_text(tmp_path: Path) -> None:
    # A CSV reader that guessed types would read 0012 as the number 12 and lose the key.
    from fastmed.annotations.table import read_table

    (tmp_path / "t.csv").write_text("AccessionNumber,y\n0012,1\n")
    tab, folder = read_table(tmp_path / "t.csv", "AccessionNumber")
    assert tab.column("AccessionNumber").to_pylist() == ["0012"] and folder == tmp_path.resolve()
