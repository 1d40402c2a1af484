"""Spatial ops declare what they contribute to the fused map; Compose reads the declaration, not the class."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

import fastmed.transforms as T
from fastmed.errors import TransformError
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class _Shift(SpatialOp):
    """A constant displacement field: every output voxel reads ``dx`` source voxels further along x."""

    contributes: ClassVar[str] = "displacement"
    dx: float = 1.0

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        return SpatialStep(np.eye(ctx.ndim + 1), ctx.shape, ctx.spacing)

    def displacement(
        self, params: Params, matrix: npt.NDArray[np.float64], ctx: Context
    ) -> tuple[npt.NDArray[np.float32], tuple[float, float, float]] | None:
        grid = np.zeros((3, 4, 4, 4), np.float32)
        grid[2] = self.dx
        return grid, (0.25, 0.25, 0.25)


def _sample() -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"image": rng.uniform(-100, 100, (1, 12, 13, 14)).astype(np.float32)}


def test_a_declared_displacement_op_is_fused_like_elastic() -> None:
    s = _sample()
    out = T.Compose([T.CenterCrop((6, 7, 8)), _Shift(1.0)])(s)["image"]
    z, y, x = ((12 - 6) // 2, (13 - 7) // 2, (14 - 8) // 2)
    want = s["image"][:, z : z + 6, y : y + 7, x + 1 : x + 9]  # numpy oracle: the crop one voxel along x
    np.testing.assert_allclose(out, want, atol=1e-3)


def test_two_displacement_ops_are_refused() -> None:
    with pytest.raises(TransformError, match="at most one displacement"):
        T.Compose([T.RandomElastic(), _Shift()])


def test_compose_names_no_op_class_in_isinstance() -> None:
    tree = ast.parse((ROOT / "fastmed" / "transforms" / "compose.py").read_text())
    named = [
        ast.unparse(node.args[1])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "isinstance" and len(node.args) == 2
    ]
    assert not [n for n in named if "Elastic" in n], named
