"""The loader's per-epoch progress bar: tqdm's console bar, or tqdm's rich bar.

``progress=True`` (or ``"tqdm"``) shows ``tqdm.auto.tqdm``; ``progress="rich"`` shows
``tqdm.rich.tqdm`` (needs the ``rich`` package; tqdm's experimental-feature warning is
silenced). Both count delivered batches against ``len(loader)``.
"""

from __future__ import annotations

import warnings
from typing import Any

from fastmed.errors import LoaderError

KINDS = (False, True, "tqdm", "rich")


def check_progress(progress: Any) -> bool | str:
    """``progress=`` as ``False``, ``"tqdm"`` or ``"rich"`` (a string other than those: :class:`LoaderError`)."""
    if isinstance(progress, str):
        if progress not in ("tqdm", "rich"):
            raise LoaderError(f"progress must be one of {KINDS}, got {progress!r}")
        return progress
    return "tqdm" if progress else False


def make_bar(kind: bool | str, total: int | None, initial: int, desc: str) -> Any:
    """A tqdm-style bar (``update``, ``close``) of ``kind``, or ``None`` when ``kind`` is off."""
    if not kind:
        return None
    if kind == "rich":
        try:
            from tqdm import TqdmExperimentalWarning
            from tqdm.rich import tqdm as rich_tqdm
        except ImportError as exc:
            raise LoaderError(f"progress='rich' needs the rich package ({exc})") from exc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TqdmExperimentalWarning)
            return rich_tqdm(total=total, initial=initial, desc=desc, unit="batch")
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="batch")
