"""Synthetic reports written by fastmed.synth's report writer, with varied lesions."""

from __future__ import annotations

import numpy as np

from fastmed.synth.lesions import Lesion
from fastmed.synth.report import write_report

_PLACES = [("right lung", "right upper lung"), ("left lung", "left lower lung"), ("liver", "left hepatic lobe")]


def synthetic_reports(n: int, seed: int = 0) -> list[str]:
    """``n`` reports over CT/MR/CR with 0-3 lesions of random size, place and density."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        kind = ["CT", "MR", "CR"][i % 3]
        lesions = []
        for j in range(int(rng.integers(0, 4))):
            organ, where = _PLACES[int(rng.integers(0, 3))]
            r = float(rng.uniform(2, 15))
            lesions.append(
                Lesion(j + 1, (0.0, 0.0, 0.0), (r, r, r), organ, where, float(rng.uniform(-50, 120)), "solid")
            )
        out.append(write_report(kind, lesions))
    return out
