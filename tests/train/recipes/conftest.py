"""Synthetic archives converted into stores once per session, shared by the recipe tests.

Both use the generator's default ``small`` size (24x64x64 CT/MR volumes, 128x128 radiographs); only the number
of studies differs from the default 6: 12 for the quick tests, 60 for the learning tests, so that the held-out
studies (a quarter, stratified by lesion presence) hold both lesion-present and lesion-free cases and the
held-out metrics rest on 20 series of 10 studies. Nothing else about the archive is made easier.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fastmed as fm
from fastmed.store import convert
from fastmed.synth import generate_archive

SEED = 3


def _store(root: Path, studies: int) -> Path:
    """Archive -> index -> labels.csv joined (``fm.annotate``) -> ``fm.convert`` on a 1-worker local cluster."""
    generate_archive(root / "archive", studies, SEED)
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
    """60 studies (40 CT/MR studies, 80 volumes)."""
    return _store(tmp_path_factory.mktemp("learning"), 60)
