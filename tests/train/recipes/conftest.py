"""Synthetic archives converted into stores once per session, shared by the recipe tests.

Both use the generator's default ``small`` size (24x64x64 CT/MR volumes, 128x128 radiographs); only the number
of studies differs from the default 6: 12 for the quick tests, 60 for the segmentation learning test and 240 for
the MAE, probe and CLIP learning tests, so that the held-out studies (a quarter, stratified by lesion presence)
hold both lesion-present and lesion-free cases; the probe and CLIP metrics rest on 80 held-out series of 40
CT/MR studies (on 10 studies one CLIP pair moved recall@1 by 0.45x chance and the probe's AUROC by ~0.05, so the
split, not the model, decided a pass), and the probe trains on 120 studies (on 60, with 16 lesion-free, its
frozen-feature fit varied by ~0.1 between seeds). The learning archive's lesions are also made easier, and this
is the only other change: ``lesion_scale=2`` (the smallest lesion radius doubled: 7-30 voxels across instead of
3-6 in 64x64 slices), which the lesion-presence probe needs (see docs/train.md, "Learning tests"). Segmentation
does not need it (its Dice is lower on the larger lesions) and trains on a default 60-study archive.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fastmed as fm
from fastmed.store import convert
from fastmed.synth import generate_archive

SEED = 3


LEARNING_LESION_SCALE = 2.0
"""Smallest lesion radius of the learning archive, as a multiple of the generator's default."""

LEARNING_STUDIES = 240
"""Studies of the MAE / probe / CLIP learning archive: 160 CT/MR studies, 40 of them (80 series) held out."""


def _store(root: Path, studies: int, lesion_scale: float = 1.0) -> Path:
    """Archive -> index -> labels.csv joined (``fm.annotate``) -> ``fm.convert`` on a 1-worker local cluster."""
    generate_archive(root / "archive", studies, SEED, lesion_scale=lesion_scale)
    man = fm.index(root / "archive", cache=False)
    annotated = fm.annotate(man, root / "archive" / "labels.csv", how="left", multilabel="findings")
    store = root / "cache.zarr"
    res = convert(annotated, store, workers=1, progress=False)
    assert not res.failed
    return store


@pytest.fixture(scope="session")
def recipe_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 studies (8 CT/MR studies, 16 volumes)."""
    return _store(tmp_path_factory.mktemp("recipes"), 12)


@pytest.fixture(scope="session")
def learning_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """120 studies (80 CT/MR studies, 160 volumes), lesions ``LEARNING_LESION_SCALE`` times the default size."""
    return _store(tmp_path_factory.mktemp("learning"), LEARNING_STUDIES, LEARNING_LESION_SCALE)


@pytest.fixture(scope="session")
def seg_learning_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 studies with the generator's default lesions (the segmentation learning test)."""
    return _store(tmp_path_factory.mktemp("seg_learning"), 60)
