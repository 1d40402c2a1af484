"""Calibration of binary probabilities: reliability curve and expected calibration error (equal-width bins).

Bins are ``(edge_i, edge_{i+1}]`` over ``n_bins`` equal widths of [0, 1], the first one closed at 0:
the binning of scikit-learn's ``calibration_curve(strategy="uniform")``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


class ReliabilityCurve(NamedTuple):
    """Per-bin statistics of non-empty bins (``frac_positive``, ``mean_confidence``, ``n_samples``)."""

    frac_positive: F64
    mean_confidence: F64
    n_samples: npt.NDArray[np.int64]


def _check(y_true: npt.ArrayLike, y_prob: npt.ArrayLike) -> tuple[F64, F64]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_prob, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} values but y_prob has {p.size}")
    if t.size == 0:
        raise ValueError("no samples")
    if not np.isin(t, (0.0, 1.0)).all():
        raise ValueError("y_true must be binary (0/1)")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise ValueError("y_prob must be probabilities in [0, 1]")
    return t, p


def reliability_curve(y_true: npt.ArrayLike, y_prob: npt.ArrayLike, n_bins: int = 10) -> ReliabilityCurve:
    """Fraction of positives and mean predicted probability in each non-empty equal-width bin.

    Parameters
    ----------
    y_true
        Binary labels, shape (n,).
    y_prob
        Predicted probabilities of the positive class, shape (n,).
    n_bins
        Number of equal-width bins over [0, 1].

    Returns
    -------
    ReliabilityCurve
        Arrays over the non-empty bins, in increasing confidence.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    t, p = _check(y_true, y_prob)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)  # side="left": bins are (a, b]
    count = np.bincount(ids, minlength=n_bins)
    pos = np.bincount(ids, weights=t, minlength=n_bins)
    conf = np.bincount(ids, weights=p, minlength=n_bins)
    keep = count > 0
    return ReliabilityCurve(pos[keep] / count[keep], conf[keep] / count[keep], count[keep].astype(np.int64))


def expected_calibration_error(y_true: npt.ArrayLike, y_prob: npt.ArrayLike, n_bins: int = 10) -> float:
    """ECE: ``sum_b (n_b / n) * |frac_positive_b - mean_confidence_b|`` over equal-width bins.

    Parameters
    ----------
    y_true
        Binary labels, shape (n,) (flatten multi-label arrays to pool every label).
    y_prob
        Predicted probabilities of the positive class, shape (n,).
    n_bins
        Number of equal-width bins over [0, 1].

    Returns
    -------
    float
        The ECE in [0, 1].
    """
    curve = reliability_curve(y_true, y_prob, n_bins)
    w = curve.n_samples / curve.n_samples.sum()
    return float(np.sum(w * np.abs(curve.frac_positive - curve.mean_confidence)))
