"""Compact, readable captions of drawn augmentation params (one line per op).

``RandomAffine {"degrees": [-7.17, ...], "scale": [1.115], ...}`` becomes
``Affine rot=(-7.2,-5.8,5.4)° scale=1.12 shear=(...) shift=(-1.2,-0.78,0.22)mm``:
the ``Random`` prefix is dropped, keys get short names and units, numbers three
significant digits, big arrays (an elastic control grid) their shape, and an op that
was not applied reads ``Name: off``. Deterministic ops (no params) show their config.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

# Short names and units of common param keys.
_RENAME = {"degrees": "rot", "translate": "shift", "coefficients": "coef", "magnitude": "mag"}
_UNITS = {"degrees": "°", "translate": "mm", "magnitude": "mm"}
# Internal values a person does not need to read.
_SKIP = {"apply", "grid_inv", "rng_seed"}
_AXES = "zyx"
MAX_ITEMS = 6


def format_number(v: Any) -> str:
    """Three significant digits for floats; ints and bools as they are."""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return str(int(v))
    f = float(v)
    if f == 0.0:
        return "0"
    if abs(f) >= 1000 and abs(f) < 1e7:  # HU and raw detector values: no exponent
        return f"{f:.0f}"
    return f"{f:.3g}"


def format_value(key: str, v: Any) -> str:
    """One param value, compactly (``unit`` appended when the key has one)."""
    unit = _UNITS.get(key, "")
    arr = np.asarray(v) if isinstance(v, list | tuple | np.ndarray) else None
    if arr is not None:
        if arr.dtype == np.bool_ and arr.ndim == 1:
            axes = _AXES[-len(arr) :] if len(arr) <= 3 else "".join(str(i) for i in range(len(arr)))
            picked = [a for a, b in zip(axes, arr.tolist(), strict=True) if b]
            return ",".join(picked) if picked else "none"
        if arr.ndim > 1:
            return "[" + "×".join(str(n) for n in arr.shape) + "]"
        if arr.size > MAX_ITEMS:
            return f"[{arr.size} values]"
        items = [format_number(x) for x in arr.reshape(-1).tolist()]
        if len(items) == 1:
            return items[0] + unit
        if len(set(items)) == 1 and arr.dtype.kind == "f":  # isotropic (scale, sigma): one number says it
            return items[0] + unit
        return "(" + ",".join(items) + ")" + unit
    if isinstance(v, str):
        return v
    if v is None:
        return "-"
    return format_number(v) + unit


def short_name(name: str) -> str:
    """``RandomGaussianNoise`` -> ``GaussianNoise``."""
    return name[len("Random") :] if name.startswith("Random") and len(name) > len("Random") else name


def op_caption(name: str, params: Mapping[str, Any], config: Mapping[str, Any] | None = None) -> str:
    """One op's line: ``Name key=value ...`` or ``Name: off`` when it was not applied.

    Parameters
    ----------
    name
        The op's class name.
    params
        Its drawn params (from a sample's ``params["ops"][k]["params"]``).
    config
        Its :meth:`~fastmed.transforms.base.Op.to_dict` (shown when the op draws nothing).
    """
    if params.get("apply") is False:
        return f"{short_name(name)}: off"
    shown = {k: v for k, v in params.items() if k not in _SKIP}
    if not shown and config is not None:
        shown = {k: v for k, v in config.items() if k not in ("op", "p") and v is not None}
    parts = [f"{_RENAME.get(k, k)}={format_value(k, v)}" for k, v in shown.items()]
    return " ".join([short_name(name), *parts])


def caption(
    params: Mapping[str, Any],
    ops: Sequence[Any] | None = None,
    width: int = 52,
    header: bool = True,
) -> list[str]:
    """Lines describing a sample's params (from ``Compose.__call__``'s ``"params"``).

    Parameters
    ----------
    params
        ``{"seed", "epoch", "index", "ops": [{"op", "params"}, ...]}``.
    ops
        The pipeline's op specs (for the config of deterministic ops), optional.
    width
        Wrap lines at this many characters (continuations indented).
    header
        Start with ``seed=.. epoch=.. index=..``.
    """
    lines: list[str] = []
    if header:
        lines.append(
            f"seed={params.get('seed', '?')} epoch={params.get('epoch', '?')} index={params.get('index', '?')}"
        )
    entries = params.get("ops", [])
    for k, entry in enumerate(entries):
        config = ops[k].to_dict() if ops is not None and k < len(ops) else None
        text = op_caption(str(entry["op"]), entry.get("params") or {}, config)
        lines.extend(
            textwrap.wrap(text, width=width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)
            or [text]
        )
    return lines
