"""The portable (non-AVX2) build of the CPU gather compiles against the declarations it implements.

x86-64 builds take the AVX2 path, so the fallback used elsewhere (aarch64, other compilers)
is otherwise never compiled here; ``FASTMED_NO_AVX2_GATHER`` selects it on x86 too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("define", [[], ["-DFASTMED_NO_AVX2_GATHER"]], ids=["avx2", "fallback"])
def test_gather_source_compiles(define: list[str]) -> None:
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler on PATH")
    cmd = [cxx, "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", *define]
    cmd += ["-I", str(ROOT / "csrc" / "include"), "-I", str(ROOT / "csrc" / "cpu")]
    proc = subprocess.run([*cmd, str(ROOT / "csrc" / "cpu" / "augment_gather.cpp")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]
