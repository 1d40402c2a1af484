"""A sample's params as plain JSON data, and their validation before a replay.

``Compose`` returns the params it drew with every output (``out["params"]``): plain
dicts, lists, bools, ints and floats, so ``json.dumps`` writes them and
``Compose.replay(sample, json.loads(text))`` gives the very same output. Params read
back from a file are untrusted: :func:`checked_params` compares them with the params
the pipeline itself would draw for the same (seed, epoch, index) and sample, field by
field (types, list lengths and array shapes, finite numbers), checks the ranges each op
can run with, and refuses anything else with a :class:`~fastmed.errors.TransformError`
naming the op and the field.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import Context, Op, Params, SpatialOp

if TYPE_CHECKING:
    from fastmed.transforms.compose import Compose

_F32_MAX = float(np.finfo(np.float32).max)
_MAX_COORD = float(2**30)  # the native limit on source coordinates (csrc/cpu/augment_validate.h)
_TOP_KEYS = ("seed", "epoch", "index", "ops")


def to_json(v: Any) -> Any:
    """``v`` with numpy arrays and scalars turned into lists and Python numbers, tuples into lists."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Mapping):
        return {str(k): to_json(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [to_json(x) for x in v]
    return v


def _kind(v: Any) -> str:
    return type(v).__name__


def _float_block(template: list[Any]) -> tuple[int, ...] | None:
    """The shape of a non-empty rectangular nested list of floats, else None."""
    try:
        a = np.asarray(template)
    except ValueError:
        return None
    return a.shape if a.size and a.dtype == np.float64 else None


def _conform(value: Any, template: Any, where: str) -> Any:
    """``value`` checked against the freshly drawn ``template`` and coerced to its types."""
    if isinstance(template, bool):
        if not isinstance(value, bool | np.bool_):
            raise TransformError(f"{where}: must be a bool, got {_kind(value)}")
        return bool(value)
    if isinstance(template, int):
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
            raise TransformError(f"{where}: must be an integer, got {_kind(value)}")
        if not -(2**63) <= int(value) < 2**63:
            raise TransformError(f"{where}: integer {value} out of range")
        return int(value)
    if isinstance(template, float):
        if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
            raise TransformError(f"{where}: must be a number, got {_kind(value)}")
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if not math.isfinite(f):
            raise TransformError(f"{where}: must be finite, got {value!r}")
        if abs(f) > _F32_MAX:
            raise TransformError(f"{where}: {f} is beyond the float32 range")
        return f
    if template is None or isinstance(template, str):
        if value != template or type(value) is not type(template):
            raise TransformError(f"{where}: must be {template!r}, got {value!r}")
        return value
    if isinstance(template, list):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, list | tuple) or len(value) != len(template):
            raise TransformError(f"{where}: must be a list of {len(template)} values, got {_kind(value)}")
        shape = _float_block(template)
        if shape is not None and len(shape) > 1:  # an array (elastic grid): checked at once
            try:
                a = np.asarray(value)
            except (ValueError, TypeError, OverflowError):
                raise TransformError(f"{where}: must be a {shape} array of numbers") from None
            if a.dtype.kind not in "iuf":
                raise TransformError(f"{where}: must be an array of numbers, got {a.dtype} values")
            a = a.astype(np.float64)
            if a.shape != shape:
                raise TransformError(f"{where}: must have shape {shape}, got {a.shape}")
            if not np.isfinite(a).all():
                raise TransformError(f"{where}: must be finite (found NaN or inf)")
            if a.size and float(np.abs(a).max()) > _MAX_COORD:
                raise TransformError(f"{where}: values beyond {_MAX_COORD:g}")
            return a.tolist()
        return [_conform(x, t, f"{where}[{i}]") for i, (x, t) in enumerate(zip(value, template, strict=True))]
    if isinstance(template, dict):
        if not isinstance(value, Mapping):
            raise TransformError(f"{where}: must be a dict, got {_kind(value)}")
        missing = sorted(set(template) - set(value))
        unknown = sorted(str(k) for k in set(value) - set(template))
        if missing or unknown:
            raise TransformError(f"{where}: missing fields {missing}, unknown fields {unknown}")
        return {k: _conform(value[k], t, f"{where}.{k}") for k, t in template.items()}
    raise TransformError(f"{where}: unexpected params value of type {_kind(template)}")  # pragma: no cover


def _int_in(params: Mapping[str, Any], name: str, lo: int, hi: int) -> int:
    v = params.get(name)
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or not lo <= int(v) < hi:
        raise TransformError(f"replay params: {name!r} must be an integer in [{lo}, {hi}), got {v!r}")
    return int(v)


# ---- per-op value ranges -------------------------------------------------------------
# Each rule gets (op, conformed params, freshly drawn params, context) and raises
# ValueError with a field and reason; ops without a rule get the structural checks only.


def _positive(p: Params, name: str, allow_zero: bool = False) -> None:
    vals = p[name] if isinstance(p[name], list) else [p[name]]
    for v in vals:
        if not (v >= 0.0 if allow_zero else v > 0.0):
            raise ValueError(f"field {name!r}: must be {'>= 0' if allow_zero else '> 0'}, got {v}")


def _same(p: Params, fresh: Params, name: str) -> None:
    if p[name] != fresh[name]:
        raise ValueError(f"field {name!r}: is fixed by the pipeline and the sample ({fresh[name]!r}), got {p[name]!r}")


def _crop(op: Any, p: Params, fresh: Params, ctx: Context) -> None:
    for a, (n, s, v) in enumerate(zip(ctx.shape, op.size, p["start"], strict=True)):
        lo, hi = min(0, n - int(s)), max(0, n - int(s))
        if not lo <= v <= hi:
            raise ValueError(f"field 'start'[{a}]: must be in [{lo}, {hi}] for a size {s} patch of {n}, got {v}")


def _rot90(op: Any, p: Params, fresh: Params, ctx: Context) -> None:
    if not 0 <= p["k"] <= 3:
        raise ValueError(f"field 'k': must be in [0, 3], got {p['k']}")


def _elastic(op: Any, p: Params, fresh: Params, ctx: Context) -> None:
    _same(p, fresh, "grid_inv")
    _positive(p, "magnitude", allow_zero=True)


def _custom(op: Any, p: Params, fresh: Params, ctx: Context) -> None:
    for name, lo, hi in op.params:
        if not lo <= p[name] <= hi:
            raise ValueError(f"field {name!r}: must be in [{lo}, {hi}], got {p[name]}")
    if "rng_seed" in p and not 0 <= p["rng_seed"] < 2**62:
        raise ValueError(f"field 'rng_seed': must be in [0, 2**62), got {p['rng_seed']}")


def _sigma(op: Any, p: Params, fresh: Params, ctx: Context) -> None:
    for v in p["sigma"]:
        if not 0.0 <= v <= 1024.0:
            raise ValueError(f"field 'sigma': must be in [0, 1024] voxels, got {v}")


Rule = Callable[[Any, Params, Params, Context], None]
RULES: dict[str, Rule] = {
    "RandomAffine": lambda op, p, f, c: _positive(p, "scale"),
    "RandomCrop": _crop,
    "CenterCrop": lambda op, p, f, c: _same(p, f, "start"),
    "Resample": lambda op, p, f, c: _same(p, f, "shape"),
    "RandomRot90": _rot90,
    "RandomElastic": _elastic,
    "RandomGamma": lambda op, p, f, c: _positive(p, "gamma"),
    "RandomGaussianNoise": lambda op, p, f, c: _positive(p, "std", allow_zero=True),
    "RandomGaussianBlur": _sigma,
    "RandomLowRes": lambda op, p, f, c: _positive(p, "zoom"),
    "VoxelOp": _custom,
    "PatchOp": _custom,
}


def _check_op(op: Op, raw: Any, rng: KeyedRNG, ctx: Context, where: str) -> Params:
    fresh = to_json(op.sample_params(rng, ctx))
    p: Params = _conform(raw, fresh, f"{where} params")
    rule = RULES.get(type(op).__name__)
    if rule is not None:
        try:
            rule(op, p, fresh, ctx)
        except ValueError as exc:
            raise TransformError(f"{where}: {exc}") from None
    return p


def _advance(
    op: SpatialOp, p: Params, ctx: Context, total: npt.NDArray[np.float64], where: str
) -> tuple[Context, npt.NDArray[np.float64]]:
    """The context and composed map after a spatial op.

    Params whose map is singular, not finite or beyond the native coordinate limit are
    refused here, naming the op.
    """
    try:
        step = op.step(p, ctx)
    except TransformError:
        raise
    except (ValueError, TypeError, ArithmeticError, IndexError, KeyError, np.linalg.LinAlgError) as exc:
        raise TransformError(f"{where}: params give no valid map ({type(exc).__name__}: {exc})") from None
    with np.errstate(all="ignore"):
        m = total @ np.asarray(step.matrix, dtype=np.float64)
    if not np.isfinite(m).all() or float(np.abs(m).max()) > _MAX_COORD:
        raise TransformError(f"{where}: params give a map that is not finite or out of range (2^30 voxels)")
    shape = tuple(int(n) for n in step.out_shape)
    if any(not 1 <= n < 2**31 for n in shape):
        raise TransformError(f"{where}: params give an output shape {shape}")
    return Context(ctx.ndim, shape, tuple(float(s) for s in step.out_spacing), ctx.channels), m


def checked_params(compose: Compose, sample: Mapping[str, Any], params: Any) -> dict[str, Any]:
    """Validate replayed ``params`` for ``compose`` on ``sample``; return them normalized.

    Parameters
    ----------
    compose
        The pipeline that will replay them.
    sample
        The sample they will be replayed on (its shape and spacing fix some fields).
    params
        ``out["params"]`` of an earlier call, possibly read back from JSON.

    Returns
    -------
    dict
        The same params with the pipeline's own types (float fields as floats ...).

    Raises
    ------
    TransformError
        Naming the op (position and name) and the field that is wrong.
    """
    if not isinstance(params, Mapping):
        raise TransformError(f"replay params must be a dict, got {_kind(params)}")
    unknown = sorted(str(k) for k in set(params) - set(_TOP_KEYS))
    if unknown:
        raise TransformError(f"replay params: unknown fields {unknown}")
    seed = _int_in(params, "seed", 0, 2**64)
    epoch = _int_in(params, "epoch", 0, 2**64)
    index = _int_in(params, "index", 0, 2**32)
    entries = params.get("ops")
    if not isinstance(entries, list | tuple) or len(entries) != len(compose.ops):
        n = len(entries) if isinstance(entries, list | tuple) else _kind(entries)
        raise TransformError(f"replay params: 'ops' must list {len(compose.ops)} ops, got {n}")
    for k, (op, e) in enumerate(zip(compose.ops, entries, strict=True)):
        if (
            not isinstance(e, Mapping)
            or set(e) != {"op", "params"}
            or not isinstance(e["op"], str)
            or e["op"] != type(op).__name__
        ):
            raise TransformError(
                f"replay params: op {k} must be {{'op': {type(op).__name__!r}, 'params': {{...}}}}, got {e!r:.200}"
            )
    ctx0 = compose._describe(sample)
    ctx = ctx0
    total = np.eye(ctx0.ndim + 1)
    out: list[Params | None] = [None] * len(compose.ops)
    for k, op in enumerate(compose.ops):  # the spatial walk of Compose.sample_params
        if isinstance(op, SpatialOp) and op.contributes == "matrix":
            where = f"replay params: op {k} ({type(op).__name__})"
            out[k] = p = _check_op(op, entries[k]["params"], KeyedRNG(seed, epoch, index, k), ctx, where)
            ctx, total = _advance(op, p, ctx, total, where)
    final = Context(ctx0.ndim, ctx0.shape, ctx0.spacing, ctx0.channels, ctx.shape, ctx.spacing)
    for k, op in enumerate(compose.ops):
        if out[k] is None:
            where = f"replay params: op {k} ({type(op).__name__})"
            out[k] = _check_op(op, entries[k]["params"], KeyedRNG(seed, epoch, index, k), final, where)
    return {
        "seed": seed,
        "epoch": epoch,
        "index": index,
        "ops": [{"op": type(op).__name__, "params": p} for op, p in zip(compose.ops, out, strict=True)],
    }
