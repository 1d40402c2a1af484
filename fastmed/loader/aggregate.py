"""Blending patch outputs back into a volume: importance-weighted sums over overlapping patches.

:class:`PatchAggregator` adds model outputs ``(B, C, *patch)`` at their grid locations (from
:class:`~fastmed.loader.grid.GridPatches`), each voxel weighted by an importance map over the
patch (constant, or a Gaussian that trusts patch centres more than borders), and divides by
the summed weights: MONAI's ``sliding_window_inference`` blending, in the same float32
arithmetic. Parts of a patch outside the volume (padding) are dropped. The result carries the
volume's geometry (:class:`BlendedVolume`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from fastmed.loader.grid import Geometry
from fastmed.volume import Volume

MODES = ("constant", "gaussian")


def importance_map(
    patch_size: Sequence[int],
    mode: str = "gaussian",
    sigma_scale: float | Sequence[float] = 0.125,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The float32 weight of each voxel of a patch (MONAI's ``compute_importance_map``).

    ``"constant"``: ones. ``"gaussian"``: the product over axes of
    ``exp(-x**2 / (2 * (sigma_scale * p) ** 2))`` with ``x`` the distance to the patch centre
    (``-(p - 1) / 2 .. (p - 1) / 2``). Weights are clamped below at ``max(min, 1e-3)``.
    """
    size = tuple(int(p) for p in patch_size)
    dev = torch.device(device or "cpu")
    if mode == "constant":
        w = torch.ones(size, dtype=torch.float32, device=dev)
    elif mode == "gaussian":
        scales = (
            tuple(float(s) for s in sigma_scale)
            if isinstance(sigma_scale, Sequence)
            else (float(sigma_scale),) * len(size)
        )
        if len(scales) != len(size) or any(s <= 0 for s in scales):
            raise ValueError(f"sigma_scale must be positive, one value or one per axis, got {sigma_scale!r}")
        w = torch.ones((), dtype=torch.float32, device=dev)
        for i, (p, s) in enumerate(zip(size, scales, strict=True)):
            sigma = p * s
            x = torch.arange(-(p - 1) / 2.0, (p - 1) / 2.0 + 1, dtype=torch.float32, device=dev)
            x = torch.exp(x**2 / (-2 * sigma**2))
            w = w.unsqueeze(-1) * x[(None,) * i] if i > 0 else x
    else:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return torch.clamp(w, min=max(float(torch.min(w).item()), 1e-3))


@dataclass(frozen=True, eq=False)
class BlendedVolume:
    """A blended model output over a whole volume, in that volume's geometry.

    Parameters
    ----------
    array
        ``(C, *shape)`` float32 tensor.
    spacing, origin, direction
        As the source volume's (see :class:`~fastmed.Volume`).
    """

    array: torch.Tensor
    spacing: tuple[float, ...]
    origin: tuple[float, float, float]
    direction: npt.NDArray[np.float64]

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape (without the channel axis)."""
        return tuple(self.array.shape[1:])

    def channel(self, c: int) -> Volume:
        """Channel ``c`` as a :class:`~fastmed.Volume` (numpy float32) with this geometry."""
        return Volume(self.array[c].detach().cpu().numpy(), self.spacing, self.origin, self.direction)

    def argmax(self) -> Volume:
        """The per-voxel argmax over channels (a label map, int64) as a :class:`~fastmed.Volume`."""
        labels = torch.argmax(self.array, dim=0).detach().cpu().numpy()
        return Volume(labels, self.spacing, self.origin, self.direction)


class PatchAggregator:
    """Sum of importance-weighted patch outputs over a volume, divided by the summed weights.

    Parameters
    ----------
    volume_shape
        Spatial shape of the volume.
    patch_size
        Spatial size of every output patch.
    mode
        ``"gaussian"`` or ``"constant"`` importance weights (:func:`importance_map`).
    sigma_scale
        Gaussian sigma as a fraction of the patch size, one value or one per axis.
    device
        Where the sums live (``None``: the device of the first outputs added).
    geometry
        The volume's geometry, carried by :meth:`volume` (``None``: unit spacing, origin 0,
        identity directions).

    Examples
    --------
    >>> from fastmed.loader.grid import GridPatches
    >>> grid = GridPatches(np.ones((40, 50), np.float32), (32, 32))
    >>> agg = PatchAggregator(grid.shape, grid.patch_size)
    >>> for images, locations in grid.batches(4):
    ...     agg.add(torch.from_numpy(images) * 2, locations)
    >>> float(agg.result().max())
    2.0
    """

    def __init__(
        self,
        volume_shape: Sequence[int],
        patch_size: Sequence[int],
        mode: str = "gaussian",
        sigma_scale: float | Sequence[float] = 0.125,
        device: torch.device | str | None = None,
        geometry: Geometry | None = None,
    ):
        self.shape = tuple(int(s) for s in volume_shape)
        self.patch_size = tuple(int(p) for p in patch_size)
        if len(self.shape) != len(self.patch_size):
            raise ValueError(f"a {len(self.shape)}-D volume for {len(self.patch_size)}-D patches")
        self.mode = mode
        self.sigma_scale = sigma_scale
        self.geometry = geometry or Geometry((1.0,) * len(self.shape))
        self._device = torch.device(device) if device is not None else None
        self._weights: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._count: torch.Tensor | None = None
        importance_map((1,) * len(self.patch_size), mode, sigma_scale)  # validate mode / sigma now

    def _start(self, channels: int, device: torch.device) -> None:
        self._device = self._device or device
        self._weights = importance_map(self.patch_size, self.mode, self.sigma_scale, self._device)
        self._sum = torch.zeros((channels, *self.shape), dtype=torch.float32, device=self._device)
        self._count = torch.zeros(self.shape, dtype=torch.float32, device=self._device)

    def add(self, outputs: torch.Tensor | npt.NDArray[Any], locations: npt.ArrayLike) -> None:
        """Add a batch of patch outputs at their start corners.

        Parameters
        ----------
        outputs
            ``(B, C, *patch_size)`` (detached; cast to float32 on the aggregator's device).
        locations
            ``(B, ndim)`` start corners in the volume's voxel indices (as
            :attr:`GridPatches.locations <fastmed.loader.grid.GridPatches.locations>`).
        """
        out = torch.as_tensor(outputs).detach()
        locs = np.asarray(locations, dtype=np.int64).reshape(-1, len(self.shape))
        if out.ndim != len(self.shape) + 2 or tuple(out.shape[2:]) != self.patch_size or out.shape[0] != len(locs):
            raise ValueError(
                f"outputs of shape {tuple(out.shape)} for {len(locs)} locations: expected (B, C, *{self.patch_size})"
            )
        if self._sum is None:
            self._start(int(out.shape[1]), out.device)
        assert self._sum is not None and self._count is not None and self._weights is not None
        if out.shape[1] != self._sum.shape[0]:
            raise ValueError(f"outputs have {out.shape[1]} channels, earlier ones {self._sum.shape[0]}")
        out = out.to(device=self._sum.device, dtype=torch.float32)
        for patch, loc in zip(out, locs, strict=True):
            src, dst = [], []
            for a, p, n in zip((int(v) for v in loc), self.patch_size, self.shape, strict=True):
                lo, hi = max(a, 0), min(a + p, n)
                if lo >= hi:
                    break
                src.append(slice(lo - a, hi - a))
                dst.append(slice(lo, hi))
            else:
                w = self._weights[tuple(src)]
                self._sum[(slice(None), *dst)] += patch[(slice(None), *src)] * w
                self._count[tuple(dst)] += w

    def result(self) -> torch.Tensor:
        """The blended ``(C, *shape)`` float32 output.

        Raises
        ------
        ValueError
            Nothing was added, or some voxel is under no patch.
        """
        if self._sum is None or self._count is None:
            raise ValueError("no patch outputs were added")
        if bool((self._count <= 0).any()):
            raise ValueError("some voxels are covered by no patch: add every patch of the grid")
        return self._sum / self._count

    def volume(self) -> BlendedVolume:
        """:meth:`result` with the volume's geometry."""
        g = self.geometry
        return BlendedVolume(self.result(), tuple(g.spacing), tuple(g.origin), np.asarray(g.direction))  # type: ignore[arg-type]
