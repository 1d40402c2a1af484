"""Optimisation steps over any iterable of batch dicts, with gradient accumulation and mixed precision.

The loop times how long it waits for each batch (``next`` on the iterator) against the rest of the step,
so every run reports samples/s and its data-wait fraction: which side (data or model) is the bottleneck.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fastmed.train.engine.precision import autocast, grad_scaler

StepFn = Callable[[torch.nn.Module, Mapping[str, Any]], torch.Tensor]
"""``step_fn(model, batch) -> scalar loss`` (e.g. ``lambda m, b: m(b["image"], b["mae_mask"])["loss"]``)."""


@dataclass
class LoopState:
    """Progress of a run: optimizer steps, micro-batches, samples, per-step losses and where the time went."""

    step: int = 0
    micro_batches: int = 0
    losses: list[float] = field(default_factory=list)
    samples: int = 0
    data_wait_s: float = 0.0
    compute_s: float = 0.0

    @property
    def data_wait_fraction(self) -> float:
        """Share of the loop's wall time spent waiting for batches (0 when nothing ran)."""
        total = self.data_wait_s + self.compute_s
        return self.data_wait_s / total if total > 0 else 0.0

    @property
    def samples_per_s(self) -> float:
        """Samples trained per second of loop wall time."""
        total = self.data_wait_s + self.compute_s
        return self.samples / total if total > 0 else 0.0

    @property
    def bottleneck(self) -> str:
        """``"data"`` when waiting for batches takes at least half the time, else ``"model"``."""
        return "data" if self.data_wait_fraction >= 0.5 else "model"


def batch_size(batch: Mapping[str, Any]) -> int:
    """Samples in a batch: the leading size of ``batch["image"]`` (or of its first sized value)."""
    for key in ("image", *batch):
        v = batch.get(key)
        shape = getattr(v, "shape", None)
        if shape is not None and len(shape) > 0:
            return int(shape[0])
        if isinstance(v, (list, tuple)):
            return len(v)
    return 1


def run_steps(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Mapping[str, Any]],
    step_fn: StepFn,
    max_steps: int,
    accumulate: int = 1,
    precision: str = "fp32",
    device_type: str = "cpu",
    scaler: torch.amp.GradScaler | None = None,
    state: LoopState | None = None,
    on_step: Callable[[LoopState], None] | None = None,
) -> LoopState:
    """Train until ``state.step == max_steps`` or the batches run out.

    Each optimizer step averages the gradients of ``accumulate`` micro-batches (each loss is divided
    by ``accumulate``, so with equal micro-batch sizes it equals one step on their union).

    Parameters
    ----------
    model, optimizer
        What to train.
    batches
        Any iterable of batch dicts (the fastmed loader, a list, a generator).
    step_fn
        Computes the scalar loss of one batch.
    max_steps
        Optimizer steps to reach (counted from ``state.step``, so a resumed run stops at the same step).
    accumulate
        Micro-batches per optimizer step.
    precision
        ``"fp32"``, ``"bf16"`` (CPU or GPU) or ``"fp16"`` (GPU, with a scaler).
    device_type
        ``"cpu"`` or ``"cuda"``.
    scaler
        Gradient scaler (made from ``precision`` when None).
    state
        Progress to continue from (e.g. restored from a checkpoint).
    on_step
        Called after each optimizer step (logging, checkpoints).

    Returns
    -------
    LoopState
        The progress, with the mean micro-batch loss of each optimizer step in ``losses``, samples/s and
        the data-wait fraction (time in the batch iterator's ``next``; ``on_step`` time is left out of both).
    """
    if accumulate < 1:
        raise ValueError(f"accumulate must be >= 1, got {accumulate}")
    st = state if state is not None else LoopState()
    sc = scaler if scaler is not None else grad_scaler(precision, device_type)
    model.train()
    pending = 0
    running = 0.0
    if st.step >= max_steps:
        return st
    optimizer.zero_grad(set_to_none=True)
    it = iter(batches)
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(it)
        except StopIteration:
            break
        t1 = time.perf_counter()
        st.data_wait_s += t1 - t0
        st.samples += batch_size(batch)
        with autocast(precision, device_type):
            loss = step_fn(model, batch)
        sc.scale(loss.float() / accumulate).backward()
        running += float(loss.detach())
        pending += 1
        st.micro_batches += 1
        if pending == accumulate:
            sc.step(optimizer)
            sc.update()
            optimizer.zero_grad(set_to_none=True)
            st.step += 1
            st.losses.append(running / accumulate)
            pending, running = 0, 0.0
        st.compute_s += time.perf_counter() - t1
        if pending == 0:
            if on_step is not None:
                on_step(st)
            if st.step >= max_steps:
                break
    return st
