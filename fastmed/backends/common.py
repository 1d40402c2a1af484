"""Helpers every backend shares (none imports another backend's module for them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.transforms.batch_out import check_out, host_view, patch_shapes
from fastmed.transforms.plan import SamplePlan


def bf16_bits(a: npt.NDArray[np.float32]) -> npt.NDArray[np.uint16]:
    """bfloat16 bits (round to nearest even) of a float32 array, as uint16."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + np.uint32(0x7FFF) + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    r[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return r


def align_corners(n_in: Sequence[int], n_out: Sequence[int]) -> npt.NDArray[np.float64]:
    """Voxel matrix mapping an ``n_out`` grid onto an ``n_in`` grid with corner voxels aligned."""
    m = np.eye(4)
    for a in range(3):
        m[a, a] = (n_in[a] - 1) / (n_out[a] - 1) if n_out[a] > 1 else 0.0
    return m


def host_slots(
    plans: Sequence[SamplePlan], samples: Sequence[Mapping[str, Any]], out: Mapping[str, Any] | None
) -> dict[str, npt.NDArray[np.generic]]:
    """Check ``out`` against the batch and view each array as numpy (host memory only)."""
    if not out:
        return {}
    infos = check_out(out, patch_shapes(plans, samples), len(plans))
    return {key: host_view(a, infos[key], key) for key, a in out.items()}
