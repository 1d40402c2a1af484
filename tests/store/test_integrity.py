"""Integrity: corrupt chunks are named on read and by verify; SIGKILL, a dying worker and a full disk
leave a store that the next run completes and that verify passes."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import fastmed as fm
from fastmed.store import layout
from fastmed.store.chunks import array_info, decode_chunk
from fastmed.store.cluster import local_cluster


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4] = bytes(b ^ 0xFF for b in data[mid : mid + 4])
    path.write_bytes(bytes(data))


def _published(store: Path) -> list[str]:
    return [d.name for d in store.iterdir() if d.is_dir() and (d / "zarr.json").exists()] if store.exists() else []


def _assert_complete(store: Path, manifest: fm.Manifest) -> None:
    """Every series published, equal to read_series, and verify passes."""
    rep = fm.verify(store)
    assert rep.ok, str(rep)
    assert rep.series == len(manifest.valid)
    s = fm.open_store(store)
    for row in manifest.valid:
        np.testing.assert_array_equal(s.read(row.series_id), fm.read_series(row.paths, series=row.series_id).array)


def test_corrupt_chunk_is_named_on_read_and_by_verify(tmp_path: Path, store: Path, manifest: fm.Manifest) -> None:
    copy = tmp_path / "c.zarr"
    shutil.copytree(store, copy)
    row = next(r for r in manifest.valid if r.shape[0] > 1)
    _flip(copy / row.series_id / "image" / "c" / "0" / "0" / "0")
    with pytest.raises(fm.CacheError, match=rf"series {row.series_id} image chunk \(0, 0, 0\).*crc32c"):
        fm.open_store(copy).read(row.series_id)
    rep = fm.verify(copy)
    assert not rep.ok
    assert [(b.series_id, b.array, b.chunk) for b in rep.bad_chunks] == [(row.series_id, "image", (0, 0, 0))]
    cli = subprocess.run(
        [sys.executable, "-m", "fastmed", "verify", str(copy)], capture_output=True, text=True, timeout=120
    )
    assert cli.returncode == 1
    assert f"series {row.series_id} image chunk (0, 0, 0)" in cli.stdout
    # A lost chunk file is found too.
    other = next(r for r in manifest.valid if r.shape[0] > 1 and r.series_id != row.series_id)
    (copy / other.series_id / "label" / "c" / "0" / "0" / "0").unlink()
    assert {(b.series_id, b.array) for b in fm.verify(copy).bad_chunks} == {
        (row.series_id, "image"),
        (other.series_id, "label"),
    }


def test_verify_passes_on_a_fresh_store(store: Path) -> None:
    rep = fm.verify(store)
    assert rep.ok and rep.chunks > 0, str(rep)
    cli = subprocess.run([sys.executable, "-m", "fastmed", "verify", str(store)], capture_output=True, timeout=120)
    assert cli.returncode == 0


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigkill_mid_conversion_then_rerun(tmp_path: Path, manifest: fm.Manifest) -> None:
    out = tmp_path / "k.zarr"
    cmd = [sys.executable, "-m", "fastmed", "convert", manifest.root, "-o", str(out), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    killed_while_running = False
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if _published(out) or (layout.tmp_root(out).exists() and any(layout.tmp_root(out).iterdir())):
                break  # it started writing
            time.sleep(0.002)
        time.sleep(random.uniform(0.0, 0.1))
        killed_while_running = proc.poll() is None
        os.kill(proc.pid, signal.SIGKILL)  # the CLI process (it runs the scheduler and the nannies)
    finally:
        proc.wait(timeout=60)
    assert killed_while_running, "conversion finished before the kill; the archive is too small"
    # Its worker processes notice and exit by themselves (same process group, own session).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _group_alive(proc.pid):
        time.sleep(0.05)
    alive = _group_alive(proc.pid)
    if alive:
        os.killpg(proc.pid, signal.SIGKILL)
    assert not alive, "Dask worker processes outlived the killed conversion"
    assert len(_published(out)) < len(manifest.valid)
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "up to date" in rerun.stdout
    _assert_complete(out, manifest)


@pytest.fixture
def cluster2_own() -> Iterator[Any]:
    """A cluster of its own: one of its workers gets killed."""
    with local_cluster(2) as cluster:
        yield cluster


def test_worker_killed_mid_run(tmp_path: Path, manifest: fm.Manifest, cluster2_own: Any) -> None:
    from distributed import Client

    out = tmp_path / "w.zarr"
    killed: list[int] = []
    state: dict[str, int] = {}

    def killer() -> None:
        with Client(cluster2_own.scheduler_address, timeout=30) as client:
            pids = client.run(os.getpid)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not _published(out):
                time.sleep(0.005)
            state["published_at_kill"] = len(_published(out))
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    t = threading.Thread(target=killer)
    t.start()
    try:
        res = fm.convert(
            manifest, out, chunks=(8, 32, 32), slab=8, scheduler=cluster2_own.scheduler_address, progress=False
        )
    finally:
        t.join(timeout=150)
    assert killed, "no worker was killed"
    assert state["published_at_kill"] < len(manifest.valid), "conversion finished before the kill"
    assert not res.failed and len(res.converted) == len(manifest.valid)
    _assert_complete(out, manifest)


def test_disk_full_gives_cache_error_and_no_half_published_series(
    tmp_path: Path, manifest: fm.Manifest, cluster1: Any
) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        out = mnt / "full.zarr"
        with pytest.raises(fm.CacheError, match="disk full"):
            fm.convert(manifest, out, scheduler=cluster1.scheduler_address, progress=False)
        published = _published(out)
        assert len(published) < len(manifest.valid)
        for sid in published:  # whatever was published is complete and sound
            g = zarr.open_group(str(out / sid), mode="r")
            assert g.attrs["fastmed"]["series_id"] == sid
            info = array_info(out / sid / "image", sid)
            for idx in info.all_chunks():
                decode_chunk(info, idx)
        assert not layout.tmp_root(out).exists() or not any(layout.tmp_root(out).iterdir())
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
