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


def local_cluster(workers: int) -> Any:
    """A ``distributed.LocalCluster`` on 127.0.0.1: ``workers`` processes of one thread, no dashboard.

    Use it as a context manager (or call ``close()``): its worker processes outlive nothing.
    """
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
        scheduler_kwargs={"dashboard": False},
    )
