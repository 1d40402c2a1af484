"""ROC curve against scikit-learn; the peers table read from a bench results JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fastmed.train.metrics.auroc import auroc
from fastmed.train.report.peers import load_peer_table
from fastmed.train.report.roc import roc_curve

sk_metrics = pytest.importorskip("sklearn.metrics")
ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_curve_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 60)
    y[:2] = [0, 1]
    s = np.round(rng.normal(size=60) + y, 1)  # rounded: ties between classes
    fpr, tpr, thr = roc_curve(y, s)
    ofpr, otpr, othr = sk_metrics.roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ofpr)
    np.testing.assert_allclose(tpr, otpr)
    assert thr[0] == np.inf and np.array_equal(thr[1:], othr[1:])
    assert np.trapezoid(tpr, fpr) == pytest.approx(auroc(y, s))


def test_roc_curve_rejects_one_class() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_curve([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        roc_curve([0, 1], [0.1])


def _row(impl: str, rate: float, threads: int, fastmed: bool = False, floor: bool = False) -> dict[str, object]:
    return {"case": "c1", "impl": impl, "rate_per_s": rate, "threads": threads, "unit": "patch",
            "is_fastmed": fastmed, "floor": floor}  # fmt: skip


def test_peer_table_takes_most_threads_and_leaves_floors_out(tmp_path: Path) -> None:
    doc = {
        "suite": "s",
        "environment": {"cpu": "cpu-x", "cpu_count": 2, "commit": "abcdef1234567"},
        "results": [
            _row("fastmed", 40.0, 1, fastmed=True),
            _row("monai", 0.5, 1),
            _row("fastmed", 75.5, 2, fastmed=True),
            _row("monai", 1.5, 2),
            _row("floor-gather", 53.5, 2, floor=True),
            {**_row("monai", 9.0, 2), "case": "other"},
        ],
    }
    path = tmp_path / "s.json"
    path.write_text(json.dumps(doc))
    t = load_peer_table(path)
    assert (t.case, t.threads) == ("c1", 2)
    assert [(r.name, r.rate, r.subject) for r in t.rates] == [("fastmed", 75.5, True), ("monai", 1.5, False)]
    assert t.subject_rate == 75.5 and "cpu-x" in t.source and "abcdef1234" in t.source
    assert [r.rate for r in load_peer_table(path, threads=1).rates] == [40.0, 0.5]
    with pytest.raises(ValueError):
        load_peer_table(path, case="missing")


def test_peer_table_of_the_committed_r3d_results() -> None:
    path = ROOT / "bench" / "results" / "r3d.json"
    if not path.exists():
        pytest.skip("no committed r3d results")
    doc = json.loads(path.read_text())
    t = load_peer_table(path)
    expected = {
        r["impl"]: r["rate_per_s"]
        for r in doc["results"]
        if r["case"] == t.case and r["threads"] == t.threads and not r.get("floor")
    }
    assert {r.name: r.rate for r in t.rates} == expected
