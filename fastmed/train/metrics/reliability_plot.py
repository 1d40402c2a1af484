"""Reliability diagram written as a PNG (matplotlib, headless)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy.typing as npt

from fastmed.train.metrics._figure import png_axes
from fastmed.train.metrics.calibration import expected_calibration_error, reliability_curve


def save_reliability_diagram(
    y_true: npt.ArrayLike, y_prob: npt.ArrayLike, path: str | PathLike[str], n_bins: int = 10, title: str = ""
) -> Path:
    """Plot observed frequency against mean confidence per bin, with the diagonal and the ECE.

    Parameters
    ----------
    y_true
        Binary labels, shape (n,).
    y_prob
        Predicted probabilities, shape (n,).
    path
        Output PNG path (parent folders are created).
    n_bins
        Number of equal-width bins.
    title
        Optional title prefix.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    curve = reliability_curve(y_true, y_prob, n_bins)
    ece = expected_calibration_error(y_true, y_prob, n_bins)
    with png_axes(path, (4.5, 4.5)) as ax:
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
        ax.plot(curve.mean_confidence, curve.frac_positive, "o-", label="model")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("fraction of positives")
        ax.set_title(f"{title + ': ' if title else ''}ECE = {ece:.3f} ({n_bins} bins)")
        ax.legend(loc="upper left")
    return Path(path)
