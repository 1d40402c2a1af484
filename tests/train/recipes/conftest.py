"""One synthetic archive converted into a store per session, shared by the recipe tests.

The archive is the generator's default ``small`` size (24x64x64 CT/MR volumes) with 36 studies instead of the
default 6, so that the held-out studies hold both lesion-present and lesion-free cases; nothing else is changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import fastmed as fm
from fastmed.store import convert
from fastmed.synth import generate_archive

STUDIES = 36
SEED = 3


@pytest.fixture(scope="session")
def recipe_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Archive -> index -> labels.csv joined (``fm.annotate``) -> ``fm.convert`` on a 1-worker local cluster."""
    root = tmp_path_factory.mktemp("recipes")
    generate_archive(root / "archive", STUDIES, SEED)
    man = fm.index(root / "archive", cache=False)
    annotated = fm.annotate(man, root / "archive" / "labels.csv", how="left", multilabel="findings")
    store = root / "cache.zarr"
    res = convert(annotated, store, workers=1, progress=False)
    assert not res.failed
    return store
