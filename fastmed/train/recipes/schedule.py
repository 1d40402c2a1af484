"""Learning-rate schedules: the rate of each optimizer step as a pure function of the step number.

Being a function of the step alone (no scheduler object), a resumed run gets the same rates as an
uninterrupted one without any extra checkpoint state.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "cosine")
"""Known ``trainer.schedule`` names."""


def lr_factor(step: int, max_steps: int, schedule: str = "constant", warmup_steps: int = 0) -> float:
    """Multiplier of the base learning rate for optimizer step ``step`` (1-based).

    Parameters
    ----------
    step
        The optimizer step about to run, counted from 1.
    max_steps
        The run's last step.
    schedule
        ``"constant"``, or ``"cosine"``: after the warmup, half a cosine from 1 towards 0 over the remaining
        steps (step ``warmup_steps + 1 + e`` gets torch's ``CosineAnnealingLR`` factor of epoch ``e`` with
        ``T_max = max_steps - warmup_steps``).
    warmup_steps
        Steps of linear warmup (step ``k <= warmup_steps`` gets ``k / (warmup_steps + 1)``).

    Returns
    -------
    float
        The factor, in ``(0, 1]``.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"trainer.schedule must be one of {SCHEDULES}, got {schedule!r}")
    if warmup_steps > 0 and step <= warmup_steps:
        return step / (warmup_steps + 1)
    if schedule == "constant":
        return 1.0
    span = max(max_steps - warmup_steps, 1)
    t = min(max(step - warmup_steps - 1, 0) / span, 1.0)  # < 1 up to max_steps: the factor stays > 0
    return 0.5 * (1.0 + math.cos(math.pi * t))
