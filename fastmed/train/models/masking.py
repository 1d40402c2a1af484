"""MAE patch masks drawn from the keyed Philox RNG, so the data side can draw them per sample.

A mask is a pure function of ``(seed, epoch, index)``: any worker, rank or resumed run draws the
same mask for the same sample, and the model step does no random work. numpy only (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fastmed.rng import BatchRNG, KeyedRNG

MAE_STREAM = 0x4D414500
"""RNG stream of MAE masks ("MAE\\0"), far from the small op-position streams of augmentation pipelines."""


def n_masked(n_patches: int, ratio: float) -> int:
    """Number of masked patches for ``ratio``: ``round(n_patches * ratio)``, at least one kept and one masked."""
    if not 0.0 < ratio < 1.0:
        raise ValueError(f"mask ratio must be in (0, 1), got {ratio}")
    k = int(round(n_patches * ratio))
    if not 0 < k < n_patches:
        raise ValueError(f"mask ratio {ratio} on {n_patches} patches leaves nothing masked or nothing visible")
    return k


def mae_mask(shape_in_patches: Sequence[int], ratio: float, seed: int, epoch: int, index: int) -> npt.NDArray[np.bool_]:
    """Random MAE mask of one sample: True where a patch is masked (hidden from the encoder).

    Exactly ``n_masked(prod(shape), ratio)`` patches are masked, chosen uniformly without replacement
    (the patches with the smallest keyed uniform draws).

    Parameters
    ----------
    shape_in_patches
        Patch grid, e.g. ``(4, 4, 4)`` for a 32³ volume in 8³ patches, or ``(8, 8)`` in 2D.
    ratio
        Fraction of patches to mask, in (0, 1) (MAE uses 0.75).
    seed, epoch, index
        Keys of the sample (as the loader's :class:`~fastmed.rng.KeyedRNG`).

    Returns
    -------
    numpy.ndarray
        Bool array of shape ``shape_in_patches``; flattened in C order it follows the token order
        of :class:`~fastmed.train.models.vit.ViTEncoder`.
    """
    shape = tuple(int(s) for s in shape_in_patches)
    if not shape or min(shape) < 1:
        raise ValueError(f"bad patch grid {shape}")
    n = int(np.prod(shape))
    k = n_masked(n, ratio)
    u = np.asarray(KeyedRNG(seed, epoch, index, MAE_STREAM).random(n))
    mask = np.zeros(n, dtype=np.bool_)
    mask[np.argsort(u, kind="stable")[:k]] = True
    return mask.reshape(shape)


def mae_masks(
    shape_in_patches: Sequence[int], ratio: float, seed: int, epoch: int, indices: Sequence[int]
) -> npt.NDArray[np.bool_]:
    """Masks of a batch of samples, stacked: shape ``(len(indices), *shape_in_patches)``.

    Row ``k`` equals ``mae_mask(shape_in_patches, ratio, seed, epoch, indices[k])`` bit for bit: the same
    keyed draws (one :class:`~fastmed.rng.BatchRNG` call for the batch) and the same stable argsort, row-wise.
    """
    shape = tuple(int(s) for s in shape_in_patches)
    if not shape or min(shape) < 1:
        raise ValueError(f"bad patch grid {shape}")
    n = int(np.prod(shape))
    k = n_masked(n, ratio)
    rows = len(indices)
    if rows == 0:
        return np.zeros((0, *shape), dtype=np.bool_)
    u = BatchRNG(seed, epoch, [int(i) for i in indices], MAE_STREAM).random(n)
    mask = np.zeros((rows, n), dtype=np.bool_)
    np.put_along_axis(mask, np.argsort(u, axis=1, kind="stable")[:, :k], True, axis=1)
    return mask.reshape((rows, *shape))
