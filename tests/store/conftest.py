"""Shared fixtures: one synthetic archive, its manifest and annotations, real Dask clusters on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import fastmed as fm
from fastmed.privacy import keyed_id
from fastmed.store.cluster import local_cluster
from fastmed.synth import ArchiveInfo, generate_archive

SEED = 2


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(tmp_path_factory.mktemp("store") / "archive", 6, SEED)


@pytest.fixture(scope="session")
def manifest(archive: ArchiveInfo) -> fm.Manifest:
    return fm.index(archive.root, cache=False)


def truth_annotations(archive: ArchiveInfo) -> dict[str, dict[str, Any]]:
    """Per-series annotations from the generator's ground truth (as ``fm.annotate`` would give)."""
    out = {}
    for st in archive.studies:
        for se in st.series:
            out[keyed_id(se.series_uid)] = {
                "classes": {"lesion_count": st.lesion_count, "lesion": int(st.lesion_count > 0)},
                "report": (Path(archive.root) / se.report).read_text(),
                "mask": str(Path(archive.root) / se.labels),
            }
    return out


@pytest.fixture(scope="session")
def annotations(archive: ArchiveInfo) -> dict[str, dict[str, Any]]:
    return truth_annotations(archive)


def _cluster(n: int) -> Iterator[Any]:
    with local_cluster(n) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def cluster1() -> Iterator[Any]:
    yield from _cluster(1)


@pytest.fixture(scope="session")
def cluster2() -> Iterator[Any]:
    yield from _cluster(2)


@pytest.fixture(scope="session")
def store(
    tmp_path_factory: pytest.TempPathFactory, manifest: fm.Manifest, annotations: dict[str, Any], cluster2: Any
) -> Path:
    """The archive converted once on a 2-worker cluster, with masks, classes and reports."""
    path = tmp_path_factory.mktemp("store") / "cache.zarr"
    res = fm.convert(manifest, path, annotations, scheduler=cluster2, progress=False)
    assert not res.failed and len(res.converted) == len(manifest.valid)
    return path


@pytest.fixture(params=["native", "python"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test once with the native chunk loop (C++) and once with the Python one."""
    from fastmed.store import native_read

    if request.param == "python":
        monkeypatch.setattr(native_read, "usable", lambda info: False)
    else:
        assert native_read.blosc_decoder() is not None, "imagecodecs' libblosc was not found: native reads untested"
    return str(request.param)
