"""Where the shared C++/CUDA kernel sources live, in a checkout or an installed wheel."""

from __future__ import annotations

from pathlib import Path


def csrc_dir() -> Path:
    """Return the folder holding ``include/`` and ``cuda/`` (the kernels' single source).

    An installed wheel carries them as ``fastmed/_csrc``; a source checkout has ``csrc/``.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_csrc", here.parent / "csrc"):
        if (candidate / "include" / "fastmed").is_dir() and (candidate / "cuda").is_dir():
            return candidate
    raise FileNotFoundError(
        "fastmed kernel sources not found (expected fastmed/_csrc in a wheel or csrc/ in a checkout)"
    )


def include_dir() -> Path:
    """Return the include root (``-I`` this for ``#include "fastmed/..."``)."""
    return csrc_dir() / "include"


def cuda_sources() -> list[Path]:
    """Return every CUDA source file, sorted."""
    return sorted((csrc_dir() / "cuda").glob("*.cu"))
