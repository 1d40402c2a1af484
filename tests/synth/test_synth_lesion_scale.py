"""``generate_archive(lesion_scale=)``: larger lesions for learning tests, nothing else changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastmed.synth import generate_archive


def test_lesion_scale_raises_the_smallest_radius(tmp_path: Path) -> None:
    plain = generate_archive(tmp_path / "plain", 4, 3, shape=(10, 32, 32))
    big = generate_archive(tmp_path / "big", 4, 3, shape=(10, 32, 32), lesion_scale=2.0)
    r1 = [min(les.radii_mm) for st in plain.studies for les in st.series[0].lesions]
    r2 = [min(les.radii_mm) for st in big.studies for les in st.series[0].lesions]
    assert r1 and r2
    assert min(r2) >= 2.0 * min(r1) * 0.999  # the floor of every radius doubles (min(r1) sits near that floor)
    # the rest of the archive is the same: same studies, series and reports' modality lines
    assert [st.kind for st in plain.studies] == [st.kind for st in big.studies]
    assert [s.series_uid for st in plain.studies for s in st.series] == [
        s.series_uid for st in big.studies for s in st.series
    ]


def test_lesion_scale_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lesion_scale"):
        generate_archive(tmp_path, 1, 0, lesion_scale=0.5)
