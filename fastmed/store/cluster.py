"""The Dask client a conversion runs on: a local cluster sized to the machine, or an existing one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def affinity_cpus() -> int:
    """CPUs this process may use: the affinity mask and cgroup quota (the native pool's default size)."""
    from fastmed._native import core

    return max(1, int(core.default_num_threads()))


@contextmanager
def dask_client(scheduler: Any = None, workers: int | None = None) -> Iterator[Any]:
    """Yield a ``distributed.Client``.

    Parameters
    ----------
    scheduler
        ``None``: start a ``LocalCluster`` on loopback (worker processes, one thread each, as
        many as ``workers`` or the CPU affinity allows) and close it afterwards. A
        ``"tcp://host:port"`` address or a cluster object: connect to that scheduler. A
        ``distributed.Client``: use it as is (not closed).
    workers
        Worker processes of the local cluster (ignored with ``scheduler``).
    """
    from distributed import Client

    if isinstance(scheduler, Client):
        yield scheduler
        return
    if hasattr(scheduler, "scheduler_address"):  # a cluster object (LocalCluster, SpecCluster ...)
        scheduler = scheduler.scheduler_address
    if scheduler is not None:
        with Client(str(scheduler)) as client:
            yield client
        return
    with local_cluster(workers or affinity_cpus()) as cluster, Client(cluster) as client:
        yield client


QUIET = {
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.tick.interval": "500ms",
}
"""Dask settings of the local cluster: no statistical profiler in the workers, and the nannies' memory
checks, the system monitors and the event-loop tick every 0.5-2 s instead of every 10-500 ms. An idle
2-worker cluster then takes about 0.1 s of CPU per 10 s instead of about 0.9 s (the scheduler and the
nannies run in the converting process), which on a small machine is CPU the workers did not get."""


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` on 127.0.0.1: ``workers`` processes of one thread, no dashboard.

    Started with the :data:`QUIET` settings (the worker processes receive them through their
    nannies). Use it as a context manager (or call ``close()``): its worker processes outlive nothing.
    """
    import dask
    from distributed import LocalCluster

    with dask.config.set(QUIET):
        return LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            scheduler_kwargs={"dashboard": False},
        )
