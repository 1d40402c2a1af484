"""The one place that imports the compiled extension ``fastmed._core``."""

from __future__ import annotations

import importlib
from types import ModuleType


class NativeExtensionMissing(ImportError):
    """Raised when ``fastmed._core`` was not built (see README: the setup commands build it)."""


def _load() -> ModuleType:
    try:
        _core = importlib.import_module("fastmed._core")
    except ImportError as exc:  # pragma: no cover - exercised only on a broken install
        raise NativeExtensionMissing(
            "fastmed's native extension fastmed._core is not built; run "
            "'pip install -e .' (or 'python setup.py build_ext --inplace') in the repository"
        ) from exc
    return _core


core: ModuleType = _load()


def set_num_threads(n: int) -> None:
    """Set the size of the native thread pool used by every kernel.

    Parameters
    ----------
    n
        Threads (the caller included); ``<= 0`` means one per hardware thread.
    """
    core.set_num_threads(int(n))


def get_num_threads() -> int:
    """Return the size of the native thread pool."""
    return int(core.get_num_threads())
