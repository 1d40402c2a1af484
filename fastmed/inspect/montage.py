"""Render an inspection montage: one row per sample, orthogonal slices and a caption.

Row 0 is the unaugmented input (slices through the volume centre); row ``k`` is sample
``k`` of the pipeline (slices through the patch centre). 3-D rows show axial (a
``z`` slice, ``y`` down), coronal (``y`` slice) and sagittal (``x`` slice) views, with
the first array axis drawn upwards in the latter two and the voxel spacing as the
aspect ratio; 2-D rows show the image. Each row is shown with its own display range
(0.5-99.5 percentiles, named in the caption); labels are drawn as contours, one
colour per label value. Rendering uses matplotlib's Agg canvas on a private Figure
(no pyplot state), so it is safe in threads and on machines without a display.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

DPI = 100
TITLE_PX = 18
CAPTION_PX = 400
FONT_PT = 8.0
BACKGROUND = "#101010"
FOREGROUND = "#e8e8e8"
LABEL_COLOURS = ("#ff4040", "#40ff60", "#40a0ff", "#ffd040", "#ff40ff", "#40ffff", "#ff9040", "#ffffff")


@dataclass(frozen=True, eq=False)
class View:
    """One panel: a 2-D slice, its aspect (row spacing / column spacing) and orientation."""

    title: str
    image: npt.NDArray[np.float32]
    aspect: float
    origin: Literal["upper", "lower"] = "upper"
    label: npt.NDArray[Any] | None = None


@dataclass(frozen=True, eq=False)
class Row:
    """One montage row: its panels, display range and caption lines."""

    views: tuple[View, ...]
    vmin: float
    vmax: float
    caption: tuple[str, ...]


def views_of(
    image: npt.NDArray[Any], spacing: Sequence[float], label: npt.NDArray[Any] | None = None
) -> tuple[View, ...]:
    """The central orthogonal slices of a (D, H, W) volume, or the whole (H, W) image."""
    img = np.asarray(image, dtype=np.float32)
    lab = None if label is None else np.asarray(label)
    sp = [float(s) for s in spacing]
    if img.ndim == 2:
        return (View(f"image {img.shape[0]}×{img.shape[1]}", img, sp[0] / sp[1], "upper", lab),)
    d, h, w = img.shape
    z, y, x = d // 2, h // 2, w // 2

    def cut(a: npt.NDArray[Any] | None, sl: tuple[Any, ...]) -> npt.NDArray[Any] | None:
        return None if a is None else a[sl]

    return (
        View(f"axial z={z}/{d}", img[z], sp[1] / sp[2], "upper", cut(lab, (z,))),
        View(f"coronal y={y}/{h}", img[:, y, :], sp[0] / sp[2], "lower", cut(lab, (slice(None), y))),
        View(f"sagittal x={x}/{w}", img[:, :, x], sp[0] / sp[1], "lower", cut(lab, (slice(None), slice(None), x))),
    )


def display_range(image: npt.NDArray[Any]) -> tuple[float, float]:
    """0.5 and 99.5 percentiles of the finite values (a unit range if flat)."""
    v = np.asarray(image, dtype=np.float32)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    lo, hi = (float(q) for q in np.percentile(v, [0.5, 99.5]))
    if not hi > lo:
        lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


def montage_size(n_rows: int, n_views: int, panel_px: int) -> tuple[int, int]:
    """Width and height in pixels of a montage (what :func:`render` writes)."""
    return n_views * panel_px + CAPTION_PX, n_rows * (panel_px + TITLE_PX)


def render(rows: Sequence[Row], path: str | os.PathLike[str], panel_px: int = 256) -> tuple[int, int]:
    """Draw the rows into a PNG at ``path``; returns its (width, height) in pixels."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n_views = max(len(r.views) for r in rows)
    width, height = montage_size(len(rows), n_views, panel_px)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor=BACKGROUND)
    FigureCanvasAgg(fig)
    row_h = panel_px + TITLE_PX
    for r, row in enumerate(rows):
        top = height - r * row_h  # pixels from the bottom
        for c, view in enumerate(row.views):
            left = c * panel_px
            ax = fig.add_axes(
                (left / width, (top - row_h) / height, panel_px / width, panel_px / height), facecolor=BACKGROUND
            )
            ax.imshow(
                view.image,
                cmap="gray",
                vmin=row.vmin,
                vmax=row.vmax,
                aspect=view.aspect,
                origin=view.origin,
                interpolation="nearest",
            )
            if view.label is not None:
                values = [v for v in np.unique(view.label).tolist() if v != 0]
                for k, v in enumerate(values[: len(LABEL_COLOURS)]):
                    mask = (view.label == v).astype(np.float32)
                    if mask.shape[0] > 1 and mask.shape[1] > 1:
                        ax.contour(mask, levels=[0.5], colors=[LABEL_COLOURS[k]], linewidths=0.9)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            fig.text(
                (left + 4) / width,
                (top - 3) / height,
                view.title,
                color=FOREGROUND,
                fontsize=FONT_PT,
                va="top",
                ha="left",
            )
        fig.text(
            (n_views * panel_px + 8) / width,
            (top - 3) / height,
            "\n".join(row.caption),
            color=FOREGROUND,
            fontsize=FONT_PT,
            family="monospace",
            va="top",
            ha="left",
            linespacing=1.25,
        )
    fig.savefig(os.fspath(path), dpi=DPI, facecolor=BACKGROUND, format="png")
    return width, height
