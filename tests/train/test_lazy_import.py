"""``import fastmed`` and the numpy-only parts of fastmed.train never import torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_numpy_parts_do_not_import_torch() -> None:
    code = (
        "import sys, fastmed, fastmed.train, fastmed.train.metrics, fastmed.train.models,"
        " fastmed.train.models.masking, fastmed.train.models.config, fastmed.train.engine, fastmed.train.text;"
        " import fastmed.train.text.tokenizer;"
        " print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.stdout.strip() == "False", out.stderr
