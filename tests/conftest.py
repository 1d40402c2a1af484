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
    """Reorder in place: ``forks_workers`` files, then files holding ``slow`` tests (longest first), then the rest.

    ``scripts/test.sh`` runs pytest-xdist with ``--dist loadfile``: a worker takes whole files in collection order,
    so the minutes-long learning and ASan files start at once, beside the rest, instead of last and alone. Files
    whose peers fork worker processes from the test process run first in a worker, before other files have started
    thread pools in it. The order is a pure function of the collected items, the same in every worker (xdist
    requires that).
    """
    minutes: dict[object, float] = {}
    for item in items:
        mark = item.get_closest_marker("slow")
        if mark is not None:
            minutes[item.path] = max(minutes.get(item.path, 0.0), float(mark.kwargs.get("minutes", 0.0)))
    forks = {item.path for item in items if item.get_closest_marker("forks_workers") is not None}
    # stable within a file: files that fork workers from the test process, then the slow ones, longest first
    items.sort(key=lambda item: (item.path not in forks, item.path not in minutes, -minutes.get(item.path, 0.0)))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _slow_files_first(items)
    if cuda_device_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (none found: no driver or no GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
