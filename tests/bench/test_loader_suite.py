"""The loader suite at size tiny: every row serves real R3D batches, reports memory, and shuts down.

Checks each row's last batch (float32, ``(2, 1, 32, 32, 32)``, finite), the extra figures
(peak memory of the process tree, the data-wait fraction within [0, 1]), that no worker
process is left behind, and that the report lists the extra figures and the missing rows.
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

PACKAGES = {"monai-cache": "monai", "torchio-queue": "torchio", "bgv2-nnunet": "batchgeneratorsv2"}


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
        if importlib.util.find_spec(pkg) is not None:
            assert row in names, batches.missing.get(row)
        else:
            assert row in batches.missing
    assert "fastmed-fast" in names  # the fast path row
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
