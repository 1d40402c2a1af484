"""Checkpoints: weights in safetensors; optimizer and scaler via ``torch.save``; progress and loader state in JSON.

A checkpoint is a folder written atomically (a temporary sibling renamed into place), holding
``model.safetensors``, ``optimizer.pt``, ``scaler.pt`` (when given) and ``state.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from os import PathLike
from pathlib import Path
from typing import Any

import torch

from fastmed.train.engine.loop import LoopState


def _safetensors() -> Any:
    try:
        import safetensors.torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("checkpoints need the `safetensors` package: pip install 'fastmed[train]'") from exc
    return safetensors.torch


def save_checkpoint(
    path: str | PathLike[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    state: LoopState | None = None,
    scaler: torch.amp.GradScaler | None = None,
    loader_state: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder at ``path`` (replacing any previous one atomically).

    Parameters
    ----------
    path
        Checkpoint folder.
    model
        Its ``state_dict`` goes to ``model.safetensors`` (shared tensors are handled by safetensors).
    optimizer, scaler
        Their state dicts (``torch.save``; they hold step counters and non-tensor settings).
    state
        Loop progress (step, micro-batches, loss history).
    loader_state, extra
        JSON-serialisable dicts (the loader's ``state_dict()``, the resolved config...).

    Returns
    -------
    pathlib.Path
        The checkpoint folder.
    """
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    _safetensors().save_model(model, str(tmp / "model.safetensors"))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if scaler is not None:
        torch.save(scaler.state_dict(), tmp / "scaler.pt")
    st = state if state is not None else LoopState()
    meta = {
        "step": st.step,
        "micro_batches": st.micro_batches,
        "losses": st.losses,
        "samples": st.samples,
        "data_wait_s": st.data_wait_s,
        "compute_s": st.compute_s,
        "loader_state": loader_state,
        "extra": extra or {},
    }
    (tmp / "state.json").write_text(json.dumps(meta, indent=1))
    if out.exists():
        old = out.with_name(out.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    return out


def load_checkpoint(
    path: str | PathLike[str],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
    device: str | torch.device = "cpu",
) -> tuple[LoopState, dict[str, Any]]:
    """Restore a checkpoint written by :func:`save_checkpoint` into ``model`` (and optimizer, scaler).

    Returns
    -------
    tuple
        ``(loop_state, meta)`` where ``meta`` holds ``loader_state`` and ``extra``.
    """
    src = Path(path)
    missing, unexpected = _safetensors().load_model(
        model, str(src / "model.safetensors"), strict=True, device=str(device)
    )
    if missing or unexpected:  # pragma: no cover - strict=True raises first
        raise RuntimeError(f"{src}: checkpoint does not match the model")
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(src / "optimizer.pt", map_location=device, weights_only=True))
    if scaler is not None and (src / "scaler.pt").exists():
        scaler.load_state_dict(torch.load(src / "scaler.pt", weights_only=True))
    meta = json.loads((src / "state.json").read_text())
    state = LoopState(
        step=int(meta["step"]),
        micro_batches=int(meta["micro_batches"]),
        losses=list(meta["losses"]),
        samples=int(meta.get("samples", 0)),
        data_wait_s=float(meta.get("data_wait_s", 0.0)),
        compute_s=float(meta.get("compute_s", 0.0)),
    )
    return state, {"loader_state": meta.get("loader_state"), "extra": meta.get("extra", {})}
