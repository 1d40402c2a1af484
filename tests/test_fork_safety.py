"""fastmed inside a user's torch Dataset under fork and spawn workers, and fork while the pool is busy.

The first wave deadlocked here: a fork child inherited the native pool (and a Python
executor) without their threads. Each scenario runs in a subprocess with a time limit,
so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastmed as fm
from fastmed._native import core
from tests._fork_workload import sample
from tests.dicom.series_builder import series_array, write_series

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def series_paths(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("fork_series")
    return [str(p) for p in write_series(folder, series_array(12, rows=24, cols=20, seed=1))]


def run_script(body: str, timeout: float = 120) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
def test_torch_dataloader_workers_after_parent_used_the_pool(
    series_paths: list[str], start_method: str, tmp_path: Path
) -> None:
    """Parent uses the pool (read + augment), then torch workers do the same: no hang, same outputs."""
    expected = np.stack([sample(series_paths, i) for i in range(6)])
    np.save(tmp_path / "expected.npy", expected)
    run_script(
        f"""
        import numpy as np, torch
        import fastmed as fm
        from tests._fork_workload import SeriesAugmentDataset, sample
        paths = {series_paths!r}
        fm.set_num_threads(2)
        sample(paths, 0)  # the parent's pool and decode path are now live
        if __name__ == "__main__":
            loader = torch.utils.data.DataLoader(
                SeriesAugmentDataset(paths, 6), batch_size=2, num_workers=2,
                multiprocessing_context={start_method!r}, timeout=60)
            got = torch.cat([b for b in loader]).numpy()
            np.testing.assert_array_equal(got, np.load({str(tmp_path / "expected.npy")!r}))
            print("ok", len(got))
        """
    )


def test_fork_while_another_thread_is_inside_the_pool(series_paths: list[str], tmp_path: Path) -> None:
    """os.fork() while a parent thread runs native loops: the child builds its own pool and computes the same."""
    np.save(tmp_path / "expected.npy", sample(series_paths, 5))
    out = run_script(
        f"""
        import faulthandler, os, threading, numpy as np
        import fastmed as fm
        from fastmed._native import core
        from tests._fork_workload import sample
        paths = {series_paths!r}
        expected = np.load({str(tmp_path / "expected.npy")!r})
        fm.set_num_threads(2)
        # Warm up in the main thread: a fork during another thread's first (lazy) import of a
        # module leaves that module's import lock held in the child, a hazard of any Python code.
        sample(paths, 1)
        stop = threading.Event()
        def busy():
            buf = np.empty(2_000_000, np.float32)
            while not stop.is_set():
                core.fill_uniform(buf, 1)
                sample(paths, 1)
        threads = [threading.Thread(target=busy) for _ in range(2)]
        for t in threads:
            t.start()
        children = []
        for _ in range(8):
            pid = os.fork()
            if pid == 0:
                faulthandler.dump_traceback_later(60, exit=True)  # a hung child must not outlive the test
                ok = np.array_equal(sample(paths, 5), expected) and core.fork_resets() == 1
                os._exit(0 if ok else 3)
            children.append(pid)
        stop.set()
        for t in threads:
            t.join()
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        print(codes)
        assert codes == [0] * 8, codes
        """
    )
    assert "[0, 0, 0, 0, 0, 0, 0, 0]" in out


def test_decode_map_runs_on_the_native_pool_and_reraises(series_paths: list[str]) -> None:
    from fastmed.dicom import _pool

    assert _pool.map_chunks(lambda x: x * x, list(range(37)), 2) == [x * x for x in range(37)]

    def boom(x: int) -> int:
        if x == 20:
            raise ValueError("item 20")
        return x

    with pytest.raises(ValueError, match="item 20"):
        _pool.map_chunks(boom, list(range(37)), 2)


def test_many_short_loops_from_many_threads_complete() -> None:
    """Completion signalling under churn: short loops from 8 Python threads, each exact."""
    import threading

    ref = np.empty(100_000, np.float32)
    core.fill_uniform(ref, 4, threads=1)
    failures: list[str] = []

    def work() -> None:
        out = np.empty_like(ref)
        for _ in range(300):
            core.fill_uniform(out, 4, threads=2)
            if not np.array_equal(out, ref):
                failures.append("mismatch")
                return

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not failures


@pytest.mark.parametrize(
    ("env", "cpus", "expected"),
    [
        ({}, [0], 1),
        ({"LOCAL_WORLD_SIZE": "2"}, None, None),  # half the mask, at least 1
        ({"FASTMED_NUM_THREADS": "3"}, [0], 3),
    ],
)
def test_default_pool_size_follows_affinity_ranks_and_override(
    env: dict[str, str], cpus: list[int] | None, expected: int | None
) -> None:
    mask = sorted(os.sched_getaffinity(0))
    if expected is None:
        expected = max(1, len(mask) // 2)
        quota = _cgroup_quota()
        if quota:
            expected = max(1, min(len(mask), quota) // 2)
    pin = f"os.sched_setaffinity(0, {cpus!r})" if cpus is not None else "pass"
    out = run_script(
        f"""
        import os
        os.environ.update({env!r})
        {pin}
        import fastmed as fm
        print(fm.get_num_threads())
        """
    )
    assert int(out.strip()) == expected


def _cgroup_quota() -> int:
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
    except (OSError, ValueError):
        return 0
    if quota == "max":
        return 0
    return max(1, -(-int(quota) // int(period)))


def test_default_pool_size_is_at_most_the_affinity_mask() -> None:
    assert 1 <= core.default_num_threads() <= len(os.sched_getaffinity(0))
    assert fm.get_num_threads() >= 1
