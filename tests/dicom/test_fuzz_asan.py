"""The fuzz inputs replayed through an AddressSanitizer build of the extension.

Builds fastmed._core with FASTMED_ASAN=1 into a temporary copy of the sources, then runs
tests/dicom/fuzz/asan_replay.py (seed files, every kept crash input, and deterministic
truncations and byte overwrites of each) with libasan preloaded. Skips where gcc has no
libasan.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._realworld import seeds as realworld_seeds
from ._testdata import data_dirs

ROOT = Path(__file__).resolve().parents[2]
FUZZ = Path(__file__).parent / "fuzz"
SEEDS = [
    "CT_small.dcm",
    "MR_small_RLE.dcm",
    "JPEG2000.dcm",
    "image_dfl.dcm",
    "ExplVR_BigEnd.dcm",
    "MR_small_implicit.dcm",
    "nested_priv_SQ.dcm",
    "emri_small_jpeg_2k_lossless.dcm",
    "JPEG-LL.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
]


def _runtime(name: str) -> str | None:
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    out = subprocess.run([gcc, f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    return out if out and os.path.isabs(out) and os.path.exists(out) else None


@pytest.mark.slow(minutes=4)
def test_asan_replay(tmp_path: Path) -> None:
    asan, stdcxx = _runtime("libasan.so"), _runtime("libstdc++.so")
    if asan is None or stdcxx is None:
        pytest.skip("gcc's libasan/libstdc++ runtime not found: AddressSanitizer build not possible here")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "csrc", src / "csrc")
    shutil.copytree(ROOT / "fastmed", src / "fastmed", ignore=shutil.ignore_patterns("*.so", "__pycache__", "_csrc"))
    env = dict(os.environ, FASTMED_ASAN="1", FASTMED_BUILD_JOBS="2")
    build = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--inplace"], cwd=src, env=env, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr[-3000:]
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for d in data_dirs():
        for name in SEEDS:
            if (d / name).is_file() and (d / name).stat().st_size < 200_000:
                shutil.copy(d / name, seeds / name)
    for name, data in realworld_seeds().items():  # vendor structures (tests/dicom/_realworld.py)
        (seeds / name).write_bytes(data)
    run_env = dict(
        os.environ,
        PYTHONPATH=str(src),
        LD_PRELOAD=f"{asan} {stdcxx}",
        ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1:abort_on_error=1",
        FASTMED_ASAN_BUDGET="60",
    )
    proc = subprocess.run(
        [sys.executable, str(FUZZ / "asan_replay.py"), str(seeds), str(FUZZ / "crashes")],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0 and "AddressSanitizer" not in proc.stderr, proc.stderr[-4000:]
    assert "clean" in proc.stdout

    # The pool's completion signalling under churn: short loops from many threads, with
    # stack-use-after-return detection (the first wave signalled through the caller's stack).
    churn = subprocess.run(
        [sys.executable, "-c", POOL_CHURN],
        env=dict(run_env, ASAN_OPTIONS=run_env["ASAN_OPTIONS"] + ":detect_stack_use_after_return=1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert churn.returncode == 0 and "AddressSanitizer" not in churn.stderr, churn.stderr[-4000:]
    assert churn.stdout.strip() == "churn clean"


POOL_CHURN = """
import threading
import numpy as np
from fastmed._native import core
core.set_num_threads(2)
ref = np.empty(100_000, np.float32)
core.fill_uniform(ref, 4, threads=1)
bad = []
def work():
    out = np.empty_like(ref)
    for _ in range(400):
        core.fill_uniform(out, 4)
        if not np.array_equal(out, ref):
            bad.append(1)
ts = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in ts]
[t.join() for t in ts]
print("churn clean" if not bad else "mismatch")
"""
