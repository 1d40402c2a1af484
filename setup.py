"""Build of fastmed._core (pybind11, C++17) and packaging of the kernel sources.

Every ``csrc/cpu/*.cpp`` is compiled into the one extension; ``csrc/include`` and
``csrc/cuda`` are shipped inside the package (``fastmed/_csrc``) so the CuPy backend
can compile the same kernel source with NVRTC from an installed wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from glob import glob
from pathlib import Path

from pybind11.setup_helpers import ParallelCompile, Pybind11Extension, build_ext
from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent.resolve()

ParallelCompile("FASTMED_BUILD_JOBS", default=0).install()


def _git(*args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def write_build_info() -> None:
    """fastmed/_build_info.py (git-ignored): version, commit and dirty flag of the source being built.

    Outside a git checkout (an sdist) an existing file is kept, else the commit is "unknown".
    """
    target = HERE / "fastmed" / "_build_info.py"
    found = re.search(r'^version\s*=\s*"([^"]+)"', (HERE / "pyproject.toml").read_text(), re.M)
    version = found.group(1) if found else "unknown"
    top = _git("rev-parse", "--show-toplevel")
    commit = _git("rev-parse", "HEAD") if top and Path(top).resolve() == HERE else None
    if commit is None and target.exists():
        return
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no")) if commit else None
    text = (
        '"""Written by setup.py at build time (not in git): what this build of fastmed was made from."""\n\n'
        f"VERSION = {version!r}\nCOMMIT = {commit or 'unknown'!r}\nDIRTY = {dirty!r}\n"
    )
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


write_build_info()

# Portable flags only: the wheel must run on any x86-64 CPU (no host-specific -march).
# -ffp-contract=off: the `cpu` and `reference` backends are bit-identical only while no a*b+c is fused into an FMA,
# which GCC does when CFLAGS pick a host-specific CPU (the baseline x86-64 target has no FMA instruction).
compile_args = [
    "-O3",
    "-pthread",
    "-ffp-contract=off",
    "-fvisibility=hidden",
    "-Wall",
    "-Wextra",
    "-Wno-unused-parameter",
]
if os.environ.get("FASTMED_ASAN") == "1":
    compile_args += ["-fsanitize=address", "-fno-omit-frame-pointer", "-O1", "-g"]

ext = Pybind11Extension(
    "fastmed._core",
    sorted(glob("csrc/cpu/*.cpp")),
    include_dirs=["csrc/include", "csrc/cpu"],
    cxx_std=17,
    extra_compile_args=compile_args,
    extra_link_args=["-pthread"] + (["-fsanitize=address"] if os.environ.get("FASTMED_ASAN") == "1" else []),
    depends=sorted(glob("csrc/include/fastmed/*.h") + glob("csrc/cpu/*.h")),
)


class BuildPyWithKernelSources(build_py):
    """Copy csrc/include and csrc/cuda into the built package as fastmed/_csrc."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "fastmed" / "_csrc"
        for sub in ("include", "cuda"):
            dst = target / sub
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(HERE / "csrc" / sub, dst)


setup(
    ext_modules=[ext],
    cmdclass={"build_ext": build_ext, "build_py": BuildPyWithKernelSources},
)
