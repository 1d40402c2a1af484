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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuda_device_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device (none found: no driver or no GPU)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
