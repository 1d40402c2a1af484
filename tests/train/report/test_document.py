"""The run report renders from given data: the images exist and the numbers in the text are the inputs'."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from fastmed.train.report import PeerTable, Rate, ReportInputs, RunSummary, write_report
from fastmed.train.report.document import fmt_auroc, fmt_loss, fmt_percent, fmt_rate
from tests.train.report._tables import md_table

sk_metrics = pytest.importorskip("sklearn.metrics")
mpl_image = pytest.importorskip("matplotlib.image")


@pytest.fixture
def inputs(tmp_path: Path) -> ReportInputs:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    labels[:2] = [0, 1]
    scores = labels * 0.8 + rng.normal(0, 0.5, 40)
    montage = tmp_path / "m.png"
    mpl_image.imsave(montage, rng.random((20, 30)))
    peers = PeerTable(
        "r3d", "r3d_128", 2, (Rate("fastmed", 75.46, "patch", True), Rate("monai", 1.537, "patch", False)), "bench"
    )
    runs = [
        RunSummary("MAE pretraining", 123.456, 0.0312, "model", (1.2, 0.9, 0.7654)),
        RunSummary("linear probe", 987.6, 0.61, "data", (0.69, 0.41)),
    ]
    return ReportInputs(
        title="demo",
        facts=[("synthesized", "12 files")],
        peers=peers,
        runs=runs,
        montage=montage,
        probe_labels=labels,
        probe_scores=scores,
        notes=["closing note"],
    )


def test_report_renders_with_numbers_of_the_inputs(inputs: ReportInputs, tmp_path: Path) -> None:
    files = write_report(inputs, tmp_path / "report")
    md, page = files.markdown.read_text(), files.html.read_text()
    assert set(files.images) == {"throughput", "data_wait", "loss", "montage", "roc"}
    for name, img in files.images.items():
        assert img.exists() and img.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert mpl_image.imread(img).shape[0] > 10
        rel = img.relative_to(files.markdown.parent).as_posix()
        assert f"]({rel})" in md and f'src="{rel}"' in page
    runs = md_table(md, "run")
    assert runs == [
        [r.name, str(len(r.losses)), fmt_rate(r.samples_per_s), fmt_percent(r.data_wait_fraction), r.bottleneck,
         fmt_loss(r.losses[0]), fmt_loss(r.losses[-1])]
        for r in inputs.runs
    ]  # fmt: skip
    assert runs[0][2:5] == ["123.5", "3.1 %", "model"] and runs[1][2:5] == ["987.6", "61.0 %", "data"]
    peers = md_table(md, "implementation")
    assert peers == [["fastmed", "75.5", "1.0x (fastmed)"], ["monai", "1.5", f"{75.46 / 1.537:.1f}x"]]
    expected_auroc = sk_metrics.roc_auc_score(inputs.probe_labels, inputs.probe_scores)
    assert files.auroc == pytest.approx(expected_auroc)
    assert f"AUROC {fmt_auroc(expected_auroc)}." in md and f"AUROC {fmt_auroc(expected_auroc)}." in page
    n = len(np.asarray(inputs.probe_labels))
    assert f"on {n} held-out samples ({int(np.sum(inputs.probe_labels))} positive)" in md
    assert "linear probe: the data side is the bottleneck (61.0 % of the loop" in md
    for cell in ("123.5", "3.1 %", "0.7654", "12 files", "closing note"):
        assert cell in page
    tags = "h1|h2|p|img|table|thead|tbody|tr|th|td|html|head|meta|title|style|body"
    assert not re.search(rf"<(?!(!DOCTYPE|/?({tags})\b))", page)  # every other "<" is escaped


def test_report_without_optional_parts(tmp_path: Path) -> None:
    files = write_report(ReportInputs(runs=[RunSummary("r", 1.0, 0.0, "model")]), tmp_path)
    assert set(files.images) == {"data_wait"} and files.auroc is None
    one_class = ReportInputs(probe_labels=[1, 1], probe_scores=[0.2, 0.3])
    files = write_report(one_class, tmp_path / "b")
    assert "one class only" in files.markdown.read_text() and "roc" not in files.images


def test_report_imports_no_torch() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[3]
    code = "import sys, fastmed.train.report; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr
