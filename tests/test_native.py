"""The native thread pool and build facts."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import fastmed as fm
from fastmed._native import core


def test_thread_count_round_trip() -> None:
    before = fm.get_num_threads()
    try:
        fm.set_num_threads(3)
        assert fm.get_num_threads() == 3
        fm.set_num_threads(0)
        assert fm.get_num_threads() >= 1
    finally:
        fm.set_num_threads(before)


def test_kernels_run_concurrently_from_python_threads() -> None:
    """Native calls release the GIL: many Python threads share the pool and get exact results."""
    ref = np.empty(50_000, np.float32)
    core.fill_uniform(ref, 9, threads=1)
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            out = np.empty_like(ref)
            for _ in range(5):
                core.fill_uniform(out, 9)
            results.append(out)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6
    for out in results:
        np.testing.assert_array_equal(out, ref)


def test_resizing_the_pool_while_in_use_is_safe() -> None:
    ref = np.empty(200_000, np.float32)
    core.fill_uniform(ref, 1, threads=1)
    stop = threading.Event()

    def resize() -> None:
        n = 1
        while not stop.is_set():
            fm.set_num_threads(n % 3 + 1)
            n += 1

    t = threading.Thread(target=resize)
    t.start()
    try:
        for _ in range(50):
            out = np.empty_like(ref)
            core.fill_uniform(out, 1)
            np.testing.assert_array_equal(out, ref)
    finally:
        stop.set()
        t.join()
        fm.set_num_threads(0)


def test_build_is_optimized_cxx17() -> None:
    info = core.build_info()
    assert info["cxx_standard"] >= 201703
    assert info["optimized"] is True


def test_volume_geometry_validation() -> None:
    with pytest.raises(ValueError, match="spacing"):
        fm.Volume(np.zeros((2, 3, 4)), spacing=(1.0, 1.0))
    v = fm.Volume(np.zeros((2, 3, 4)), spacing=(2.0, 0.5, 0.7), origin=(1.0, 2.0, 3.0))
    m = v.index_to_patient()
    np.testing.assert_allclose(m @ np.array([1, 1, 1, 1.0]), [1.7, 2.5, 5.0, 1.0])
