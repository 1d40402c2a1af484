"""Raw UIDs and accession numbers from a table never reach the result, its repr, pickles or errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import pyarrow as pa
import pytest

from fastmed import AnnotationError, MaskGeometryError, annotate
from fastmed.annotations import GeometryTolerance

from .conftest import Indexed


def _raw(indexed: Indexed) -> list[str]:
    out = []
    for st in indexed.info.studies:
        out += [st.study_uid, st.patient["AccessionNumber"], *(s.series_uid for s in st.series)]
    return out


@pytest.mark.parametrize("on", ["StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber"])
def test_raw_identifiers_never_kept(indexed: Indexed, on: str) -> None:
    studies = indexed.info.studies
    series = [(st, s) for st in studies for s in st.series]
    if on == "SeriesInstanceUID":
        keys = [s.series_uid for _, s in series] + ["1.2.840.99999.1"]
    elif on == "StudyInstanceUID":
        keys = [st.study_uid for st in studies] + ["1.2.840.99999.1"]
    else:
        keys = [st.patient["AccessionNumber"] for st in studies] + ["A9999999"]
    # Identifier columns beside the key (numeric too) are not labels and are not kept either.
    table = pa.table({on: keys, "PatientID": list(range(len(keys))), "y": [1] * len(keys)})
    am = annotate(indexed.manifest, table, on=on, how="left")
    assert am.label_names == ("y",)
    blob = pickle.dumps(am)
    text = repr(am) + str(am.summary) + repr(am.annotations) + repr(am.summary)
    for raw in [*_raw(indexed), keys[-1]]:
        assert raw not in text
        assert raw.encode() not in blob
    assert len(am.summary.unmatched_keys) == 1


def test_errors_name_keyed_ids_only(indexed: Indexed, tmp_path: Path) -> None:
    st = indexed.info.studies[0]
    with pytest.raises(AnnotationError) as exc:
        annotate(indexed.manifest, pa.table({"StudyInstanceUID": [st.study_uid] * 2}), on="StudyInstanceUID")
    assert st.study_uid not in str(exc.value)
    # A broken CSV: the parser's own message (which may quote cells) is not passed on.
    bad = tmp_path / "bad.csv"
    bad.write_text(f'StudyInstanceUID,y\n{st.study_uid},1,2,3\n"{st.study_uid}\n')
    with pytest.raises(AnnotationError) as exc:
        annotate(indexed.manifest, bad, on="StudyInstanceUID")
    assert st.study_uid not in str(exc.value)
    # A mask that does not fit: named by keyed series id.
    s = st.series[0]
    table = pa.table({"SeriesInstanceUID": [s.series_uid], "mask": [st.series[1].mask]})
    with pytest.raises(MaskGeometryError) as mexc:
        annotate(
            indexed.manifest, table, on="SeriesInstanceUID", mask_root=indexed.info.root, tolerance=GeometryTolerance()
        )
    assert s.series_uid not in str(mexc.value) and mexc.value.series_id in str(mexc.value)
