"""Short fixed-budget atheris run over the native parser + regression inputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastmed.dicom import read_header, read_pixels
from fastmed.errors import DicomError

from . import _craft as c
from ._realworld import seeds as realworld_seeds
from ._testdata import data_dirs

HERE = Path(__file__).parent
CRASHES = HERE / "fuzz" / "crashes"
RUNS = int(os.environ.get("FASTMED_FUZZ_RUNS", "3000"))


def _seed_corpus(dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    picks = [
        "CT_small.dcm",
        "MR_small_RLE.dcm",
        "JPEG2000.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "image_dfl.dcm",
        "ExplVR_BigEnd.dcm",
        "MR_small_implicit.dcm",
        "nested_priv_SQ.dcm",
        "UN_sequence.dcm",
    ]
    for d in data_dirs():
        for name in picks:
            p = d / name
            if p.is_file() and p.stat().st_size < 200_000:
                (dst / name).write_bytes(p.read_bytes())
    (dst / "generated_pydicom.dcm").write_bytes(c.pydicom_file())
    for name, data in realworld_seeds().items():  # vendor structures (tests/dicom/_realworld.py)
        (dst / name).write_bytes(data)
    (dst / "generated_encaps.dcm").write_bytes(
        c.meta("1.2.840.10008.1.2.4.50") + c.image_module(frames=2) + c.encapsulated([b"\xff\xd8\xff\xd9"] * 2)
    )


@pytest.mark.slow
def test_fuzz_short_budget(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    _seed_corpus(corpus)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    cmd = [
        sys.executable,
        str(HERE / "fuzz" / "fuzz_header.py"),
        str(corpus),
        f"-runs={RUNS}",
        "-max_len=65536",
        f"-artifact_prefix={artifacts}/",
        "-max_total_time=40",
    ]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    found = sorted(artifacts.iterdir())
    if found:  # keep them as regression cases
        CRASHES.mkdir(parents=True, exist_ok=True)
        for f in found:
            (CRASHES / f.name).write_bytes(f.read_bytes())
    assert proc.returncode == 0 and not found, proc.stderr[-3000:]


def _crash_inputs() -> list[Path]:
    return sorted(p for p in CRASHES.glob("*") if p.is_file() and p.name != ".gitkeep") if CRASHES.exists() else []


@pytest.mark.parametrize("path", _crash_inputs(), ids=lambda p: p.name)
def test_crash_regressions(path: Path) -> None:
    data = path.read_bytes()
    try:
        read_header(data)
        read_pixels(data)
    except DicomError:
        pass
