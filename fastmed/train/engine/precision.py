"""Mixed precision: bf16 autocast on CPU or GPU, fp16 with a gradient scaler on GPU, or full fp32."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


def check_precision(precision: str, device_type: str) -> None:
    """Raise ``ValueError`` for an unknown precision or fp16 on CPU (use bf16 there)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp16" and device_type != "cuda":
        raise ValueError("fp16 autocast needs a CUDA device; use bf16 on CPU")


def autocast(precision: str, device_type: str = "cpu") -> contextlib.AbstractContextManager[Any]:
    """Context manager running the forward pass in ``precision`` (a no-op for fp32)."""
    check_precision(precision, device_type)
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device_type, dtype=dtype)


def grad_scaler(precision: str, device_type: str = "cpu") -> torch.amp.GradScaler:
    """A gradient scaler, enabled only for fp16 (bf16 has fp32's exponent range and needs none)."""
    check_precision(precision, device_type)
    return torch.amp.GradScaler(device_type, enabled=precision == "fp16")
