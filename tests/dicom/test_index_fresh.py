"""First index of a fresh tree vs the cached re-index, the cache's columnar rows, and study ids.

Oracles: the re-index from the cache (rows read back value by value), the reference header
path (``read_slice_infos``) for what the cache holds, and pydicom for StudyInstanceUID.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from fastmed.dicom import index_cache
from fastmed.dicom.index import index, wait_for_cache_writes
from fastmed.dicom.manifest import Manifest
from fastmed.dicom.slice_reader import read_slice_infos
from fastmed.privacy import keyed_id
from fastmed.synth import EDGE_CASES, generate_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fresh")
    generate_archive(root, 6, 3, edge_cases=EDGE_CASES)
    (root / "notes.txt").write_text("not dicom")
    (root / "empty.dcm").write_bytes(b"")
    return root


EXTRA = ("emri_small.dcm", "CT_small.dcm", "image_dfl.dcm", "MR_small_bigendian.dcm", "rtdose.dcm")


def _copy(src: Path, dst: Path, extra: bool = False) -> Path:
    """A fresh copy of `src`; with `extra`, also multi-frame, deflated and big-endian files from pydicom's set."""
    shutil.copytree(src, dst)
    if extra:
        (dst / "extra").mkdir()
        for name in EXTRA:
            shutil.copy(pydicom.data.get_testdata_file(name), dst / "extra" / name)
    return dst


def test_fresh_tree_equals_cached_reindex(archive: Path, tmp_path: Path) -> None:
    root = _copy(archive, tmp_path / "a", extra=True)
    cache = tmp_path / "cache.parquet"
    fresh = index(root, cache=cache, threads=2)
    wait_for_cache_writes()
    assert cache.exists()
    calls: list[str] = []

    def counting(path: str):  # type: ignore[no-untyped-def]
        calls.append(path)
        return read_slice_infos(path)

    cached = index(root, cache=cache, header_reader=counting)
    assert calls == []  # every file came from the cache
    assert cached.rows == fresh.rows and cached.rejected == fresh.rejected
    assert fresh.rejected  # the non-DICOM files are there, with reasons
    # No cache at all, and the Python reader path: the same manifest.
    assert index(root, cache=False, threads=1).rows == fresh.rows
    assert index(root, cache=False, header_reader=read_slice_infos).rows == fresh.rows
    # Touch one file: only it is read again, and the manifest is unchanged.
    one = next(root.rglob("IM_0001.dcm"))
    os.utime(one, ns=(one.stat().st_atime_ns, one.stat().st_mtime_ns + 10**9))
    again = index(root, cache=cache, header_reader=counting)
    assert calls == [str(one)]
    assert again.rows == fresh.rows and again.rejected == fresh.rejected


def test_cache_columns_equal_the_header_path(archive: Path, tmp_path: Path) -> None:
    root = _copy(archive, tmp_path / "a", extra=True)
    cache = tmp_path / "cache.parquet"
    index(root, cache=cache)
    wait_for_cache_writes()
    base = str(root.resolve()) + os.sep
    entries = index_cache.load(cache, base)
    for rel, (size, mtime, parsed) in entries.items():
        st = os.stat(base + rel)
        assert (size, mtime) == (st.st_size, st.st_mtime_ns)
        if isinstance(parsed, str):
            continue
        want = [dataclasses.replace(s, series_uid=keyed_id(s.series_uid)) for s in read_slice_infos(base + rel)]
        assert [_norm(s) for s in parsed] == [_norm(s) for s in want], rel


def _norm(s: object) -> str:
    return repr(s)  # NaN-safe equality of every field


def test_study_id_is_the_keyed_study_uid(archive: Path, tmp_path: Path) -> None:
    root = _copy(archive, tmp_path / "a")
    man = index(root, cache=tmp_path / "c.parquet")
    wait_for_cache_writes()
    uids = set()
    by_study: dict[str, set[str]] = {}
    for row in man:
        study_uids = {str(pydicom.dcmread(p, stop_before_pixels=True).StudyInstanceUID) for p in row.paths}
        assert len(study_uids) == 1
        uid = study_uids.pop()
        uids.add(uid)
        assert row.study_id == keyed_id(uid)
        by_study.setdefault(uid, set()).add(row.study_id)
        assert row.paths[0].parent.parent.name.startswith("study_")
    assert all(len(ids) == 1 for ids in by_study.values())
    assert len(uids) == 6
    # Series of one study folder share the id; other studies have other ids.
    folders: dict[str, set[str]] = {}
    for row in man:
        folders.setdefault(row.files[0].split(os.sep)[0], set()).add(row.study_id)
    assert all(len(v) == 1 for v in folders.values()) and len({next(iter(v)) for v in folders.values()}) == 6
    # The raw UIDs appear nowhere: manifest, its parquet, repr, cache.
    out = tmp_path / "m.parquet"
    man.to_parquet(out)
    assert Manifest.from_parquet(out).rows == man.rows
    texts = [out.read_bytes(), (tmp_path / "c.parquet").read_bytes(), repr(man).encode(), str(man.rows).encode()]
    texts += [repr(r).encode() for r in man]
    for uid in uids:
        assert not any(uid.encode() in t for t in texts)


def _child_waits(root: str) -> None:
    wait_for_cache_writes()  # the parent's writer thread is not in the child: nothing to wait for


def test_forked_child_does_not_wait_for_the_parents_writer(archive: Path, tmp_path: Path) -> None:
    import multiprocessing

    root = _copy(archive, tmp_path / "a")
    index(root, cache=tmp_path / "c.parquet")  # its cache write may still be running at the fork
    proc = multiprocessing.get_context("fork").Process(target=_child_waits, args=(str(root),))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    wait_for_cache_writes()
    assert (tmp_path / "c.parquet").exists()
