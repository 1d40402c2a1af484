"""The report's label-efficiency section, several peer tables, and the bottleneck rule: numbers are the inputs'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastmed.train.report import LabelCurve, PeerTable, Rate, ReportInputs, RunSummary, write_report
from fastmed.train.report.document import fmt_auroc
from tests.train.report._tables import md_table

mpl_image = pytest.importorskip("matplotlib.image")


def test_label_efficiency_section_shows_the_curve(tmp_path: Path) -> None:
    curve = LabelCurve("auroc", (0.01, 0.1, 1.0), (2, 4, 40), (0.61234, float("nan"), 0.9), 16)
    files = write_report(ReportInputs(label_efficiency=curve), tmp_path)
    md, page = files.markdown.read_text(), files.html.read_text()
    png = files.images["label_efficiency"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and mpl_image.imread(png).shape[0] > 10
    assert "](plots/label_efficiency.png)" in md and 'src="plots/label_efficiency.png"' in page
    assert md_table(md, "labels used") == [
        ["1 %", "2", fmt_auroc(0.61234)],
        ["10 %", "4", "undefined"],
        ["100 %", "40", fmt_auroc(0.9)],
    ]
    assert "same 16 held-out series" in md


def test_label_curve_of_a_sweep_result() -> None:
    class Sweep:
        metric, fractions, labelled, scores, holdout_series = "auroc", [0.1, 1.0], [3, 30], [0.5, np.float64(0.8)], 9

    c = LabelCurve.of(Sweep())
    assert c == LabelCurve("auroc", (0.1, 1.0), (3, 30), (0.5, 0.8), 9)


def test_each_peer_table_gets_its_table_and_plot(tmp_path: Path) -> None:
    aug = PeerTable(
        "r3d", "r3d_128", 2, (Rate("fastmed", 75.0, "patch", True), Rate("monai", 1.5, "patch", False)), "a"
    )
    loader = PeerTable(
        "loader",
        "batches",
        1,
        (
            Rate("fastmed-fast", 150.0, "batch", True),
            Rate("fastmed-no-elastic", 200.0, "batch", False),
            Rate("torchio", 30.0, "batch", False),
        ),
        "b",
    )
    files = write_report(ReportInputs(peers=[aug, loader]), tmp_path)
    md = files.markdown.read_text()
    assert {"throughput", "throughput_1"} <= set(files.images)
    assert md.count("## Throughput against peers") == 1
    tables = md.split("Source: ")[1:]
    assert md_table(tables[0], "implementation") == [["fastmed", "75.0", "1.0x (fastmed)"], ["monai", "1.5", "50.0x"]]
    assert md_table(tables[1], "implementation") == [
        ["fastmed-no-elastic", "200.0", f"{150 / 200:.2f}x (fastmed slower)"],
        ["fastmed-fast", "150.0", "1.0x (fastmed)"],
        ["torchio", "30.0", "5.0x"],
    ]


def test_bottleneck_rule_is_stated(tmp_path: Path) -> None:
    runs = [RunSummary("mae", 10.0, 0.49, "model"), RunSummary("probe", 10.0, 0.5, "data")]
    md = write_report(ReportInputs(runs=runs), tmp_path).markdown.read_text()
    assert "mae: the model side is the bottleneck (49.0 %" in md
    assert "probe: the data side is the bottleneck (50.0 %" in md
    assert "at least half its time waiting" in md
