"""One rank of the 2-process DDP test (``tests/train/test_ddp.py``), launched by ``torchrun``.

Each rank trains a tiny linear regression with :class:`fastmed.DataLoader` (which shards by the
process group's rank), :func:`~fastmed.train.engine.loop.run_steps` and the DDP helpers of
:mod:`fastmed.train.engine.distributed`, for two epochs, and writes ``rank<r>.json`` into the
folder given as the first argument:

- ``seen``: the sample indices of every micro-batch with its epoch;
- ``local_grads``: the gradient of this rank's batch alone (a plain copy of the model, no DDP);
- ``reduced_grads``: the DDP model's gradient just before each optimizer step (after the all-reduce);
- ``initial`` / ``final``: the flattened parameters after wrapping and after training;
- ``gathered_final``: every rank's final parameters, gathered with ``all_gather`` on this rank.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

import fastmed as fm
from fastmed.train.engine.distributed import (
    DistInfo,
    init_distributed,
    mean_across_ranks,
    shutdown_distributed,
    unwrap_model,
    wrap_model,
)
from fastmed.train.engine.loop import run_steps

N = 13  # odd: with 2 ranks, one sample is repeated per epoch (DistributedSampler's padding)
EPOCHS = 2
BATCH = 2
SEED = 7


def dataset() -> list[dict[str, Any]]:
    """``N`` samples ``{"image": x (4,), "target": x·w, "index": i}``, the same on every rank."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    return [{"image": x[i], "target": y[i : i + 1], "index": i} for i in range(N)]


def mse(model: torch.nn.Module, batch: Mapping[str, Any]) -> torch.Tensor:
    """Mean squared error of the batch."""
    return torch.nn.functional.mse_loss(model(batch["image"]), batch["target"])


def flat(tensors: Any) -> list[float]:
    """Concatenated values of the tensors, as floats."""
    return torch.cat([t.detach().reshape(-1) for t in tensors]).double().tolist()


def main(out: Path) -> None:
    """Join the group, train on this rank, write ``rank<r>.json`` and leave the group."""
    torch.set_num_threads(1)
    info = init_distributed("cpu")
    assert info.distributed and info.world_size == 2, info
    train(out, info)
    shutdown_distributed(info)  # the DDP model is out of scope: its backend is freed before the group is left


def train(out: Path, info: DistInfo) -> None:
    """Train on this rank and write ``rank<r>.json``."""
    torch.manual_seed(100 + info.rank)  # a different initialisation per rank: DDP must broadcast rank 0's
    model = wrap_model(torch.nn.Linear(4, 1), info)
    inner = unwrap_model(model)
    initial = flat(inner.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loader = fm.DataLoader(dataset(), batch_size=BATCH, shuffle=True, seed=SEED)

    seen: list[dict[str, Any]] = []
    local_grads: list[list[float]] = []
    reduced_grads: list[list[float]] = []

    def batches() -> Iterator[Mapping[str, Any]]:
        for epoch in range(EPOCHS):
            assert loader.epoch == epoch
            for b in loader:
                seen.append({"epoch": epoch, "ids": b["index"].tolist()})
                yield b

    def step_fn(m: torch.nn.Module, b: Mapping[str, Any]) -> torch.Tensor:
        ref = copy.deepcopy(unwrap_model(m))  # same parameters, no DDP hooks: this rank's gradient alone
        mse(ref, b).backward()
        local_grads.append(flat(p.grad for p in ref.parameters() if p.grad is not None))
        return mse(m, b)

    def before_step(*_: Any) -> None:
        reduced_grads.append(flat(p.grad for p in inner.parameters() if p.grad is not None))

    opt.register_step_pre_hook(before_step)
    state = run_steps(model, opt, batches(), step_fn, max_steps=10**6)

    final = torch.tensor(flat(inner.parameters()), dtype=torch.float64)
    gathered = [torch.zeros_like(final) for _ in range(info.world_size)]
    dist.all_gather(gathered, final)
    result = {
        "rank": info.rank,
        "world_size": info.world_size,
        "steps": state.step,
        "seen": seen,
        "local_grads": local_grads,
        "reduced_grads": reduced_grads,
        "initial": initial,
        "final": final.tolist(),
        "gathered_final": [g.tolist() for g in gathered],
        "last_loss": state.losses[-1],
        "mean_last_loss": mean_across_ranks(state.losses[-1], info),
    }
    (out / f"rank{info.rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    # Once, in a loaded full-suite run, a rank aborted in interpreter teardown ("terminate called without an active
    # exception") while the DDP model still held the gloo backend; shutdown_distributed now frees it and waits at a
    # barrier first (40 of 40 runs clean here without this guard, but the abort was never reproduced on demand).
    # Skip teardown anyway: the results are on disk, and a teardown abort must not fail this test of DDP semantics.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
