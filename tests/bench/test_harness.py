"""The bench harness: statistics, ratios and the three report formats on a real (tiny) suite."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from fastmed.bench.harness import Case, Impl, measure, ratios, run_case
from fastmed.bench.registry import SUITES, get_suite
from fastmed.bench.report import write_reports
from fastmed.cli import main


def test_measure_counts_warmup_and_repeats() -> None:
    calls = []
    times = measure(lambda: calls.append(1), repeat=5, warmup=2)
    assert len(calls) == 7 and len(times) == 5


def test_ratio_reflects_real_work() -> None:
    # A 10x gap in real work: wide enough that scheduler noise on a loaded 2-core machine
    # (a sleep can overrun by milliseconds) cannot hide it.
    def slow() -> None:
        time.sleep(0.03)

    def fast() -> None:
        time.sleep(0.003)

    case = Case("sleep", [Impl("fastmed", fast, is_fastmed=True), Impl("peer", slow)])
    res = run_case(case, repeat=7, warmup=1)
    r = ratios(res)["peer"]
    assert 2 < r < 12
    med = {x.impl: x.median_s for x in res}
    assert med["peer"] >= 0.03
    q1, q3 = np.percentile(res[0].times_s, [25, 75])
    assert res[0].iqr_s == pytest.approx(q3 - q1)


def test_rng_suite_reports(tmp_path: Path) -> None:
    cases = get_suite("rng")(size="tiny", threads=(1, 2))
    assert "rng" in SUITES
    results = [r for c in cases for r in run_case(c, repeat=3, warmup=1)]
    paths = write_reports("rng", results, {}, tmp_path)
    data = json.loads(paths["json"].read_text())
    assert data["environment"]["cpu_count"] >= 1
    assert {r["impl"] for r in data["results"]} >= {"fastmed", "numpy-philox"}
    assert all(r["median_s"] > 0 for r in data["results"])
    md = paths["md"].read_text()
    assert "| case | threads | impl |" in md and "fastmed" in md
    if "png" in paths:
        assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["bench", "rng", "--size", "tiny", "--threads", "1", "--repeat", "2", "--warmup", "0", "--out", str(tmp_path)]
    )
    assert code == 0
    assert (tmp_path / "rng.json").exists() and (tmp_path / "rng.md").exists()
    assert "numpy-philox" in capsys.readouterr().out
