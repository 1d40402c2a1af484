"""examples/monai_to_fastmed.py runs with both loaders, and the two variants differ in the loader line only."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("monai")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "monai_to_fastmed.py"


@pytest.mark.parametrize("loader", ["monai", "fastmed"])
def test_example_runs_two_iterations(loader: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    args = ["--loader", loader, "--iterations", "2", "--cases", "4", "--patch", "16"]
    proc = subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = re.findall(rf"\[{loader}\] iteration \d+: dice loss ([0-9.]+)", proc.stdout)
    assert len(losses) == 2
    if loader == "fastmed":
        assert "data-wait fraction" in proc.stdout


def test_variants_differ_in_the_loader_line_only() -> None:
    text = EXAMPLE.read_text()
    body = text[text.index("# ---- the only change") : text.index("# -----------------------------------------")]
    monai_line = re.search(r"loader = (monai\.data\.DataLoader\(.*\))", body)
    fm_line = re.search(r"loader = (fm\.DataLoader\(.*\))", body)
    assert monai_line and fm_line
    a = monai_line.group(1).replace("monai.data.DataLoader", "X")
    b = fm_line.group(1).replace("fm.DataLoader", "X")
    added = [d for d in difflib.ndiff(a.split(", "), b.split(", ")) if d[0] in "+-"]
    assert added == ["- num_workers=w)", "+ num_workers=w", "+ seed=0)"]
