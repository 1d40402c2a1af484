"""Rescale Slope / Intercept into int16 when exact, else float32."""

from __future__ import annotations

import numpy as np


def _wrap16(v: int) -> int:
    return ((v + 32768) % 65536) - 32768


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
            # Wrapping int16 arithmetic is exact here: every true result fits int16, and
            # arr * slope + intercept modulo 2**16 is that result (no int32 round trip).
            out = arr.astype(np.int16, casting="unsafe")
            if slope != 1:
                out *= np.int16(_wrap16(int(slope)))
            if intercept != 0:
                out += np.int16(_wrap16(int(intercept)))
            return out
    out32 = arr.astype(np.float32)
    out32 *= np.float32(slope)
    out32 += np.float32(intercept)
    return out32
