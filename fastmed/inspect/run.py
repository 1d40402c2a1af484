"""``inspect_pipeline``: run a pipeline on a volume N times and write the montage PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import FastmedError
from fastmed.inspect.caption import caption, format_number
from fastmed.inspect.montage import Row, display_range, render, views_of
from fastmed.inspect.source import InspectInput, load_input, load_pipeline
from fastmed.transforms import Compose


def _to_numpy(a: Any) -> npt.NDArray[np.float32]:
    if isinstance(a, np.ndarray):
        return a.astype(np.float32, copy=False)
    if hasattr(a, "float") and hasattr(a, "cpu"):  # a torch tensor (bfloat16 output)
        return np.asarray(a.float().cpu().numpy(), dtype=np.float32)
    return np.asarray(a, dtype=np.float32)


def _row(
    image: npt.NDArray[Any], spacing: Sequence[float], label: npt.NDArray[Any] | None, lines: list[str], channel: int
) -> Row:
    img = _to_numpy(image)
    if not -img.shape[0] <= channel < img.shape[0]:
        raise FastmedError(f"inspect: channel {channel} out of range for {img.shape[0]} channels")
    vol = img[channel]
    lab = None if label is None else np.asarray(label)[0]
    lo, hi = display_range(vol)
    lines = [*lines, f"display [{format_number(lo)}, {format_number(hi)}]"]
    return Row(views_of(vol, spacing, lab), lo, hi, tuple(lines))


def inspect_pipeline(
    source: str | os.PathLike[str] | InspectInput,
    pipeline: str | os.PathLike[str] | Compose,
    out: str | os.PathLike[str],
    *,
    n: int = 4,
    seed: int = 0,
    epoch: int = 0,
    indices: Sequence[int] | None = None,
    label: str | os.PathLike[str] | None = None,
    spacing: Sequence[float] | None = None,
    patch: Sequence[int] | None = None,
    channel: int = 0,
    panel_px: int = 256,
) -> tuple[int, int]:
    """Write a PNG montage of what ``pipeline`` does to ``source``.

    Row 0 is the input; rows 1..n are samples ``indices`` (default ``0 .. n-1``) of
    ``(seed, epoch)``, each with three orthogonal slices through the patch centre (one
    panel for 2-D), labels as contours, and the drawn params as a caption.

    Parameters
    ----------
    source
        DICOM series folder or file, ``.npy`` volume, or an :class:`InspectInput`.
    pipeline
        A :class:`Compose`, a preset name (``r3d``, ``xray2d``, ``ct-default``) or a
        JSON/YAML file of ``Compose.to_dict()``.
    out
        PNG path.
    n, seed, epoch, indices
        Which samples to draw.
    label
        Label ``.npy`` on the image grid (drawn as contours).
    spacing
        Spacing override in mm.
    patch
        Patch size of a preset (default: the preset's, cut to the volume).
    channel
        Image channel to show.
    panel_px
        Size of one panel in pixels.

    Returns
    -------
    The PNG's (width, height) in pixels.
    """
    inp = source if isinstance(source, InspectInput) else load_input(source, label=label, spacing=spacing)
    aug = (
        pipeline
        if isinstance(pipeline, Compose)
        else load_pipeline(pipeline, fit_shape=inp.image.shape[1:], fit_spacing=inp.spacing, patch=patch)
    )
    idx = list(range(n)) if indices is None else [int(i) for i in indices]
    if not idx:
        raise FastmedError("inspect: no samples requested (n must be >= 1)")
    if panel_px < 32:
        raise FastmedError(f"inspect: panel_px must be >= 32, got {panel_px}")
    sample = inp.sample()
    src = np.asarray(inp.image)
    head = [
        f"input {inp.name}",
        f"shape {'×'.join(str(s) for s in src.shape[1:])} ch {src.shape[0]} {src.dtype}",
        "spacing " + ",".join(format_number(s) for s in inp.spacing) + " mm",
        f"range [{format_number(src.min())}, {format_number(src.max())}]",
        f"pipeline: {len(aug.ops)} ops" + (", label contours" if inp.label is not None else ""),
    ]
    rows = [_row(src, inp.spacing, inp.label, head, channel)]
    for i in idx:
        res = aug(sample, seed=seed, index=i, epoch=epoch)
        lines = caption(res["params"], aug.ops)
        rows.append(
            _row(res["image"], res["spacing"], res.get("label") if inp.label is not None else None, lines, channel)
        )
    return render(rows, out, panel_px)
