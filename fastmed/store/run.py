"""Submit conversion jobs to Dask (one task per series, or plan + z-slabs + finish) and follow them."""

from __future__ import annotations

from typing import Any

from fastmed.errors import CacheError, FastmedError
from fastmed.store.cluster import dask_client
from fastmed.store.job import SeriesJob


def submit(client: Any, job: SeriesJob, slab: int) -> Any:
    """Submit the tasks of one series; returns the future of its record."""
    from fastmed.store import slabs as split
    from fastmed.store.write import convert_series

    ranges = job.slabs(slab)
    if not ranges:
        return client.submit(convert_series, job, pure=False)
    plan = client.submit(split.plan_series, job, pure=False)
    parts = [client.submit(split.write_slab, job, plan, z0, z1, pure=False) for z0, z1 in ranges]
    return client.submit(split.finish_series, job, plan, *parts, pure=False)


_TASKS = ("convert_series-", "plan_series-", "write_slab-", "finish_series-")
"""Key prefixes of conversion tasks (``client.submit`` names keys after the function)."""


def _running_conversions(dask_worker: Any) -> int:
    return sum(str(ts.key).startswith(_TASKS) for ts in dask_worker.state.executing)


def wait_idle(client: Any, timeout: float = 60.0) -> bool:
    """Wait until no worker still runs a conversion task (cancelled tasks run to their end).

    Cancelling a future does not stop a task that is already running: it goes on writing its
    temporary group. Waiting for it lets the caller remove temporary groups once, for good.
    Returns ``False`` on timeout.
    """
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            running = client.run(_running_conversions)
        except Exception:  # noqa: BLE001 - a worker that died or left runs nothing
            return False
        if not any(running.values()):
            return True
        time.sleep(0.05)
    return False


def run_jobs(
    jobs: list[SeriesJob], scheduler: Any, workers: int | None, slab: int, progress: bool
) -> dict[str, dict[str, Any] | str]:
    """Run every job; returns series id -> its record, or the reason it failed (bad DICOM data or mask).

    Store errors (disk full, permissions) and workers dying repeatedly on one task stop the
    whole conversion with :class:`CacheError`, after the remaining tasks are cancelled.
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    out: dict[str, dict[str, Any] | str] = {}
    with dask_client(scheduler, workers) as client:
        futures = {submit(client, job, slab): job.series_id for job in jobs}
        bar = tqdm(total=len(futures), unit="series", desc="convert", disable=not progress)
        try:
            for fut in as_completed(list(futures)):
                sid = futures[fut]
                try:
                    out[sid] = fut.result()
                except CacheError:
                    raise
                except FastmedError as exc:  # the series' data (DICOM, geometry, mask), not the store
                    out[sid] = f"{type(exc).__name__}: {exc}"
                except OSError as exc:
                    raise CacheError(f"series {sid}: {exc.strerror or exc}") from None
                except Exception as exc:  # KilledWorker and other scheduler failures
                    raise CacheError(f"series {sid}: conversion task failed ({type(exc).__name__}: {exc})") from None
                bar.update(1)
        except BaseException as exc:
            client.cancel(list(futures))
            if isinstance(exc, Exception):  # not on Ctrl-C: the caller removes what the cancelled tasks wrote
                wait_idle(client)
            raise
        finally:
            bar.close()
    return out
