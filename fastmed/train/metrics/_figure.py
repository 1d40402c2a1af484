"""One headless matplotlib figure written to a PNG when its ``with`` block ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def png_axes(path: str | PathLike[str], figsize: tuple[float, float]) -> Iterator[Any]:
    """Yield the axes of a new Agg figure; on a clean exit save it to ``path`` (folders created); always close it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=figsize, dpi=100)
    try:
        yield ax
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
