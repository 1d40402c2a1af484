"""read_series and index on the synthetic archive, against the geometry and pixels the generator wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fastmed as fm
from fastmed.dicom import read_series
from fastmed.dicom.index import index
from fastmed.privacy import keyed_id
from fastmed.synth import EDGE_CASES, ArchiveInfo, SeriesInfo, generate_archive

EXPECTED_KIND = {
    "missing_slice": "missing_slice",
    "duplicate_slice": "duplicate_position",
    "gantry_tilt": "gantry_tilt",
    "nonuniform_spacing": "nonuniform_spacing",
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(tmp_path_factory.mktemp("plain"), 6, 4, save_pixels=True)


@pytest.fixture(scope="module")
def edges(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(tmp_path_factory.mktemp("edges"), 6, 2, edge_cases=EDGE_CASES, save_pixels=True)


def _volumes(info: ArchiveInfo) -> list[SeriesInfo]:
    return [s for s in info.all_series() if len(s.shape) == 3]


def _expected_values(info: ArchiveInfo, s: SeriesInfo) -> np.ndarray:
    assert s.pixels is not None
    stored = np.load(info.path(s.pixels)).astype(np.float64)
    return stored * s.rescale_slope + s.rescale_intercept


def test_every_volume_series_matches_truth(plain: ArchiveInfo) -> None:
    series = _volumes(plain)
    assert len(series) >= 6
    for s in series:
        paths = [plain.path(f.path) for f in s.files]
        vol = read_series(paths)
        assert vol.shape == tuple(s.shape)
        assert vol.spacing == pytest.approx(tuple(s.spacing), rel=1e-4)
        np.testing.assert_allclose(vol.index_to_patient(), np.array(s.affine), atol=1e-3)
        np.testing.assert_array_equal(vol.array.astype(np.float64), _expected_values(plain, s))
        assert vol.meta["problems"] == []
        assert vol.meta["series_id"] == keyed_id(s.series_uid)


@pytest.mark.parametrize("case", sorted(EXPECTED_KIND))
def test_irregular_series_are_named(edges: ArchiveInfo, case: str) -> None:
    s = next(s for s in edges.all_series() if any(e["name"] == case for e in s.edge_cases))
    folder = edges.path(s.folder)
    with pytest.raises(fm.SeriesError) as info:
        read_series(folder, series=keyed_id(s.series_uid))
    assert s.series_uid not in str(info.value)
    kept = read_series(folder, series=keyed_id(s.series_uid), on_irregular="allow")
    assert EXPECTED_KIND[case] in kept.meta["problem_kinds"]
    if case == "gantry_tilt":
        np.testing.assert_allclose(kept.index_to_patient(), np.array(s.affine), atol=1e-3)


def test_shuffled_names_and_localizer_read_cleanly(edges: ArchiveInfo) -> None:
    for case in ("shuffled_names", "localizer"):
        s = next(s for s in edges.all_series() if any(e["name"] == case for e in s.edge_cases))
        vol = read_series(edges.path(s.folder))
        assert vol.shape == tuple(s.shape)
        np.testing.assert_array_equal(vol.array.astype(np.float64), _expected_values(edges, s))
        if case == "localizer":
            assert any("localizer" in n for n in vol.meta["notes"])


def test_mixed_series_folder_needs_a_choice(edges: ArchiveInfo) -> None:
    s = next(s for s in edges.all_series() if any(e["name"] == "mixed_series" for e in s.edge_cases))
    folder = edges.path(s.folder)
    with pytest.raises(fm.SeriesError, match="2 series found"):
        read_series(folder)
    vol = read_series(folder, series=keyed_id(s.series_uid), on_irregular="allow")
    assert vol.shape[1:] == tuple(s.shape)[1:]


def test_index_of_edge_archive(edges: ArchiveInfo, tmp_path: Path) -> None:
    man = index(edges.root, cache=False)
    truth = {keyed_id(s.series_uid): s for s in edges.all_series()}
    assert {r.series_id for r in man} == set(truth)
    for row in man:
        s = truth[row.series_id]
        cases = {e["name"] for e in s.edge_cases}
        irregular = cases & set(EXPECTED_KIND)
        assert row.valid == (not irregular), (cases, row.problems)
        if len(s.shape) == 3 and not irregular:
            assert row.shape == tuple(s.shape)
            assert row.files == tuple(f.path for f in s.slice_files())
    # Reports, labels and truth.json are not DICOM: rejected with a reason, never fatal.
    assert "truth.json" in man.rejected
