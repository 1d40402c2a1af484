"""Validation of fastmed's own DataLoader keyword arguments (torch validates its own)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from fastmed.errors import LoaderError
from fastmed.loader.progress import check_progress

ON_ERROR = ("raise", "skip")
_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?)$")
_SEED_LIMIT = 2**63


@dataclass(frozen=True)
class Options:
    """fastmed's loader options after validation.

    Attributes
    ----------
    seed
        Seed of the sample order and the augmentations, or ``None`` (torch's own randomness).
    device
        Where batches are moved (``None``: left where collate put them).
    on_error
        ``"raise"`` or ``"skip"``.
    rank, world_size
        This process's shard of every epoch (``world_size == 1``: no sharding).
    keyed_transform
        Whether ``transform`` takes ``seed=``, ``index=`` and ``epoch=`` keywords.
    progress
        The progress bar per epoch: ``False``, ``"tqdm"`` or ``"rich"``.
    max_worker_restarts
        Worker deaths tolerated per epoch before the loader gives up.
    """

    seed: int | None
    device: torch.device | None
    on_error: str
    rank: int
    world_size: int
    keyed_transform: bool
    progress: bool | str
    max_worker_restarts: int


def _check_seed(seed: int | None) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < _SEED_LIMIT:
        raise LoaderError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def _check_device(device: str | torch.device | None) -> torch.device | None:
    if device is None:
        return None
    text = str(device)
    if not _DEVICE.match(text):
        raise LoaderError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    dev = torch.device(text)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise LoaderError(f"device={text!r} but torch sees no CUDA device")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise LoaderError(f"device={text!r} but torch sees {torch.cuda.device_count()} CUDA device(s)")
    return dev


def _check_shard(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is None and world_size is None:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(), torch.distributed.get_world_size()
        return 0, 1
    if rank is None or world_size is None:
        raise LoaderError("rank= and world_size= must be given together")
    if isinstance(world_size, bool) or not isinstance(world_size, int) or world_size < 1:
        raise LoaderError(f"world_size must be a positive integer, got {world_size!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < world_size:
        raise LoaderError(f"rank must be an integer in [0, {world_size}), got {rank!r}")
    return rank, world_size


def _takes_keys(transform: Callable[..., Any]) -> bool:
    """Whether ``transform`` accepts ``seed``, ``index`` and ``epoch`` keywords (fastmed's Compose does)."""
    try:
        params = inspect.signature(transform).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return True
    return all(k in params for k in ("seed", "index", "epoch"))


def check_options(
    *,
    seed: int | None,
    device: str | torch.device | None,
    on_error: str,
    rank: int | None,
    world_size: int | None,
    transform: Callable[..., Any] | None,
    samples_per_volume: int,
    patch_sampler: object | None,
    progress: bool | str,
    max_worker_restarts: int,
) -> Options:
    """Validate fastmed's keyword arguments; raise :class:`LoaderError` naming the bad one."""
    if on_error not in ON_ERROR:
        raise LoaderError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if transform is not None and not callable(transform):
        raise LoaderError(f"transform must be callable (a fastmed Compose), got {type(transform).__name__}")
    if isinstance(samples_per_volume, bool) or not isinstance(samples_per_volume, int) or samples_per_volume < 1:
        raise LoaderError(f"samples_per_volume must be a positive integer, got {samples_per_volume!r}")
    from fastmed.loader.patches import check_patch_sampler

    check_patch_sampler(patch_sampler)
    if isinstance(max_worker_restarts, bool) or not isinstance(max_worker_restarts, int) or max_worker_restarts < 0:
        raise LoaderError(f"max_worker_restarts must be a non-negative integer, got {max_worker_restarts!r}")
    r, w = _check_shard(rank, world_size)
    return Options(
        seed=_check_seed(seed),
        device=_check_device(device),
        on_error=on_error,
        rank=r,
        world_size=w,
        keyed_transform=transform is not None and _takes_keys(transform),
        progress=check_progress(progress),
        max_worker_restarts=max_worker_restarts,
    )
