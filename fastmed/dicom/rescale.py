"""Rescale Slope / Intercept into int16 when exact, else float32."""

from __future__ import annotations

import numpy as np


def apply_rescale(arr: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """``arr * slope + intercept``.

    int16 when slope and intercept are integers and the result range fits int16 exactly
    (CT Hounsfield units), else float32.
    """
    if arr.dtype.kind in "ui" and float(slope).is_integer() and float(intercept).is_integer():
        if arr.size == 0:
            return arr.astype(np.int16)
        lo, hi = int(arr.min()), int(arr.max())
        a, b = lo * int(slope) + int(intercept), hi * int(slope) + int(intercept)
        if -32768 <= min(a, b) and max(a, b) <= 32767:
            out = arr.astype(np.int32)
            out *= int(slope)
            out += int(intercept)
            return out.astype(np.int16)
    out32 = arr.astype(np.float32)
    out32 *= np.float32(slope)
    out32 += np.float32(intercept)
    return out32
