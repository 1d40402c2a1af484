"""Training tests run torch on one thread: on a shared 2-core machine, torch's multi-threaded kernels
spin-wait against other processes and run the tiny models 10-50x slower."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
