"""Shared test configuration: GPU tests skip cleanly where no CUDA device is present; test hooks on."""

from __future__ import annotations

import functools
import os

import pytest

# Test-only native hooks (fastmed._core._augment_packed_jobs) are bound only when this is
# set before fastmed._core is first imported; installed wheels never see them.
os.environ.setdefault("FASTMED_TESTING", "1")


@functools.lru_cache(maxsize=1)
def cuda_device_available() -> bool:
    try:
        import cupy  # noqa: F401

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # any import or driver failure means: no usable device
        return False


def _slow_files_first(items: list[pytest.Item]) -> None:
    """Reorder in place: files holding ``slow`` tests first, longest first (``slow(minutes=...)``), then the rest.

    ``scripts/test.sh`` runs pytest-xdist with ``--dist loadfile``: a worker takes whole files in collection order,
    so the minutes-long learning and ASan files start at once, beside the rest, instead of last and alone. The
    order is a pure function of the collected items, the same in every worker (xdist requires that).
    """
    minutes: dict[object, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            minutes[item.path] = max(minutes.get(item.path, 0.0), float(mark.kwargs.get("minutes", 0.0)))
    items.sort(key=lambda item: (item.path not in minutes, -minutes.get(item.path, 0.0)))  # stable within a file


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _slow_files_first(items)
    if cuda_device_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (none found: no driver or no GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
