"""Area under the ROC curve from the rank statistic (Mann-Whitney U, ties counted one half)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the given labels (one class only); NaN is returned."""


def binary_inputs(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """Flattened 0/1 labels and float64 scores of equal size, or ValueError (non-binary labels, non-finite scores)."""
    t = np.asarray(y_true).reshape(-1)
    s = np.asarray(y_score, dtype=np.float64).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.size} values but y_score has {s.size}")
    if not np.isin(t, (0, 1)).all():
        raise ValueError("y_true must be binary (0/1)")
    if not np.isfinite(s).all():
        raise ValueError("y_score holds NaN or infinite values")
    return t, s


def auroc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Binary AUROC: probability that a positive scores above a negative (ties count 1/2).

    Parameters
    ----------
    y_true
        Labels, 0/1 or bool, shape (n,).
    y_score
        Scores (any monotone scale: logits or probabilities), shape (n,).

    Returns
    -------
    float
        The AUROC, or NaN with an :class:`UndefinedMetricWarning` when ``y_true`` holds one class
        only (as scikit-learn's ``roc_auc_score``).
    """
    t, s = binary_inputs(y_true, y_score)
    pos = t.astype(bool)
    n_pos = int(pos.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        warnings.warn("only one class is present in y_true: AUROC is undefined", UndefinedMetricWarning, stacklevel=2)
        return float("nan")
    ranks = rankdata(s)  # average ranks for ties
    u = float(ranks[pos].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def auroc_macro(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> tuple[float, npt.NDArray[np.float64]]:
    """Multi-label AUROC: one binary AUROC per label column and their unweighted mean.

    Parameters
    ----------
    y_true
        Labels, shape (n, k), 0/1.
    y_score
        Scores, shape (n, k).

    Returns
    -------
    tuple
        ``(macro, per_label)``. A label with one class only gets NaN (with a warning) and is left out
        of the mean; the mean is NaN when every label is undefined.
    """
    t = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if t.ndim != 2 or t.shape != s.shape:
        raise ValueError(f"y_true and y_score must both be (n, k); got {t.shape} and {s.shape}")
    per = np.array([auroc(t[:, j], s[:, j]) for j in range(t.shape[1])], dtype=np.float64)
    defined = per[~np.isnan(per)]
    return (float(defined.mean()) if defined.size else float("nan")), per
