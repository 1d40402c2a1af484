"""RandomBiasField: smooth multiplicative field exp(polynomial), as MRI bias."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Params,
    as_range,
    check_p,
    register,
)
from fastmed.transforms.plan import OP_BIAS_FIELD, ProgramOp


def n_terms(order: int) -> int:
    """Number of monomials z^i y^j x^k with i + j + k <= order."""
    return (order + 1) * (order + 2) * (order + 3) // 6


@register
@dataclass(frozen=True)
class RandomBiasField(IntensityOp):
    """Multiply by ``exp(sum c_ijk z^i y^j x^k)``, coordinates in [-1, 1] over the patch.

    Terms with ``i + j + k <= order`` (enumerated i, then j, then k), coefficients
    uniform in ``coefficients`` (TorchIO's model). 2D samples have z = 0.

    Parameters
    ----------
    coefficients
        Range (a number means ``(-v, v)``).
    order
        Polynomial order, 0 to 5.
    p
        Probability.
    """

    coefficients: Any = 0.5
    order: int = 3
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "RandomBiasField")
        if not 0 <= int(self.order) <= 5:
            raise TransformError(f"RandomBiasField: order must be in [0, 5], got {self.order}")
        as_range(self.coefficients, "coefficients", symmetric=True)

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply and the coefficients."""
        apply = rng.bernoulli(self.p)
        lo, hi = as_range(self.coefficients, "coefficients", symmetric=True)
        c = rng.uniform(lo, hi, size=n_terms(int(self.order)))
        return {"apply": apply, "coefficients": [float(v) for v in c]}  # type: ignore[union-attr]

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One bias-field instruction."""
        if not params["apply"]:
            return []
        return [ProgramOp(OP_BIAS_FIELD, (float(self.order), *params["coefficients"]), stream=ctx.position)]
