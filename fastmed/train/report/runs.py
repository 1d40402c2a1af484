"""What the report needs from a training run (a recipe's ``RunResult`` or a ``LoopState``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunSummary:
    """One training run's throughput and losses.

    Parameters
    ----------
    name
        What the report calls the run (``MAE pretraining``, ``linear probe``).
    samples_per_s, data_wait_fraction, bottleneck
        As :class:`~fastmed.train.engine.loop.LoopState` reports them.
    losses
        Loss per optimizer step.
    """

    name: str
    samples_per_s: float
    data_wait_fraction: float
    bottleneck: str
    losses: tuple[float, ...] = field(default=())

    @property
    def steps(self) -> int:
        """Optimizer steps run."""
        return len(self.losses)

    @classmethod
    def of(cls, name: str, run: Any) -> RunSummary:
        """From anything with ``samples_per_s``, ``data_wait_fraction``, ``bottleneck`` and ``losses``."""
        return cls(
            name,
            float(run.samples_per_s),
            float(run.data_wait_fraction),
            str(run.bottleneck),
            tuple(float(v) for v in run.losses),
        )


@dataclass(frozen=True)
class LabelCurve:
    """A label-efficiency curve: a held-out metric against the fraction of training labels used.

    Parameters
    ----------
    metric
        The held-out metric (``auroc``, ...).
    fractions
        Requested fractions of the training labels, ascending.
    labelled
        Training series each run trained on.
    scores
        The metric per run (NaN where undefined).
    holdout
        Held-out series every run was scored on.
    """

    metric: str
    fractions: tuple[float, ...]
    labelled: tuple[int, ...]
    scores: tuple[float, ...]
    holdout: int

    @classmethod
    def of(cls, curve: Any) -> LabelCurve:
        """From a :class:`~fastmed.train.recipes.label_efficiency.LabelEfficiency` (or anything shaped like it)."""
        return cls(
            str(curve.metric),
            tuple(float(f) for f in curve.fractions),
            tuple(int(n) for n in curve.labelled),
            tuple(float(s) for s in curve.scores),
            int(curve.holdout_series),
        )
