"""Optimisation steps over any iterable of batch dicts, with gradient accumulation and mixed precision."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from fastmed.train.engine.precision import autocast, grad_scaler

StepFn = Callable[[torch.nn.Module, Mapping[str, Any]], torch.Tensor]
"""``step_fn(model, batch) -> scalar loss`` (e.g. ``lambda m, b: m(b["image"], b["mae_mask"])["loss"]``)."""


@dataclass
class LoopState:
    """Progress of a run: optimizer steps taken, micro-batches seen, and the loss of every optimizer step."""

    step: int = 0
    micro_batches: int = 0
    losses: list[float] = field(default_factory=list)


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
        The progress, with the mean micro-batch loss of each optimizer step in ``losses``.
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
    for batch in batches:
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
            if on_step is not None:
                on_step(st)
            if st.step >= max_steps:
                break
    return st
