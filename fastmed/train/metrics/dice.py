"""Dice overlap per class between integer label maps.

Empty-mask conventions (stated once, used everywhere):

- class absent from both prediction and reference: ``empty_score`` (NaN by default, so the class is
  left out of means, as MONAI's ``DiceMetric(ignore_empty=True)``); pass ``empty_score=1.0`` to count
  a correct "nothing there" as perfect;
- class in exactly one of them: 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def dice_per_class(
    pred: npt.ArrayLike,
    target: npt.ArrayLike,
    classes: Sequence[int],
    empty_score: float = float("nan"),
) -> npt.NDArray[np.float64]:
    """Dice ``2|P & T| / (|P| + |T|)`` of each class in ``classes``.

    Parameters
    ----------
    pred
        Predicted label map (integers), any shape.
    target
        Reference label map, same shape.
    classes
        Label values to score (e.g. ``[1]`` for lesion vs background).
    empty_score
        Value when a class is absent from both maps (see the module docstring).

    Returns
    -------
    numpy.ndarray
        One float per class, in the order of ``classes``.
    """
    p = np.asarray(pred)
    t = np.asarray(target)
    if p.shape != t.shape:
        raise ValueError(f"pred {p.shape} and target {t.shape} differ in shape")
    out = np.empty(len(classes), dtype=np.float64)
    for i, c in enumerate(classes):
        pc = p == c
        tc = t == c
        denom = int(pc.sum()) + int(tc.sum())
        out[i] = empty_score if denom == 0 else 2.0 * int(np.logical_and(pc, tc).sum()) / denom
    return out
