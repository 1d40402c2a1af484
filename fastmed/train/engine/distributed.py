"""``torch.distributed`` set-up for the bundled loops: one process per rank, launched by ``torchrun``.

A run reads its rank from torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``). Without
it (or with ``WORLD_SIZE=1``) everything here is a no-op, so the same recipe code runs alone or
distributed. The loader shards samples itself once the process group exists
(:class:`fastmed.DataLoader` reads the rank and world size from ``torch.distributed``).
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run.

    Parameters
    ----------
    rank, world_size, local_rank
        As torchrun sets them; ``0, 1, 0`` for a single process.
    device
        The device this rank trains on (``cuda:LOCAL_RANK`` for CUDA runs, else CPU).
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """True on rank 0: the rank that writes logs, checkpoints and reports."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """True when more than one rank takes part."""
        return self.world_size > 1


def init_distributed(device: str = "cpu", backend: str | None = None) -> DistInfo:
    """Join the process group torchrun describes, or describe a single-process run.

    Parameters
    ----------
    device
        ``"cpu"`` or ``"cuda"``; a CUDA run puts each rank on ``cuda:LOCAL_RANK``.
    backend
        Process-group backend; default ``nccl`` for CUDA and ``gloo`` for CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda")
    dev = torch.device(f"cuda:{local_rank}") if cuda else torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"), rank=rank, world_size=world_size)
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def wrap_model(model: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """Move ``model`` to the rank's device and wrap it in DDP when the run is distributed.

    DDP looks for parameters that get no gradient in a step (``find_unused_parameters=True``): MONAI's
    ``TransformerBlock`` always holds a ``norm_cross_attn`` LayerNorm that is used only with cross-attention, so
    every ViT of the recipes has such parameters, and DDP without the search stops at the second step.
    """
    model = model.to(info.device)
    if not info.distributed:
        return model
    ids = [info.device.index] if info.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (the model itself otherwise): what checkpoints and exports save."""
    inner = getattr(model, "module", None)
    return inner if isinstance(model, torch.nn.parallel.DistributedDataParallel) and inner is not None else model


def mean_across_ranks(value: float, info: DistInfo) -> float:
    """Average a scalar (a loss, a metric) over all ranks; the value itself for a single process."""
    if not info.distributed:
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / info.world_size


def shutdown_distributed(info: DistInfo, *, synchronize: bool = True) -> None:
    """Leave the process group (a no-op for a single process).

    Parameters
    ----------
    info
        The process group facts from :func:`init_distributed`.
    synchronize
        Wait at a barrier first, so no rank closes its connections while a peer still talks to it. Pass ``False``
        when leaving because of an error: the peers may never reach the barrier.
    """
    if not (info.distributed and dist.is_initialized()):
        return
    # A DDP wrapper sits in reference cycles and keeps the backend (and its worker threads) alive until a garbage
    # collection; collected at interpreter teardown instead, the backend's threads can die with the interpreter
    # half gone (pytorch/pytorch#190489 reports the same abort). Free it while everything is still alive.
    gc.collect()
    if synchronize:
        dist.barrier()
    dist.destroy_process_group()
