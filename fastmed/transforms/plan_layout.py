"""The static layout of a pipeline, computed once per ``Compose`` and reused by every plan.

What the planner asks about each op on every sample (is it a matrix op, a displacement op,
an intensity op, which statistics it reads, its name in the params record) depends only on
the op list, so it is answered once here instead of per op, per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastmed.transforms.base import IntensityOp, Op, SpatialOp
from fastmed.transforms.stats import STAT_FIELDS


@dataclass(frozen=True)
class IntensitySlot:
    """One intensity op of a pipeline: its position (RNG stream), the op, the statistics it reads, its mask key."""

    position: int
    op: IntensityOp
    stats_fields: tuple[str, ...]
    mask_key: str | None


@dataclass(frozen=True)
class Layout:
    """The planner's view of an op list.

    Parameters
    ----------
    ops
        The op list this layout describes (compared by identity to detect a changed list).
    names
        Each op's name in the params record.
    matrix
        Positions of the ops composed into the spatial matrix (``contributes == "matrix"``), in order.
    other
        Positions of every other op (drawn once the final patch is known), in order.
    displacement
        Positions of the displacement-field ops (``contributes == "displacement"``).
    intensity
        The intensity ops, in order.
    """

    ops: tuple[Op, ...]
    names: tuple[str, ...]
    matrix: tuple[int, ...]
    other: tuple[int, ...]
    displacement: tuple[int, ...]
    intensity: tuple[IntensitySlot, ...]


def _build(ops: tuple[Op, ...]) -> Layout:
    matrix = tuple(k for k, op in enumerate(ops) if isinstance(op, SpatialOp) and op.contributes == "matrix")
    slots = tuple(
        IntensitySlot(k, op, tuple(getattr(op, "stats_fields", STAT_FIELDS)), getattr(op, "mask_key", None))
        for k, op in enumerate(ops)
        if isinstance(op, IntensityOp)
    )
    return Layout(
        ops=ops,
        names=tuple(type(op).__name__ for op in ops),
        matrix=matrix,
        other=tuple(k for k in range(len(ops)) if k not in matrix),
        displacement=tuple(
            k for k, op in enumerate(ops) if isinstance(op, SpatialOp) and op.contributes == "displacement"
        ),
        intensity=slots,
    )


def layout_of(owner: Any) -> Layout:
    """The layout of ``owner.ops`` (a ``Compose``), cached on the owner until its op list is replaced."""
    ops = owner.ops
    cached: Layout | None = owner.__dict__.get("_plan_layout")
    if cached is None or cached.ops is not ops:
        cached = _build(tuple(ops))
        owner.__dict__["_plan_layout"] = cached
        if cached.ops is not ops:  # a list, not the tuple Compose keeps: rebuild next time
            owner.__dict__.pop("_plan_layout")
    return cached
