"""Metrics against scikit-learn and reference formulas, edge cases included."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fastmed.train.metrics import (
    auroc,
    auroc_macro,
    dice_per_class,
    expected_calibration_error,
    recall_at_k,
    reliability_curve,
    report_retrieval,
    retrieval_recalls,
    save_reliability_diagram,
)

sk_metrics = pytest.importorskip("sklearn.metrics")
sk_cal = pytest.importorskip("sklearn.calibration")


@pytest.mark.parametrize("seed", range(5))
def test_auroc_matches_sklearn_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.normal(size=200) + y, 1)  # rounding makes ties
    assert auroc(y, s) == pytest.approx(sk_metrics.roc_auc_score(y, s), abs=1e-12)


def test_auroc_perfect_and_reversed() -> None:
    y = np.array([0, 0, 1, 1])
    assert auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_auroc_one_class_is_nan_like_sklearn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sk_metrics.roc_auc_score([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.warns(UserWarning, match="one class"):
        got = auroc([1, 1, 1], [0.1, 0.2, 0.3])
    assert np.isnan(got) and np.isnan(ref)


def test_auroc_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="binary"):
        auroc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="values"):
        auroc([0, 1], [0.1])


def test_auroc_macro_matches_sklearn_and_skips_undefined() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, (100, 4))
    s = rng.normal(size=(100, 4)) + y
    macro, per = auroc_macro(y, s)
    assert macro == pytest.approx(sk_metrics.roc_auc_score(y, s, average="macro"), abs=1e-12)
    assert per == pytest.approx(sk_metrics.roc_auc_score(y, s, average=None), abs=1e-12)
    y[:, 2] = 0
    with pytest.warns(UserWarning):
        macro2, per2 = auroc_macro(y, s)
    assert np.isnan(per2[2])
    assert macro2 == pytest.approx(np.mean(per2[[0, 1, 3]]))


def test_dice_matches_formula_and_sklearn_f1() -> None:
    rng = np.random.default_rng(3)
    t = rng.integers(0, 3, (6, 7, 8))
    p = np.where(rng.random(t.shape) < 0.8, t, rng.integers(0, 3, t.shape))
    got = dice_per_class(p, t, [0, 1, 2])
    ref = sk_metrics.f1_score(t.ravel(), p.ravel(), labels=[0, 1, 2], average=None)  # F1 == Dice
    assert got == pytest.approx(ref, abs=1e-12)


def test_dice_empty_mask_conventions() -> None:
    t = np.zeros((4, 4), int)
    p = np.zeros((4, 4), int)
    assert np.isnan(dice_per_class(p, t, [1])[0])
    assert dice_per_class(p, t, [1], empty_score=1.0)[0] == 1.0
    p[0, 0] = 1  # false positive on an empty reference
    assert dice_per_class(p, t, [1])[0] == 0.0
    assert dice_per_class(t, p, [1])[0] == 0.0  # missed lesion


def _ece_reference(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    total = 0.0
    edges = np.linspace(0, 1, n_bins + 1)
    for b in range(n_bins):
        lo, hi = edges[b], edges[b + 1]
        sel = (p > lo) & (p <= hi) if b > 0 else (p >= lo) & (p <= hi)
        if sel.any():
            total += sel.mean() * abs(y[sel].mean() - p[sel].mean())
    return total


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_reliability_curve_matches_sklearn_and_ece_formula(n_bins: int) -> None:
    rng = np.random.default_rng(n_bins)
    p = rng.random(500)
    p[:20] = np.round(p[:20], 1)  # values on bin edges
    p[20], p[21] = 0.0, 1.0
    y = (rng.random(500) < p**1.5).astype(int)
    curve = reliability_curve(y, p, n_bins)
    prob_true, prob_pred = sk_cal.calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    assert curve.frac_positive == pytest.approx(prob_true, abs=1e-12)
    assert curve.mean_confidence == pytest.approx(prob_pred, abs=1e-12)
    assert expected_calibration_error(y, p, n_bins) == pytest.approx(_ece_reference(y, p, n_bins), abs=1e-12)


def test_ece_perfect_and_worst() -> None:
    y = np.array([0, 1] * 50)
    assert expected_calibration_error(y, np.full(100, 0.5)) == pytest.approx(0.0)
    assert expected_calibration_error(y, 1.0 - y) == pytest.approx(1.0)
    assert expected_calibration_error(np.ones(3), np.ones(3)) == 0.0  # one class only is defined for ECE
    with pytest.raises(ValueError, match="probabilities"):
        expected_calibration_error([0, 1], [0.5, 1.5])


def test_reliability_diagram_png(tmp_path) -> None:
    rng = np.random.default_rng(0)
    p = rng.random(300)
    y = (rng.random(300) < p).astype(int)
    out = save_reliability_diagram(y, p, tmp_path / "sub" / "rel.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _recall_brute(s: np.ndarray, k: int) -> float:
    hits = 0
    for i in range(s.shape[0]):
        order = sorted(range(s.shape[1]), key=lambda j: (-s[i, j], j != i))  # ties: the match first
        hits += i in order[:k]
    return hits / s.shape[0]


@pytest.mark.parametrize("seed", range(4))
def test_recall_at_k_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    s = np.round(rng.normal(size=(30, 30)) + 1.5 * np.eye(30), 1)
    got = retrieval_recalls(s, ks=(1, 5))
    for k in (1, 5):
        assert got[f"i2t_r@{k}"] == pytest.approx(_recall_brute(s, k))
        assert got[f"t2i_r@{k}"] == pytest.approx(_recall_brute(s.T, k))
    assert recall_at_k(s, 30) == 1.0


def test_recall_at_k_identity_and_errors() -> None:
    assert recall_at_k(np.eye(5), 1) == 1.0
    assert recall_at_k(-np.eye(5), 1) == 0.0
    with pytest.raises(ValueError):
        recall_at_k(np.eye(3), 0)
    with pytest.raises(ValueError):
        retrieval_recalls(np.zeros((2, 3)))


def _report_brute(s: np.ndarray, g: np.ndarray, k: int) -> tuple[float, float]:
    """Sort each image's reports / each report's images, ties in the match's favour; hit: a match in the top k."""
    i2t = [g[i] in sorted(range(s.shape[1]), key=lambda j: (-s[i, j], j != g[i]))[:k] for i in range(s.shape[0])]
    t2i = []
    for r in range(s.shape[1]):
        order = sorted(range(s.shape[0]), key=lambda i: (-s[i, r], g[i] != r))
        t2i.append(any(g[i] == r for i in order[:k]))
    return float(np.mean(i2t)), float(np.mean(t2i))


@pytest.mark.parametrize("seed", range(4))
def test_report_retrieval_matches_brute_force_and_random_scores(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, r = 24, 9
    g = np.concatenate([np.arange(r), rng.integers(0, r, n - r)])  # every report has an image, some several
    s = np.round(rng.normal(size=(n, r)) + 1.5 * (g[:, None] == np.arange(r)), 1)  # rounding makes ties
    got = report_retrieval(s, g, ks=(1, 3))
    for k in (1, 3):
        i2t, t2i = _report_brute(s, g, k)
        assert got[f"i2t_r@{k}"] == pytest.approx(i2t)
        assert got[f"t2i_r@{k}"] == pytest.approx(t2i)
    # chance: the mean recall of scores in random order (Monte Carlo, 4000 draws)
    draws = [report_retrieval(rng.random((n, r)), g, ks=(1, 3)) for _ in range(4000)]
    for key in ("i2t_r@1", "t2i_r@1", "i2t_r@3", "t2i_r@3"):
        assert got[f"chance_{key}"] == pytest.approx(np.mean([d[key] for d in draws]), abs=0.01)


def test_report_retrieval_with_one_image_per_report_is_pairwise_recall() -> None:
    rng = np.random.default_rng(7)
    s = rng.normal(size=(12, 12)) + np.eye(12)
    got, pair = report_retrieval(s, np.arange(12), ks=(1, 5)), retrieval_recalls(s, ks=(1, 5))
    for key, v in pair.items():
        assert got[key] == pytest.approx(v)
    assert got["chance_i2t_r@1"] == pytest.approx(1 / 12) and got["chance_t2i_r@5"] == pytest.approx(5 / 12)
    with pytest.raises(ValueError):
        report_retrieval(s, np.zeros(12, dtype=int))  # reports without an image
    with pytest.raises(ValueError):
        report_retrieval(s, np.arange(11))
