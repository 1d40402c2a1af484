"""One epoch of a :class:`fastmed.DataLoader`: drive torch's inner iterator, keep the books.

Per delivered batch it checks the batch id against the plan (no batch twice), turns
failed samples into a :class:`~fastmed.errors.LoaderError` or a skip record, moves the
data to the device and records telemetry. A worker that dies is replaced: the inner
iterator is shut down, every batch in flight is issued again to fresh workers, and the
epoch goes on (map-style datasets; up to ``max_worker_restarts`` times per epoch).
A worker that hangs past ``timeout`` becomes a LoaderError naming the batch waited for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmed.errors import LoaderError
from fastmed.loader.inner import pull
from fastmed.loader.keyed import Batch, Failed
from fastmed.loader.plan import EpochPlan, Progress
from fastmed.loader.progress import make_bar
from fastmed.loader.state import SkippedSample
from fastmed.loader.stats import StatsRecorder
from fastmed.loader.tree import nbytes, to_device

if TYPE_CHECKING:
    from fastmed.loader.dataloader import DataLoader


def _worker_died(exc: RuntimeError) -> bool:
    text = str(exc)
    return text.startswith("DataLoader worker (pid") and ("exited unexpectedly" in text or "killed by signal" in text)


def _timed_out(exc: RuntimeError) -> bool:
    return str(exc).startswith("DataLoader timed out after")


class EpochIterator:
    """Iterator over one epoch's batches (created by ``iter(loader)``)."""

    def __init__(self, loader: DataLoader, plan: EpochPlan | None, skip_batches: int = 0):
        self.loader = loader
        self.plan = plan
        self.epoch = loader.epoch
        self.skip_batches = skip_batches
        self.progress = Progress(self.epoch, plan, skip_batches)
        self.restarts = 0
        self.recorder = StatsRecorder()
        loader._recorder = self.recorder
        self.bar: Any = make_bar(loader.options.progress, _safe_len(loader), skip_batches, f"epoch {self.epoch}")
        self.inner: Any = None
        try:
            self.inner = loader._start_inner(plan)
        except RuntimeError as exc:  # a worker died before torch's iterator finished starting
            if not _worker_died(exc):
                raise
            self._restart(exc)

    def __iter__(self) -> EpochIterator:
        return self

    def _shutdown_inner(self) -> None:
        inner, self.inner = self.inner, None
        shutdown = getattr(inner, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
            if self.loader.persistent_workers:
                self.loader._inner = None  # its persistent iterator is gone: build a new one next epoch

    def _restart(self, exc: RuntimeError) -> None:
        self.restarts += 1
        self.recorder.worker_restarts += 1
        if self.plan is None or self.restarts > self.loader.options.max_worker_restarts:
            why = "iterable datasets cannot re-issue lost samples" if self.plan is None else "too many deaths"
            raise LoaderError(f"a worker process died and was not replaced ({why}): {exc}") from exc
        self._shutdown_inner()
        self.loader._inner = None
        self.plan.reissue_lost()
        self.inner = self.loader._start_inner(self.plan)

    def _timeout_error(self, exc: RuntimeError) -> LoaderError:
        waiting = ""
        if self.plan is not None and self.plan.in_flight:
            bid = min(self.plan.in_flight)
            waiting = f"; waiting for batch {bid} of epoch {self.epoch} (samples {self.plan.indices(bid)})"
        return LoaderError(f"no batch arrived within timeout={self.loader.timeout} s (a worker hangs){waiting}")

    def _next_batch(self) -> Batch:
        while True:
            try:
                got = pull(self.inner)
            except RuntimeError as exc:
                if _worker_died(exc):
                    self._restart(exc)
                    continue
                if _timed_out(exc):
                    raise self._timeout_error(exc) from exc
                raise
            if not isinstance(got, Batch):
                raise LoaderError(f"internal: the inner loader returned {type(got).__name__}, not a batch")
            if self.plan is not None and got.bid is not None and not self.plan.deliver(got.bid):
                continue
            if self.plan is None and self.skip_batches > 0 and got.data is not None:
                self.skip_batches -= 1
                continue
            return got

    def _failures(self, failures: list[Failed]) -> None:
        for f in failures:
            if self.loader.options.on_error == "raise":
                raise LoaderError(f.reason, f.index, f.epoch) from f.exc
            self.loader.errors.append(_record(f))
            self.recorder.skipped += 1

    def __next__(self) -> Any:
        if self.progress.finished or self.inner is None:
            raise StopIteration
        asked = self.recorder.request()
        try:
            while True:
                batch = self._next_batch()
                self._failures(batch.failures)
                if batch.data is not None:
                    break
        except StopIteration:
            self._finish()
            raise
        except BaseException:
            # stop the workers now: the traceback keeps this iterator alive, and a garbage-collected
            # torch iterator shuts its workers down slowly
            self.progress.finished = True
            self._close_bar()
            self._shutdown_inner()
            raise
        data = batch.data
        if self.loader.options.device is not None:
            data = to_device(data, self.loader.options.device, non_blocking=bool(self.loader.pin_memory))
        self.progress.delivered += 1
        self.recorder.deliver(asked, batch.size, nbytes(data))
        if self.bar is not None:
            self.bar.update(1)
        return data

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def _finish(self) -> None:
        self.progress.finished = True
        self._close_bar()
        if self.plan is not None and self.plan.in_flight:
            lost = sorted(self.plan.in_flight)
            raise LoaderError(f"epoch {self.epoch} ended with batches {lost} never delivered")
        self.loader._end_epoch(self.progress)

    def __del__(self) -> None:
        self._close_bar()


def _record(f: Failed) -> SkippedSample:
    return SkippedSample(index=f.index, epoch=f.epoch, reason=f.reason)


def _safe_len(loader: DataLoader) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None
