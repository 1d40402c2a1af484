"""Compile and cache CUDA modules from the shared kernel sources (CuPy + NVRTC).

The same ``csrc/include/fastmed`` headers the CPU build uses are compiled here at run time,
so the GPU runs exactly the per-voxel math the CPU tests check.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from fastmed.kernel_sources import csrc_dir, include_dir


def nvrtc_options(arch: str | None = None) -> list[str]:
    """Return the NVRTC options fastmed compiles its kernels with.

    Parameters
    ----------
    arch
        Virtual architecture such as ``"compute_80"``; ``None`` lets the caller's runtime choose.
    """
    opts = ["-std=c++17", f"-I{include_dir()}"]
    if arch is not None:
        opts.append(f"-arch={arch}")
    return opts


def cuda_source(name: str) -> str:
    """Return the text of ``csrc/cuda/<name>.cu``."""
    path = csrc_dir() / "cuda" / f"{name}.cu"
    return Path(path).read_text()


@functools.cache
def load_module(name: str) -> Any:
    """Compile ``csrc/cuda/<name>.cu`` with CuPy's NVRTC path and return the ``cupy.RawModule``.

    Needs CuPy and a CUDA device; the module is compiled once per process.
    """
    import cupy

    return cupy.RawModule(
        code=cuda_source(name),
        options=tuple(nvrtc_options()),
    )
