from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from fastmed import Manifest, index
from fastmed.annotations import SeriesGrid
from fastmed.synth import ArchiveInfo, generate_archive

SEED = 2  # lesions in CT, MR and X-ray studies, and studies without any (see tests/synth/conftest.py)


@dataclass(frozen=True)
class Indexed:
    info: ArchiveInfo
    manifest: Manifest


@pytest.fixture(scope="session")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    info = generate_archive(tmp_path_factory.mktemp("annot") / "archive", 6, SEED)
    return Indexed(info, index(info.root, cache=False))


def oblique_grid(shape: tuple[int, int, int] = (7, 9, 11)) -> SeriesGrid:
    """A grid with distinct spacings, a rotated direction and an origin far from 0 (flips are visible)."""
    a, b = np.deg2rad(12.0), np.deg2rad(-7.0)
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return SeriesGrid(shape, (2.5, 0.8, 0.7), (-120.5, 33.25, -410.0), rz @ rx)
