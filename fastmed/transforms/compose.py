"""Compose: draw every op's params, fuse them into one plan, run it on a backend.

Spatial ops (in their given order) fuse into one output-voxel to source-coordinate
matrix plus an optional elastic grid; intensity ops (in their given order) fuse into
one per-voxel program, split only where a patch pass (blur, low-res, patch
statistics) must see the whole patch. Intensity ops act on the resampled patch, so
their place relative to spatial ops does not matter (for pointwise linear ops this
is exact; for gamma it is the usual resample-then-transform order). Arrays under
``label_keys`` use the same map with nearest sampling and get no intensity op.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import KeyedRNG
from fastmed.transforms._geometry import lift_to_3d, snap
from fastmed.transforms.base import (
    Context,
    Instr,
    IntensityContext,
    IntensityOp,
    Op,
    Params,
    SpatialOp,
    op_from_dict,
)
from fastmed.transforms.elastic import RandomElastic
from fastmed.transforms.params import checked_params, to_json
from fastmed.transforms.plan import (
    PAD_MODES,
    ArrayPlan,
    IntensityProgram,
    PatchPass,
    ProgramOp,
    ProgramPass,
    SamplePlan,
    SpatialMap,
)
from fastmed.transforms.stats import Stats, source_stats

_DTYPES = ("float32", "float16", "bfloat16")
_CONFIG_KEYS = {
    "image_keys",
    "label_keys",
    "dtype",
    "pad_mode",
    "pad_value",
    "label_pad_value",
    "device",
    "threads",
    "stats_voxels",
}


def _check_label_pad(value: float, name: str, arr: Any) -> None:
    """An integer label is padded with one of its own values (no wrap-around: 300 never becomes 44)."""
    raw = getattr(arr, "dtype", None)
    try:  # numpy and CuPy dtypes, torch dtypes by name ("torch.uint8"), lists through numpy
        dt = np.asarray(arr).dtype if raw is None else np.dtype(str(raw).removeprefix("torch."))
    except TypeError:
        return
    if dt.kind == "b":
        ok, lo, hi = value in (0.0, 1.0), 0, 1
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
        ok = float(value).is_integer() and lo <= value <= hi
    else:
        return
    if not ok:
        raise TransformError(
            f"Compose: label_pad_value {value} does not fit sample[{name!r}] of dtype {dt} (an integer in [{lo}, {hi}])"
        )


def _spacing(sample: Mapping[str, Any], ndim: int) -> tuple[float, ...]:
    sp = sample.get("spacing")
    if sp is None and isinstance(sample.get("meta"), Mapping):
        sp = sample["meta"].get("spacing")
    if sp is None:
        return (1.0,) * ndim
    sp = tuple(float(v) for v in sp)
    if len(sp) != ndim or any(v <= 0 for v in sp):
        raise TransformError(f"sample spacing {sp} does not fit a {ndim}-D sample")
    return sp


class Compose:
    """A pipeline of ops compiled into one fused pass per sample.

    Parameters
    ----------
    ops
        Op specs, applied in order (spatial among spatial, intensity among intensity).
    image_keys
        Keys resampled linearly and given the intensity ops (the first must be present).
    label_keys
        Keys resampled with nearest, padded with ``label_pad_value``, no intensity ops,
        output in their own dtype.
    dtype
        Image output dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"`` (a torch
        bfloat16 tensor; numpy has no bfloat16).
    pad_mode, pad_value
        Padding outside the image (a crop's own padding overrides these).
    label_pad_value
        Padding of labels.
    device
        Backend name (``"cpu"``; ``"cuda"`` and ``"dali"`` when installed).
    threads
        Native threads (<= 0: the pool size).
    stats_voxels
        Subsample size for per-sample statistics (see :mod:`fastmed.transforms.stats`).

    Examples
    --------
    >>> import numpy as np
    >>> from fastmed.transforms import Compose, RandomCrop, RandomFlip, Window
    >>> aug = Compose([RandomCrop((32, 32, 32)), RandomFlip(), Window(-1000, 400)])
    >>> out = aug({"image": np.zeros((1, 40, 50, 60), np.int16)}, seed=0, index=3)
    >>> out["image"].shape
    (1, 32, 32, 32)
    """

    def __init__(
        self,
        ops: Iterable[Op],
        *,
        image_keys: Sequence[str] = ("image",),
        label_keys: Sequence[str] = ("label",),
        dtype: str = "float32",
        pad_mode: str = "constant",
        pad_value: float = 0.0,
        label_pad_value: float = 0.0,
        device: str = "cpu",
        threads: int = 0,
        stats_voxels: int = 32768,
    ):
        self.ops: tuple[Op, ...] = tuple(ops)
        for op in self.ops:
            if not isinstance(op, SpatialOp | IntensityOp):
                raise TransformError(f"Compose: {op!r} is not a fastmed op")
        if sum(isinstance(op, RandomElastic) for op in self.ops) > 1:
            raise TransformError("Compose: at most one RandomElastic per pipeline")
        if dtype not in _DTYPES:
            raise TransformError(f"Compose: dtype must be one of {_DTYPES}, got {dtype!r}")
        if pad_mode not in PAD_MODES:
            raise TransformError(f"Compose: pad_mode must be one of {sorted(PAD_MODES)}, got {pad_mode!r}")
        if not image_keys:
            raise TransformError("Compose: image_keys must name at least one key")
        self.image_keys = tuple(image_keys)
        self.label_keys = tuple(label_keys)
        self.dtype = dtype
        self.pad_mode = pad_mode
        self.pad_value = float(pad_value)
        self.label_pad_value = float(label_pad_value)
        self.device = device
        self.threads = int(threads)
        self.stats_voxels = int(stats_voxels)

    def __repr__(self) -> str:
        return f"Compose({list(self.ops)!r}, device={self.device!r})"

    # ---- serialization -----------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The pipeline as a JSON-friendly dict."""
        return {
            "ops": [op.to_dict() for op in self.ops],
            "image_keys": list(self.image_keys),
            "label_keys": list(self.label_keys),
            "dtype": self.dtype,
            "pad_mode": self.pad_mode,
            "pad_value": self.pad_value,
            "label_pad_value": self.label_pad_value,
            "device": self.device,
            "threads": self.threads,
            "stats_voxels": self.stats_voxels,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Compose:
        """Rebuild a pipeline from :meth:`to_dict` output."""
        if not isinstance(d, Mapping) or not isinstance(d.get("ops"), list | tuple):
            raise TransformError("Compose.from_dict: expected a dict with an 'ops' list")
        unknown = sorted(set(d) - _CONFIG_KEYS - {"ops"})
        if unknown:
            raise TransformError(f"Compose.from_dict: unknown keys {unknown} (known: {sorted(_CONFIG_KEYS)})")
        rest = {k: v for k, v in d.items() if k != "ops"}
        return cls([op_from_dict(o) for o in d["ops"]], **rest)

    # ---- parameters --------------------------------------------------------------

    def _describe(self, sample: Mapping[str, Any]) -> Context:
        key = self.image_keys[0]
        if key not in sample:
            raise TransformError(f"Compose: sample has no {key!r} key (keys: {sorted(sample)})")
        shape = tuple(int(n) for n in np.shape(sample[key]))
        if len(shape) not in (3, 4):
            raise TransformError(
                f"Compose: sample[{key!r}] must be channel-first (C, H, W) or (C, D, H, W), got shape {shape}"
            )
        ndim = len(shape) - 1
        return Context(ndim=ndim, shape=shape[1:], spacing=_spacing(sample, ndim), channels=shape[0])

    def _walk_spatial(
        self, ctx: Context, params: Sequence[Params | None]
    ) -> tuple[npt.NDArray[np.float64], Context, tuple[str, float]]:
        """Compose the backward maps of the (non-elastic) spatial ops."""
        m = np.eye(ctx.ndim + 1)
        pad = (self.pad_mode, self.pad_value)
        for op, p in zip(self.ops, params, strict=True):
            if not isinstance(op, SpatialOp) or isinstance(op, RandomElastic) or p is None:
                continue
            step = op.step(p, ctx)
            m = m @ step.matrix
            ctx = Context(ctx.ndim, tuple(int(n) for n in step.out_shape), tuple(step.out_spacing), ctx.channels)
            pad = op.padding() or pad
        return m, ctx, pad

    def sample_params(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Draw every op's params for this (seed, epoch, index); op k uses stream k.

        The result is plain JSON data (dicts, lists, bools, ints, floats): ``json.dumps`` writes it
        and :meth:`replay` of ``json.loads`` of it gives the same output bit for bit.
        """
        out: dict[str, Any] = to_json(self._draw(sample, seed, index, epoch))
        return out

    def _draw(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        """:meth:`sample_params` as drawn (numpy arrays kept; the hot path compiles these)."""
        ctx0 = self._describe(sample)
        drawn: list[Params | None] = [None] * len(self.ops)
        ctx = ctx0
        for k, op in enumerate(self.ops):  # spatial ops first: later ones see the current grid
            if isinstance(op, SpatialOp) and not isinstance(op, RandomElastic):
                drawn[k] = op.sample_params(KeyedRNG(seed, epoch, index, k), ctx)
                ctx = Context(ctx.ndim, *self._shape_after(op, drawn[k], ctx), ctx.channels)  # type: ignore[arg-type]
        final = Context(ctx0.ndim, ctx0.shape, ctx0.spacing, ctx0.channels, ctx.shape, ctx.spacing)
        for k, op in enumerate(self.ops):
            if drawn[k] is None:
                drawn[k] = op.sample_params(KeyedRNG(seed, epoch, index, k), final)
        return {
            "seed": int(seed),
            "epoch": int(epoch),
            "index": int(index),
            "ops": [{"op": type(op).__name__, "params": p} for op, p in zip(self.ops, drawn, strict=True)],
        }

    @staticmethod
    def _shape_after(op: SpatialOp, p: Params, ctx: Context) -> tuple[tuple[int, ...], tuple[float, ...]]:
        step = op.step(p, ctx)
        return tuple(int(n) for n in step.out_shape), tuple(float(s) for s in step.out_spacing)

    # ---- compilation -------------------------------------------------------------

    def compile(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> SamplePlan:
        """Fuse the drawn params into a :class:`SamplePlan` for this sample."""
        ops_params = [entry["params"] for entry in params["ops"]]
        if len(ops_params) != len(self.ops):
            raise TransformError(f"params hold {len(ops_params)} ops, the pipeline has {len(self.ops)}")
        seed, epoch, index = int(params["seed"]), int(params["epoch"]), int(params["index"])
        key = KeyedRNG(seed, epoch, index).key
        ctx0 = self._describe(sample)
        d = ctx0.ndim
        for name in (*self.image_keys, *self.label_keys):
            if name in sample and tuple(np.shape(sample[name]))[1:] != ctx0.shape:
                raise TransformError(
                    f"Compose: sample[{name!r}] has spatial shape {tuple(np.shape(sample[name]))[1:]}, "
                    f"the image has {ctx0.shape} (arrays must share one voxel grid, channel-first)"
                )
        m, ctx, pad = self._walk_spatial(ctx0, ops_params)
        out_shape = (1, *ctx.shape) if d == 2 else tuple(ctx.shape)
        out_spacing = (1.0, *ctx.spacing) if d == 2 else tuple(ctx.spacing)
        grid, grid_inv = None, (0.0, 0.0, 0.0)
        for op, p in zip(self.ops, ops_params, strict=True):
            if isinstance(op, RandomElastic) and p.get("apply", True):
                grid, grid_inv = self._elastic_grid(p, m, ctx)
        spatial = SpatialMap(
            matrix=snap(lift_to_3d(m, d)),
            out_shape=tuple(int(n) for n in out_shape),  # type: ignore[arg-type]
            out_spacing=tuple(float(s) for s in out_spacing),  # type: ignore[arg-type]
            grid=grid,
            grid_inv=grid_inv,
        )
        arrays: list[ArrayPlan] = []
        for name in self.image_keys:
            if name not in sample:
                continue
            program, passes = self._intensity(sample, name, ops_params, key, index, ctx0.channels)
            arrays.append(ArrayPlan(name, "linear", pad[0], pad[1], program, passes, self.dtype))  # type: ignore[arg-type]
        for name in self.label_keys:
            if name in sample:
                _check_label_pad(self.label_pad_value, name, sample[name])
                arrays.append(
                    ArrayPlan(name, "nearest", "constant", self.label_pad_value, IntensityProgram.build([]), (), "same")
                )
        # The op specs travel with the plan so a backend can refuse a pipeline it cannot run
        # whether or not this sample's draw applied the op (DALI: no elastic, ...).
        notes: dict[str, object] = {"ops": self.ops}
        return SamplePlan(spatial=spatial, arrays=tuple(arrays), key=key, index=index, ndim=d, notes=notes)

    @staticmethod
    def _elastic_grid(
        p: Params, m: npt.NDArray[np.float64], ctx: Context
    ) -> tuple[npt.NDArray[np.float32], tuple[float, float, float]]:
        """Control vectors in output mm -> output voxels -> source voxels (linear part of the map)."""
        d = ctx.ndim
        g = np.asarray(p["grid"], dtype=np.float64)
        if g.shape[0] != d:
            raise TransformError(f"RandomElastic params: grid has {g.shape[0]} components for a {d}-D sample")
        vox = g / np.asarray(ctx.spacing, dtype=np.float64).reshape((d,) + (1,) * d)
        # A d-term sum per component, not tensordot: a BLAS call here wakes OpenBLAS's
        # threads, which then spin beside the native kernel's threads.
        src = sum(m[:d, k, None].reshape((d,) + (1,) * d) * vox[k] for k in range(d))
        inv = [float(v) for v in p["grid_inv"]]
        if d == 2:
            src = np.concatenate([np.zeros((1, *src.shape[1:])), src])[:, None]
            inv = [0.0, *inv]
        return np.ascontiguousarray(src, dtype=np.float32), (inv[0], inv[1], inv[2])

    def _intensity(
        self,
        sample: Mapping[str, Any],
        name: str,
        ops_params: Sequence[Params],
        key: tuple[int, int],
        index: int,
        channels: int,
    ) -> tuple[IntensityProgram, tuple[PatchPass, ...]]:
        """Emit every intensity op's instructions and cut them into fused program + passes."""
        src = sample[name]
        if not hasattr(src, "ndim"):
            src = np.asarray(src)
        # Not np.asarray: a CuPy array or torch CUDA tensor stays on its device (stats
        # fetch only their subsample).
        src4 = src[:, None] if src.ndim == 3 else src
        emitted: list[ProgramOp] = []  # every program op so far, for statistics prefixes
        cache: dict[tuple[int, int], Stats] = {}

        def stats_for(mask_key: str | None) -> Any:
            def stats(c: int) -> Stats:
                k = (len(emitted), c)
                if k not in cache:
                    mask = sample.get(mask_key) if mask_key else None
                    for i, s in enumerate(source_stats(src4, emitted, key, index, mask, self.stats_voxels)):
                        cache[(len(emitted), i)] = s
                return cache[k]

            return stats

        segments: list[list[ProgramOp]] = [[]]
        passes: list[PatchPass] = []
        value_range: tuple[float, float] | None = None
        for pos, (op, p) in enumerate(zip(self.ops, ops_params, strict=True)):
            if not isinstance(op, IntensityOp):
                continue
            ictx = IntensityContext(channels, pos, value_range, stats_for(getattr(op, "mask_key", None)))
            instrs: list[Instr] = op.emit(p, ictx)
            for ins in instrs:
                if isinstance(ins, ProgramOp):
                    segments[-1].append(ins)
                    emitted.append(ins)
                else:
                    passes.append(ins)
                    segments.append([])
            value_range = op.output_range(p, value_range)
        fused = IntensityProgram.build(segments[0])
        # Interleave: pass k is followed by the program segment k + 1.
        out: list[PatchPass] = []
        for ps, seg in zip(passes, segments[1:], strict=True):
            out.append(ps)
            if seg:
                out.append(ProgramPass(IntensityProgram.build(seg)))
        return fused, tuple(out)

    # ---- execution ---------------------------------------------------------------

    def _finish(
        self, sample: Mapping[str, Any], arrays: Mapping[str, Any], plan: SamplePlan, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        out = dict(sample)
        for k, v in arrays.items():
            if self.dtype == "bfloat16" and k in self.image_keys:
                import torch  # bfloat16 has no numpy dtype

                if isinstance(v, np.ndarray):
                    v = torch.from_numpy(v)
                elif not isinstance(v, torch.Tensor):  # a CuPy array of bfloat16 bits
                    v = torch.from_dlpack(v)
                v = v.view(torch.bfloat16)
            out[k] = v
        sp = plan.spatial.out_spacing
        out["spacing"] = tuple(sp[1:]) if plan.ndim == 2 else tuple(sp)
        out["params"] = to_json(params)
        return out

    def __call__(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Augment one sample; the result carries ``params`` for :meth:`replay`."""
        return self._run(sample, self._draw(sample, seed, index, epoch))

    def replay(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        """Apply previously drawn ``params`` (from an output's ``"params"``): the same output again.

        ``params`` are untrusted (they may come from a file): they are checked against what this
        pipeline draws for their (seed, epoch, index) on this sample (fields, types, shapes, finite
        values, each op's ranges) and refused with a :class:`~fastmed.errors.TransformError`
        naming the op and the field.
        """
        return self._run(sample, checked_params(self, sample, params))

    def _run(self, sample: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
        from fastmed.backends import get_backend

        plan = self.compile(sample, params)
        arrays = get_backend(self.device).run([plan], [sample], self.threads)[0]
        return self._finish(sample, arrays, plan, params)

    def batch(
        self,
        samples: Sequence[Mapping[str, Any]],
        seed: int = 0,
        indices: Sequence[int] | None = None,
        epoch: int = 0,
        stack: bool = False,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Augment many samples with one native call.

        Parameters
        ----------
        samples
            Sample dicts.
        seed, epoch
            The RNG key.
        indices
            Sample indices (default ``0 .. n-1``); sample k equals ``self(samples[k], seed, indices[k], epoch)``.
        stack
            Return one dict with each array key stacked on a new first axis (patch shapes
            must match) and ``params`` a list, instead of a list of dicts.
        """
        from fastmed.backends import get_backend

        idx = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        if len(idx) != len(samples):
            raise TransformError(f"batch: {len(samples)} samples but {len(idx)} indices")
        params = [self._draw(s, seed, i, epoch) for s, i in zip(samples, idx, strict=True)]
        plans = [self.compile(s, p) for s, p in zip(samples, params, strict=True)]
        arrays = get_backend(self.device).run(plans, samples, self.threads)
        outs = [self._finish(s, a, pl, p) for s, a, pl, p in zip(samples, arrays, plans, params, strict=True)]
        if not stack:
            return outs
        keys = [k for k in (*self.image_keys, *self.label_keys) if all(k in o for o in outs)]
        stacked: dict[str, Any] = {}
        for k in keys:
            vals = [o[k] for o in outs]
            if hasattr(vals[0], "numpy") and not isinstance(vals[0], np.ndarray):
                import torch

                stacked[k] = torch.stack(vals)
            elif type(vals[0]).__module__.startswith("cupy"):
                import cupy

                stacked[k] = cupy.stack(vals)
            else:
                stacked[k] = np.stack(vals)
        stacked["params"] = [o["params"] for o in outs]
        return stacked
