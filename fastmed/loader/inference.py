"""Sliding-window inference: run a model on every grid patch of a volume and blend the outputs.

Built from :class:`~fastmed.loader.grid.GridPatches` (which reads only each patch's window)
and :class:`~fastmed.loader.aggregate.PatchAggregator`; the grid, padding, importance weights
and blending are MONAI's ``sliding_window_inference`` (the tests compare with it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from fastmed.loader.aggregate import BlendedVolume, PatchAggregator
from fastmed.loader.grid import GridPatches


def _model_device(model: Any) -> torch.device:
    params = getattr(model, "parameters", None)
    if callable(params):
        for p in params():
            return torch.device(p.device)
    return torch.device("cpu")


def sliding_window_inference(
    model: Callable[[torch.Tensor], torch.Tensor],
    volume: Any,
    roi_size: Sequence[int],
    overlap: float | Sequence[float] = 0.25,
    mode: str = "gaussian",
    batch_size: int = 4,
    device: torch.device | str | None = None,
    sigma_scale: float | Sequence[float] = 0.125,
    pad_value: float = 0.0,
    dtype: torch.dtype = torch.float32,
) -> BlendedVolume:
    """Predict a whole volume patch by patch and blend the overlapping outputs.

    Parameters
    ----------
    model
        Maps ``(B, C, *roi_size)`` to ``(B, C_out, *roi_size)`` (a ``torch.nn.Module`` or any
        callable). Called as it is: wrap the call in ``torch.no_grad()`` (or put the model
        in ``eval()``) as for any inference; the outputs are detached before blending.
    volume
        What :class:`~fastmed.loader.grid.GridPatches` takes: a lazy volume (a store volume
        reads only each patch's chunks), a :class:`~fastmed.Volume`, or an array / CPU tensor
        shaped ``(*spatial)`` or ``(C, *spatial)`` with ``len(roi_size)`` spatial axes.
    roi_size
        Patch size per spatial axis (the model's input size).
    overlap
        Fraction of a patch shared with its neighbour, in ``[0, 1)``, one value or one per axis.
    mode
        ``"gaussian"`` or ``"constant"`` blending weights.
    batch_size
        Patches per model call (MONAI's ``sw_batch_size``).
    device
        Where patches go and outputs are summed (``None``: the model's parameters' device,
        else the CPU).
    sigma_scale
        Gaussian sigma as a fraction of the patch size.
    pad_value
        Input value outside the volume where an axis is shorter than ``roi_size``.
    dtype
        The patches' dtype for the model.

    Returns
    -------
    BlendedVolume
        ``array``: ``(C_out, *spatial)`` float32 on ``device``; the source's spacing, origin
        and direction (unit / zero / identity for a bare array).

    Examples
    --------
    >>> import numpy as np
    >>> out = sliding_window_inference(lambda x: x * 2, np.ones((3, 40, 50), np.float32), (32, 32))
    >>> tuple(out.array.shape), float(out.array.max())
    ((3, 40, 50), 2.0)
    """
    grid = GridPatches(volume, roi_size, overlap, pad_value)
    dev = torch.device(device) if device is not None else _model_device(model)
    agg = PatchAggregator(grid.shape, grid.patch_size, mode, sigma_scale, dev, grid.geometry)
    for images, locations in grid.batches(batch_size):
        x = torch.from_numpy(images.astype(np.float32, copy=False)).to(device=dev, dtype=dtype)
        agg.add(model(x), locations)
    return agg.volume()
