"""The window buffer pool of ``read_window``: dropping its smallest buffer when all are taken.

Regression: the pool dropped a buffer with ``list.remove``, whose ``==`` compares numpy
arrays voxel by voxel and raised (``operands could not be broadcast``) whenever the
smallest buffer was not the first; 128^3 R3D patches read from a store by several
threads hit it. Oracle: every window handed out keeps the values written into it.
"""

from __future__ import annotations

import numpy as np

from fastmed.store import window


def test_a_full_pool_drops_its_smallest_buffer_and_keeps_the_windows_in_use() -> None:
    mib = 1 << 20
    sizes = [8 * mib, 2 * mib, 3 * mib, 4 * mib, 5 * mib, 6 * mib]  # the smallest buffer is not the first
    with window._WINDOWS_LOCK:
        saved = list(window._WINDOWS)
        window._WINDOWS.clear()
    try:
        held = []
        for k, nbytes in enumerate(sizes):
            win = window._new_window((nbytes // 2,), np.dtype(np.int16))  # every earlier window still in use
            win[:] = k
            held.append(win)
            assert len(window._WINDOWS) <= window._KEEP_WINDOWS
        for k, win in enumerate(held):
            np.testing.assert_array_equal(win, np.full(sizes[k] // 2, k, np.int16))
        kept = sorted(b.nbytes for b in window._WINDOWS)
        assert all(b >= 4 * mib for b in kept)  # the 2 and 3 MiB windows' buffers were the ones dropped
    finally:
        with window._WINDOWS_LOCK:
            window._WINDOWS[:] = saved
