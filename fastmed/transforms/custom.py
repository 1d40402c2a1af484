"""Custom ops written in Python: per-voxel functions (numba) and patch functions.

>>> import fastmed.transforms as T
>>> @T.voxel_op(params={"k": (0.5, 2.0)})
... def soft_power(v, k):
...     return v ** k if v > 0 else v
>>> aug = T.Compose([T.CenterCrop((8, 8, 8)), T.Window(0, 100), soft_power(p=0.5)])

A decorated function becomes an op factory: calling it (config keywords only) gives
an op usable in :class:`~fastmed.transforms.Compose`. Its parameters are drawn from the
same keyed RNG as the built-in ops (seed, epoch, sample index, the op's position as
stream): a Bernoulli ``p`` draw first, then one draw per parameter in declaration
order. They are returned in the sample's ``params``, so :meth:`Compose.replay`
reproduces the output exactly.

Custom ops are intensity ops: labels never see them. They do **not** fuse: the fused
kernel writes the patch, then each custom op is one more pass over it (in pipeline
order with blur and the other patch passes), on the same worker, in the same call.
Per-voxel functions are compiled with ``numba.njit`` (``prange`` over the patch) for
the CPU and with ``numba.cuda.jit`` for the GPU; patch functions are plain Python
called with the patch array (numpy on the CPU backend, the backend's device array,
e.g. CuPy, on a GPU backend).

Serialization names the function by import path (``"package.module:function"``);
:func:`~fastmed.transforms.op_from_dict` re-imports it, so functions meant for saved
pipelines must live at module level in an importable module.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Params,
    check_p,
    register,
)
from fastmed.transforms.plan import PythonPass

Number = int | float
Range = tuple[str, Number, Number]
_RESERVED = {"apply", "rng_seed", "patch", "v", "rng"}


def _ranges(params: Mapping[str, Any] | None, where: str) -> tuple[Range, ...]:
    """``{"k": (lo, hi) or value}`` -> ``(("k", lo, hi), ...)`` in declaration order."""
    out: list[Range] = []
    for name, spec in (params or {}).items():
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
            raise TransformError(f"{where}: bad parameter name {name!r} (reserved: {sorted(_RESERVED)})")
        if isinstance(spec, int | float) and not isinstance(spec, bool):
            lo = hi = spec
        elif isinstance(spec, list | tuple) and len(spec) == 2 and all(isinstance(v, int | float) for v in spec):
            lo, hi = spec
        else:
            raise TransformError(f"{where}: parameter {name!r} must be a number or (low, high), got {spec!r}")
        if not lo <= hi:
            raise TransformError(f"{where}: parameter {name!r} has low > high ({lo}, {hi})")
        out.append((name, lo, hi))
    return tuple(out)


def _draw(rng: KeyedRNG, ranges: tuple[Range, ...]) -> dict[str, Number]:
    """One draw per parameter: integers (inclusive) when both bounds are ints, else uniform floats."""
    out: dict[str, Number] = {}
    for name, lo, hi in ranges:
        if isinstance(lo, int) and isinstance(hi, int):
            out[name] = int(rng.integers(lo, hi + 1))
        else:
            out[name] = float(rng.uniform(float(lo), float(hi)))
    return out


def import_path(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of a function (what :func:`resolve` re-imports)."""
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(path: str) -> Any:
    """Import ``"package.module:name"`` (dotted names inside the module allowed)."""
    if not isinstance(path, str) or ":" not in path:
        raise TransformError(f"custom op: function path must be 'module:name', got {path!r}")
    mod_name, _, qual = path.partition(":")
    if "<locals>" in qual:
        raise TransformError(f"custom op: {path} is a local function; define it at module level to reload it")
    try:
        obj: Any = importlib.import_module(mod_name)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise TransformError(f"custom op: cannot import {path}: {exc}") from exc
    return obj


def _channel_mask(channels: tuple[int, ...] | None, n: int, where: str) -> npt.NDArray[np.bool_]:
    mask = np.zeros(n, dtype=np.bool_)
    if channels is None:
        mask[:] = True
        return mask
    for c in channels:
        if not -n <= c < n:
            raise TransformError(f"{where}: channel {c} out of range for {n} channels")
        mask[c] = True
    return mask


def _from_dict(cls: type[IntensityOp], d: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names - {"op"}
    if unknown:
        raise TransformError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
    kw = {k: v for k, v in d.items() if k in names}
    if kw.get("channels") is not None:
        kw["channels"] = tuple(kw["channels"])
    return cls(**kw)


# ---- per-voxel functions ---------------------------------------------------------------


class VoxelFunction:
    """A per-voxel intensity function with its parameter ranges; calling it makes a :class:`VoxelOp`.

    Parameters
    ----------
    py_func
        ``f(v, *params) -> float``, numba-compilable (scalar math, ``math.*``, branches).
    params
        Parameter ranges in the order of the function's arguments after ``v``.
    fastmath
        Compile with ``fastmath`` (CPU and GPU results may then differ more).
    """

    def __init__(self, py_func: Callable[..., float], params: Mapping[str, Any] | None, fastmath: bool = False):
        self.py_func = py_func
        self.path = import_path(py_func)
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__module__ = py_func.__module__
        self.__doc__ = py_func.__doc__
        self.ranges = _ranges(params, f"voxel_op {self.path}")
        self.fastmath = bool(fastmath)
        names = list(inspect.signature(py_func).parameters)
        if len(names) != 1 + len(self.ranges) or names[1:] != [r[0] for r in self.ranges]:
            raise TransformError(
                f"voxel_op {self.path}: the function takes {names}, expected (v, "
                f"{', '.join(r[0] for r in self.ranges)}) in the order of params"
            )
        self._lock = threading.Lock()
        self._cpu: Any = None
        self._cuda: Any = None

    def __repr__(self) -> str:
        return f"<voxel_op {self.path} params={dict((n, (lo, hi)) for n, lo, hi in self.ranges)}>"

    def __call__(self, p: float = 1.0, channels: tuple[int, ...] | None = None, **ranges: Any) -> VoxelOp:
        """The op: ``p`` probability, ``channels`` (None: all), parameter ranges overriding the defaults."""
        unknown = set(ranges) - {r[0] for r in self.ranges}
        if unknown:
            raise TransformError(f"voxel_op {self.path}: unknown parameters {sorted(unknown)}")
        merged = {n: ranges.get(n, (lo, hi)) for n, lo, hi in self.ranges}
        return VoxelOp(fn=self, params=_ranges(merged, self.path), channels=channels, p=p)

    def cpu_kernel(self) -> Any:
        """The compiled host driver (built on first use)."""
        with self._lock:
            if self._cpu is None:
                from fastmed.transforms._numba_kernels import CpuVoxelKernel

                self._cpu = CpuVoxelKernel(self.py_func, len(self.ranges), self.path, self.fastmath)
            return self._cpu

    def cuda_kernel(self) -> Any:
        """The compiled CUDA driver (built on first use; honours ``NUMBA_ENABLE_CUDASIM``)."""
        with self._lock:
            if self._cuda is None:
                from fastmed.transforms._numba_kernels import CudaVoxelKernel

                self._cuda = CudaVoxelKernel(self.py_func, len(self.ranges), self.path, self.fastmath)
            return self._cuda


def voxel_op(
    params: Mapping[str, Any] | None = None, *, fastmath: bool = False
) -> Callable[[Callable[..., float]], VoxelFunction]:
    """Decorator: turn ``f(v, *params) -> float`` into a custom per-voxel intensity op.

    Parameters
    ----------
    params
        ``{name: (low, high)}`` (uniform draw; integer draw, inclusive, when both bounds
        are ints) or ``{name: value}`` (fixed), in the order of the function's arguments.
    fastmath
        Let numba use fast-math.

    Returns
    -------
    A decorator returning a :class:`VoxelFunction`; call that to make the op, e.g.
    ``f(p=0.5, k=(1.0, 1.5))``.
    """

    def wrap(fn: Callable[..., float]) -> VoxelFunction:
        return VoxelFunction(fn, params, fastmath)

    return wrap


def _as_voxel_function(fn: Any, ranges: tuple[Range, ...]) -> VoxelFunction:
    if isinstance(fn, VoxelFunction):
        return fn
    if isinstance(fn, str):
        fn = resolve(fn)
        if isinstance(fn, VoxelFunction):
            return fn
    if callable(fn):
        return VoxelFunction(fn, {n: (lo, hi) for n, lo, hi in ranges})
    raise TransformError(f"VoxelOp: fn must be a voxel_op function or its import path, got {fn!r}")


class _VoxelRunner:
    """One drawn application of a voxel function (the plan's :class:`PythonPass` runner)."""

    def __init__(self, fn: VoxelFunction, values: tuple[float, ...], channels: tuple[int, ...] | None):
        self.fn = fn
        self.name = fn.path
        self.values = np.asarray(values if values else (0.0,), dtype=np.float64)
        self.channels = channels

    def cpu(self, patch: npt.NDArray[np.float32], ndim: int, threads: int) -> npt.NDArray[np.float32]:
        """Run the njit driver in place."""
        if patch.dtype != np.float32 or not patch.flags.c_contiguous:
            raise TransformError(f"voxel op {self.name}: the patch must be C-contiguous float32")
        c = int(patch.shape[0])
        mask = _channel_mask(self.channels, c, f"voxel op {self.name}")
        per = int(patch.size // c) if c else 0
        if per:
            self.fn.cpu_kernel()(patch.reshape(-1), per, mask, self.values, int(threads))
        return patch

    def cuda(self, patch: Any, ndim: int, stream: int = 0) -> Any:
        """Run the numba.cuda driver in place on a device patch."""
        shape = tuple(int(n) for n in patch.shape)
        mask = _channel_mask(self.channels, shape[0], f"voxel op {self.name}")
        per = int(np.prod(shape[1:]))
        if per:
            self.fn.cuda_kernel()(patch, per, mask, self.values, stream)
        return patch


@register
@dataclass(frozen=True)
class VoxelOp(IntensityOp):
    """A per-voxel Python function as an op (made by :func:`voxel_op`; see the module doc).

    Parameters
    ----------
    fn
        The :class:`VoxelFunction` (or its import path ``"module:name"``).
    params
        ``((name, low, high), ...)`` in the function's argument order.
    channels
        Channels it applies to (None: all).
    p
        Probability.
    """

    fn: Any
    params: tuple[Range, ...] = ()
    channels: tuple[int, ...] | None = None
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "VoxelOp")
        ranges = _ranges(
            {r[0]: (r[1], r[2]) for r in self.params} if not isinstance(self.params, Mapping) else self.params,
            "VoxelOp",
        )
        object.__setattr__(self, "params", ranges)
        object.__setattr__(self, "fn", _as_voxel_function(self.fn, ranges))
        if [r[0] for r in ranges] != [r[0] for r in self.fn.ranges]:
            raise TransformError(f"VoxelOp {self.fn.path}: params {[r[0] for r in ranges]} do not match the function")
        if self.channels is not None:
            object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    def to_dict(self) -> dict[str, Any]:
        """Config with the function named by import path."""
        return {
            "op": "VoxelOp",
            "fn": self.fn.path,
            "params": {n: [lo, hi] for n, lo, hi in self.params},
            "channels": None if self.channels is None else list(self.channels),
            "p": self.p,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VoxelOp:
        """Rebuild from :meth:`to_dict` output (re-imports the function)."""
        op: VoxelOp = _from_dict(cls, d)
        return op

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply, then each parameter in order."""
        apply = rng.bernoulli(self.p)
        return {"apply": apply, **_draw(rng, self.params)}

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One Python pass (breaks fusion)."""
        if not params["apply"]:
            return []
        values = tuple(float(params[n]) for n, _, _ in self.params)
        return [PythonPass(_VoxelRunner(self.fn, values, self.channels))]


# ---- patch functions -------------------------------------------------------------------


class PatchFunction:
    """A patch-level function with its parameter ranges; calling it makes a :class:`PatchOp`.

    The function is called as ``f(patch, **params)`` (plus ``rng=`` when it takes an
    ``rng`` argument: a :class:`~fastmed.rng.KeyedRNG` seeded from the sample's params,
    for random arrays that replay). ``patch`` is float32 ``(C, H, W)`` or ``(C, D, H, W)``;
    the function changes it in place and returns None, or returns a new array of the
    same shape.
    """

    def __init__(self, py_func: Callable[..., Any], params: Mapping[str, Any] | None):
        self.py_func = py_func
        self.path = import_path(py_func)
        self.__name__ = py_func.__name__
        self.__qualname__ = py_func.__qualname__
        self.__module__ = py_func.__module__
        self.__doc__ = py_func.__doc__
        self.ranges = _ranges(params, f"patch_op {self.path}")
        sig = inspect.signature(py_func).parameters
        self.wants_rng = "rng" in sig
        missing = [n for n, _, _ in self.ranges if n not in sig]
        if missing:
            raise TransformError(f"patch_op {self.path}: the function has no argument(s) {missing}")

    def __repr__(self) -> str:
        return f"<patch_op {self.path} params={dict((n, (lo, hi)) for n, lo, hi in self.ranges)}>"

    def __call__(self, p: float = 1.0, **ranges: Any) -> PatchOp:
        """The op: ``p`` probability and parameter ranges overriding the defaults."""
        unknown = set(ranges) - {r[0] for r in self.ranges}
        if unknown:
            raise TransformError(f"patch_op {self.path}: unknown parameters {sorted(unknown)}")
        merged = {n: ranges.get(n, (lo, hi)) for n, lo, hi in self.ranges}
        return PatchOp(fn=self, params=_ranges(merged, self.path), p=p)


def patch_op(params: Mapping[str, Any] | None = None) -> Callable[[Callable[..., Any]], PatchFunction]:
    """Decorator: turn ``f(patch, **params)`` into a custom patch-level op (see :class:`PatchFunction`).

    Parameters
    ----------
    params
        ``{name: (low, high)}`` or ``{name: value}``, as for :func:`voxel_op`.
    """

    def wrap(fn: Callable[..., Any]) -> PatchFunction:
        return PatchFunction(fn, params)

    return wrap


class _PatchRunner:
    def __init__(self, fn: PatchFunction, values: dict[str, Number], rng_seed: int | None):
        self.fn = fn
        self.name = fn.path
        self.values = values
        self.rng_seed = rng_seed

    def _call(self, view: Any) -> Any:
        kw: dict[str, Any] = dict(self.values)
        if self.fn.wants_rng and self.rng_seed is not None:
            kw["rng"] = KeyedRNG(self.rng_seed)
        return self.fn.py_func(view, **kw)

    def _run(self, patch: Any, ndim: int) -> Any:
        view = patch[:, 0] if ndim == 2 else patch
        try:
            res = self._call(view)
        except TransformError:
            raise
        except Exception as exc:  # user code: name the op and keep the cause
            raise TransformError(f"patch op {self.name} failed: {type(exc).__name__}: {exc}") from exc
        if res is not None and res is not view:
            if tuple(res.shape) != tuple(view.shape):
                raise TransformError(
                    f"patch op {self.name} returned shape {tuple(res.shape)}, expected {tuple(view.shape)}"
                )
            view[...] = res
        return patch

    def cpu(self, patch: npt.NDArray[np.float32], ndim: int, threads: int) -> npt.NDArray[np.float32]:
        """Call the function on the numpy patch."""
        out: npt.NDArray[np.float32] = self._run(patch, ndim)
        return out

    def cuda(self, patch: Any, ndim: int, stream: int = 0) -> Any:
        """Call the function on the device patch (it must handle the device array type)."""
        return self._run(patch, ndim)


@register
@dataclass(frozen=True)
class PatchOp(IntensityOp):
    """A patch-level Python function as an op (made by :func:`patch_op`).

    Parameters
    ----------
    fn
        The :class:`PatchFunction` (or its import path).
    params
        ``((name, low, high), ...)``.
    p
        Probability.
    """

    fn: Any
    params: tuple[Range, ...] = ()
    p: float = 1.0

    def __post_init__(self) -> None:
        check_p(self.p, "PatchOp")
        ranges = _ranges(
            {r[0]: (r[1], r[2]) for r in self.params} if not isinstance(self.params, Mapping) else self.params,
            "PatchOp",
        )
        object.__setattr__(self, "params", ranges)
        fn = self.fn
        if isinstance(fn, str):
            fn = resolve(fn)
        if not isinstance(fn, PatchFunction):
            if not callable(fn):
                raise TransformError(f"PatchOp: fn must be a patch_op function or its import path, got {fn!r}")
            fn = PatchFunction(fn, {n: (lo, hi) for n, lo, hi in ranges})
        object.__setattr__(self, "fn", fn)

    def to_dict(self) -> dict[str, Any]:
        """Config with the function named by import path."""
        return {
            "op": "PatchOp",
            "fn": self.fn.path,
            "params": {n: [lo, hi] for n, lo, hi in self.params},
            "p": self.p,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatchOp:
        """Rebuild from :meth:`to_dict` output (re-imports the function)."""
        op: PatchOp = _from_dict(cls, d)
        return op

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """Draw apply, each parameter in order, then a seed for the function's own ``rng``."""
        apply = rng.bernoulli(self.p)
        out: Params = {"apply": apply, **_draw(rng, self.params)}
        if self.fn.wants_rng:
            out["rng_seed"] = int(rng.integers(0, 2**62))
        return out

    def emit(self, params: Params, ctx: IntensityContext) -> list[Instr]:
        """One Python pass (breaks fusion)."""
        if not params["apply"]:
            return []
        values = {n: params[n] for n, _, _ in self.params}
        seed = params.get("rng_seed")
        return [PythonPass(_PatchRunner(self.fn, values, None if seed is None else int(seed)))]
