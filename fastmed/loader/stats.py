"""Loader telemetry: throughput, batch latency percentiles, data-wait fraction, bytes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LoaderStats:
    """Figures of the current (or last) epoch.

    Attributes
    ----------
    batches, samples
        Delivered so far.
    bytes
        Bytes of the delivered batches (tensors, arrays, bytes and strings).
    elapsed_s
        Seconds from the first batch request to the last delivered batch.
    wait_s
        Seconds the consumer spent waiting inside ``next()``.
    samples_per_s
        ``samples / elapsed_s``.
    data_wait_fraction
        ``wait_s / elapsed_s``: 0 means the consumer never waited for data.
    latency_p50_ms, latency_p90_ms, latency_p99_ms
        Percentiles of the time between asking for a batch and getting it.
    skipped
        Samples skipped under ``on_error="skip"``.
    worker_restarts
        Worker processes replaced after dying.
    """

    batches: int = 0
    samples: int = 0
    bytes: int = 0
    elapsed_s: float = 0.0
    wait_s: float = 0.0
    samples_per_s: float = 0.0
    data_wait_fraction: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p90_ms: float = 0.0
    latency_p99_ms: float = 0.0
    skipped: int = 0
    worker_restarts: int = 0


class StatsRecorder:
    """Accumulates one epoch's figures; :meth:`snapshot` turns them into :class:`LoaderStats`."""

    def __init__(self) -> None:
        self.first_request: float | None = None
        self.last_delivery: float | None = None
        self.waits: list[float] = []
        self.samples = 0
        self.bytes = 0
        self.skipped = 0
        self.worker_restarts = 0

    def request(self) -> float:
        """Note that the consumer asks for a batch; return the time."""
        now = time.perf_counter()
        if self.first_request is None:
            self.first_request = now
        return now

    def deliver(self, asked: float, samples: int, nbytes: int) -> None:
        """Note a delivered batch asked for at ``asked``."""
        now = time.perf_counter()
        self.last_delivery = now
        self.waits.append(now - asked)
        self.samples += samples
        self.bytes += nbytes

    def snapshot(self) -> LoaderStats:
        """The figures so far."""
        if self.first_request is None or self.last_delivery is None or not self.waits:
            return LoaderStats(skipped=self.skipped, worker_restarts=self.worker_restarts)
        elapsed = max(self.last_delivery - self.first_request, 1e-12)
        wait = float(sum(self.waits))
        p50, p90, p99 = (float(v) * 1e3 for v in np.percentile(np.asarray(self.waits), [50, 90, 99]))
        return LoaderStats(
            batches=len(self.waits),
            samples=self.samples,
            bytes=self.bytes,
            elapsed_s=elapsed,
            wait_s=wait,
            samples_per_s=self.samples / elapsed,
            data_wait_fraction=min(wait / elapsed, 1.0),
            latency_p50_ms=p50,
            latency_p90_ms=p90,
            latency_p99_ms=p99,
            skipped=self.skipped,
            worker_restarts=self.worker_restarts,
        )
