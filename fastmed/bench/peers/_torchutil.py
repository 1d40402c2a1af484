"""Small helpers shared by the torch-based peers."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import numpy.typing as npt


def shared_tensor(arr: npt.NDArray[Any]) -> Any:
    """A torch view of ``arr`` sharing its memory (no copy of the volume).

    The benchmark volumes are read-only on purpose (no peer may change the input the next
    row reads); torch warns about that once, and no peer writes to its input.
    """
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def to_numpy(x: Any) -> npt.NDArray[np.float32]:
    """A torch tensor / MONAI MetaTensor / array as a numpy array (zero-copy where possible)."""
    if hasattr(x, "as_tensor"):
        x = x.as_tensor()
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def monai_elastic_magnitude(max_disp: float, sigma: float, ndim: int) -> float:
    """MONAI's elastic ``magnitude`` giving about ``max_disp`` voxels of largest displacement.

    MONAI smooths uniform(-1, 1) offsets with a unit-sum gaussian of ``sigma`` and multiplies
    by ``magnitude``: the smoothed field's standard deviation is about
    ``sqrt(1/3) / sqrt((4 pi)^{ndim/2} sigma^ndim)`` and its largest values about 3 of those.
    """
    std = (1.0 / 3.0) ** 0.5 / ((4.0 * np.pi) ** (ndim / 2) * sigma**ndim) ** 0.5
    return float(max_disp / (3.0 * std))
