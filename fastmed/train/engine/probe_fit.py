"""A linear probe fitted to convergence: frozen features of the loader's batches, then full-batch L-BFGS.

Linear evaluation of a frozen encoder is a convex problem. CLIP's paper fits it with scikit-learn's L-BFGS
logistic regression; a few hundred Adam steps on small batches stop short of that optimum and land somewhere
different on every seed. Here the loader's batches (with their augmentation: each batch is a fresh random flip
of its series) are encoded once, the features standardised with their exact mean and variance (the probe's
parameter-free BatchNorm gets them as its running statistics), and the head's weights minimise the mean binary
cross-entropy plus ``l2 / 2 * ||W||^2`` with L-BFGS and a strong-Wolfe line search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F

from fastmed.train.engine.loop import LoopState, batch_size
from fastmed.train.engine.precision import autocast
from fastmed.train.models.heads import Classifier


def fit_linear_probe(
    model: Classifier,
    batches: Iterator[Mapping[str, Any]],
    steps: int,
    l2: float = 1e-3,
    iters: int = 200,
    precision: str = "fp32",
    device: torch.device | None = None,
    state: LoopState | None = None,
    on_step: Callable[[LoopState], None] | None = None,
) -> LoopState:
    """Encode ``steps`` batches with the frozen encoder, then fit the head to convergence.

    Parameters
    ----------
    model
        A linear probe (:func:`~fastmed.train.models.heads.linear_probe`): frozen encoder, feature BatchNorm.
    batches
        Training batches (``image``, ``labels``); ``steps`` of them are drawn, augmentation included.
    steps
        Batches to encode (the run's ``max_steps``: ``steps * batch_size`` feature rows).
    l2
        L2 penalty on the head's weights, added to the mean loss (not to the bias).
    iters
        L-BFGS iterations at most (it stops earlier once the gradient or the loss change is ~0).
    precision, device
        Autocast precision and device of the encoder pass.
    state
        Progress restored from a checkpoint: a finished fit (``state.step >= steps``) is kept as it is.
    on_step
        Called once, after the fit, with the final state.

    Returns
    -------
    LoopState
        ``step = steps``; ``losses``: the objective at each L-BFGS evaluation; samples/s and data wait of
        the feature pass (the fit's time counts as compute).
    """
    if model.feature_norm is None or not model.freeze_encoder:
        raise ValueError("fit_linear_probe fits a linear probe (frozen encoder, feature BatchNorm)")
    if l2 < 0 or iters < 1 or steps < 1:
        raise ValueError(f"need l2 >= 0, iters >= 1 and steps >= 1, got {l2}, {iters}, {steps}")
    st = state if state is not None else LoopState()
    if st.step >= steps:
        return st
    st = LoopState()  # a fit stopped part-way starts over: the feature pass is cheap next to pretraining
    dev = device if device is not None else torch.device("cpu")
    model.eval()
    feats: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    t0 = time.perf_counter()
    for _ in range(steps):
        batch = next(batches)
        t1 = time.perf_counter()
        st.data_wait_s += t1 - t0
        with torch.no_grad(), autocast(precision, dev.type):
            feats.append(model.features(batch["image"].to(dev)).float())
        labels.append(torch.as_tensor(batch["labels"], dtype=torch.float32, device=dev))
        st.samples += batch_size(batch)
        st.micro_batches += 1
        t0 = time.perf_counter()
        st.compute_s += t0 - t1
    x, y = torch.cat(feats), torch.cat(labels)
    st.losses = _fit_head(model, x, y, l2, iters)
    st.compute_s += time.perf_counter() - t0
    st.step = steps
    if on_step is not None:
        on_step(st)
    return st


def _fit_head(model: Classifier, x: torch.Tensor, y: torch.Tensor, l2: float, iters: int) -> list[float]:
    bn = model.feature_norm
    assert bn is not None and bn.running_mean is not None and bn.running_var is not None
    mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)
    with torch.no_grad():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        if bn.num_batches_tracked is not None:
            bn.num_batches_tracked.fill_(1)
    xs = (x - mean) / torch.sqrt(var + bn.eps)  # what the probe's BatchNorm gives at inference
    head = model.head
    opt = torch.optim.LBFGS(
        head.parameters(),
        lr=1.0,
        max_iter=iters,
        tolerance_grad=1e-7,
        tolerance_change=1e-10,
        history_size=20,
        line_search_fn="strong_wolfe",
    )
    losses: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(head(xs), y) + 0.5 * l2 * head.weight.pow(2).sum()
        loss.backward()
        losses.append(float(loss.detach()))
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return losses
