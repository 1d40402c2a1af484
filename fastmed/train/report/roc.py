"""The ROC curve of binary scores (every distinct threshold, as scikit-learn's ``roc_curve``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fastmed.train.metrics.auroc import binary_inputs

F64 = npt.NDArray[np.float64]


def roc_curve(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> tuple[F64, F64, F64]:
    """False- and true-positive rates at every distinct score threshold, from the highest down.

    Parameters
    ----------
    y_true
        Labels, 0/1 or bool, shape (n,), both classes present.
    y_score
        Scores, shape (n,), finite.

    Returns
    -------
    fpr, tpr, thresholds
        Starting at ``(0, 0)`` with threshold ``inf``; a sample counts as positive when its score is
        ``>= threshold`` (scikit-learn's ``roc_curve(..., drop_intermediate=False)``).
    """
    t, s = binary_inputs(y_true, y_score)
    pos = t.astype(bool)
    n_pos = int(pos.sum())
    n_neg = t.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the ROC curve needs both classes in y_true")
    order = np.argsort(-s, kind="mergesort")
    s_sorted = s[order]
    last = np.r_[np.flatnonzero(np.diff(s_sorted)), s.size - 1]  # last index of each distinct score
    tps = np.cumsum(pos[order])[last].astype(np.float64)
    fps = (last + 1) - tps
    fpr = np.r_[0.0, fps / n_neg]
    tpr = np.r_[0.0, tps / n_pos]
    return fpr, tpr, np.r_[np.inf, s_sorted[last]]
