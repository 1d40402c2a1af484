"""The loader suite at size tiny: every row serves real R3D batches, reports memory, and shuts down.

Checks each row's last batch (float32, ``(2, 1, 32, 32, 32)``, finite), the extra figures
(peak memory of the process tree, the data-wait fraction within [0, 1]), that no worker
process is left behind, and that the report lists the extra figures and the missing rows.
The store source: the store and the ``.npy`` files hold the volumes (oracle: the arrays),
and fastmed's rows from the store serve the batches they serve from the same arrays in memory.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fastmed.bench.harness import run_case
from fastmed.bench.registry import get_suite
from fastmed.bench.report import to_markdown, write_reports

psutil = pytest.importorskip("psutil")

# The peers' torch DataLoaders fork their workers from this process. Forked from a pytest-xdist worker that had
# already run Dask, zarr and torch thread pools for other test files, a MONAI worker hung for good inside its first
# resample; tests/conftest.py runs this file first in its worker, as a fresh process forks (and as users fork).
pytestmark = pytest.mark.forks_workers

PACKAGES = {
    "monai-cache": "monai",
    "torchio-queue": "torchio",
    "bgv2-nnunet": "batchgeneratorsv2",
    "dali-cpu-no-elastic": "nvidia.dali",
}


def _installed(pkg: str) -> bool:
    try:
        return importlib.util.find_spec(pkg) is not None
    except ModuleNotFoundError:  # the parent package (``nvidia``) is absent
        return False


@pytest.fixture(scope="module")
def ran() -> tuple[list, list]:
    cases = get_suite("loader")(size="tiny")
    results = []
    for case in cases:
        results += run_case(case, repeat=1, warmup=1)
    return cases, results


def test_rows_serve_r3d_batches_and_release_their_workers(ran: tuple[list, list]) -> None:
    cases, results = ran
    batches, train = cases
    names = {i.name for i in batches.impls}
    assert "fastmed" in names
    for row, pkg in PACKAGES.items():
        if _installed(pkg):
            assert row in names, batches.missing.get(row)
        else:
            assert row in batches.missing
    assert "fastmed-fast" in names  # the fast path row
    assert "fastmed-fast-1-thread" in names  # its thread scaling
    assert "fastmed-fast-no-elastic" in names  # the fast path on DALI's work
    others = {c.pid for c in psutil.Process().children(recursive=True)}  # e.g. multiprocessing's resource tracker
    for impl in [*batches.impls, *train.impls]:
        out = torch.as_tensor(impl.fn())  # finish tore the row down: this builds it again
        assert impl.finish is not None
        impl.finish()
        assert out.dtype == torch.float32 and tuple(out.shape) == (2, 1, 32, 32, 32), impl.name
        assert np.isfinite(out.numpy()).all()
        ours = [c for c in psutil.Process().children(recursive=True) if c.pid not in others]
        _, alive = psutil.wait_procs(ours, timeout=20)
        assert not alive, f"{impl.name} left worker processes behind"
    for r in results:
        assert r.extra["peak_rss_mib"] > 0 and r.extra["peak_pss_mib"] > 0
    feeding = next(r for r in results if r.impl == "fastmed-feeding")
    assert 0.0 <= feeding.extra["data_wait_fraction"] <= 1.0


def test_report_lists_extra_figures_and_missing_rows(ran: tuple[list, list], tmp_path: Path) -> None:
    cases, results = ran
    missing = {c.name: c.missing for c in cases if c.missing}
    md = to_markdown("loader", results, missing)
    assert "extra figures" in md and "peak_rss_mib" in md and "data_wait_fraction" in md
    assert "fastmed-fast" in md
    paths = write_reports("loader", results, missing, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert all("extra" in r for r in data["results"])


def test_finish_runs_after_timing_even_when_the_row_fails() -> None:
    from fastmed.bench.harness import Case, Impl

    calls: list[str] = []

    def boom() -> None:
        raise RuntimeError("row failed")

    ok = Impl("ok", lambda: None, is_fastmed=True, finish=lambda: calls.append("ok") or {"x": 1.0})
    bad = Impl("bad", boom, finish=lambda: calls.append("bad") or {})
    (res,) = run_case(Case("c", [ok]), repeat=1, warmup=0)
    assert res.extra == {"x": 1.0}
    with pytest.raises(RuntimeError, match="row failed"):
        run_case(Case("c", [bad]), repeat=1, warmup=0)
    assert calls == ["ok", "bad"]


@pytest.mark.skipif(not _installed("nvidia.dali"), reason="nvidia-dali is not installed")
def test_dali_row_runs_the_pipeline_on_the_samples() -> None:
    """The DALI row's first batch is samples 0 and 1 through the R3D pipeline without elastic.

    Oracle: fastmed's CPU backend on the same samples with the same keyed params. DALI's
    noise is its own generator, so the difference is two independent noises of the drawn
    std (std * sqrt(2)), plus interpolation rounding.
    """
    from fastmed.bench.data import ct_volume
    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.bench.suites._loader_dali_rows import dali_cpu, no_elastic
    from fastmed.bench.suites._loader_data import LoaderData
    from fastmed.bench.suites._loader_rows import Volumes
    from fastmed.bench.suites.augment_r3d import spec_for

    shape, spec = spec_for("tiny")
    vols = [ct_volume(shape)] + [ct_volume(shape)[:, ::-1].copy() for _ in range(3)]
    row = dali_cpu(LoaderData(vols), spec, batches=1)
    try:
        got = torch.as_tensor(row()).numpy()
    finally:
        row.finish()
    aug = build(no_elastic(spec))
    ds = Volumes(vols)
    for i in range(2):
        want = aug(ds[i], seed=0, index=i, epoch=0)
        (noise,) = [op["params"]["std"] for op in want["params"]["ops"] if op["op"] == "RandomGaussianNoise"]
        resid = got[i] - np.asarray(want["image"])
        assert abs(float(resid.mean())) < 0.01
        assert float(resid.std()) == pytest.approx(noise * np.sqrt(2), rel=0.1, abs=2e-3)


# ---- the store source ---------------------------------------------------------------------


def test_size_names_the_source() -> None:
    from fastmed.bench.suites.loader import split_size

    assert split_size("tiny") == ("tiny", "memory")
    assert split_size("full") == ("full", "store")
    assert split_size("small-store") == ("small", "store")
    assert split_size("full-memory") == ("full", "memory")
    assert split_size("small", "store") == ("small", "store")
    with pytest.raises(ValueError, match="source"):
        split_size("small-disk")
    with pytest.raises(ValueError, match="source"):
        split_size("small-store", "memory")


@pytest.fixture(scope="module")
def store_data() -> object:
    from fastmed.bench.suites._loader_data import loader_data
    from fastmed.bench.suites.augment_r3d import spec_for

    shape, _ = spec_for("tiny")
    return loader_data(shape, 4, "store")


def test_store_and_npy_hold_the_volumes(store_data: object) -> None:
    from fastmed.bench.suites._loader_data import LoaderData, noisy_volume
    from fastmed.bench.suites.augment_r3d import spec_for

    assert isinstance(store_data, LoaderData) and store_data.store is not None and store_data.arrays is None
    shape, _ = spec_for("tiny")
    ds = store_data.fastmed_dataset()
    n = len(store_data.npy)
    assert n == 4 and len(ds) == n * 64
    loaded = store_data.vols
    for i in range(n):
        vol = noisy_volume(shape, i)  # the oracle: the volume the suite wrote
        item = ds[i + n]  # item i is volume i % n
        handle = item["image"]
        assert tuple(item["spacing"]) == (1.0, 1.0, 1.0)
        got = np.asarray(handle.read_window((0, 0, 0), tuple(handle.shape)))
        np.testing.assert_array_equal(got.reshape(vol.shape), vol)
        mm = store_data.nnunet_arrays()[i]
        assert isinstance(mm, np.memmap)
        np.testing.assert_array_equal(mm, vol)
        np.testing.assert_array_equal(loaded[i], vol)
    assert not np.array_equal(loaded[0], loaded[1])  # each volume has its own noise


def test_store_rows_serve_the_batches_of_the_same_arrays_in_memory(store_data: object) -> None:
    from fastmed.bench.suites import _loader_rows as rows
    from fastmed.bench.suites._loader_data import LoaderData
    from fastmed.bench.suites.augment_r3d import spec_for

    assert isinstance(store_data, LoaderData)
    _, spec = spec_for("tiny")
    memory = LoaderData(store_data.vols)
    others = {c.pid for c in psutil.Process().children(recursive=True)}
    for make in (rows.fastmed_fast, rows.fastmed_fast_one_thread, rows.fastmed_image_only):
        got, want = make(store_data, spec, 1), make(memory, spec, 1)
        try:
            a, b = torch.as_tensor(got()).numpy(), torch.as_tensor(want()).numpy()
        finally:
            got.finish()
            want.finish()
        assert a.shape == (2, 1, 32, 32, 32) and np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=make.__name__)
    if _installed("batchgeneratorsv2"):
        row = rows.bgv2_nnunet(store_data, spec, 1)
        try:
            out = torch.as_tensor(row())
        finally:
            row.finish()
        assert tuple(out.shape) == (2, 1, 32, 32, 32)
    ours = [c for c in psutil.Process().children(recursive=True) if c.pid not in others]
    _, alive = psutil.wait_procs(ours, timeout=20)
    assert not alive


def test_store_suite_names_its_cases(store_data: object) -> None:
    cases = get_suite("loader")(size="tiny-store")
    assert [c.name for c in cases] == ["r3d batches 2x32^3 from store", "train step 2x32^3 from store"]
    assert {"fastmed-fast", "fastmed-fast-1-thread"} <= {i.name for i in cases[0].impls}
