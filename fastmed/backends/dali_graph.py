"""The DALI graph of a fused plan, and the per-sample values that feed it.

:func:`build_graph` is the body of a DALI pipeline for a :class:`GraphSpec` (per array
key: transpose to channel-last, one ``warp_affine`` with the fused matrix, the
intensity template's slots as DALI arithmetic, transpose back, cast);
:func:`feed_values` turns one sample's plan into the arrays its external sources take;
:func:`make_pipeline` builds either the named-input form (``feed_input``, used by the
backend) or the pulling form (one multi-output source, used with DALI's iterators).
See :mod:`fastmed.backends.dali` for the conventions and the support table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.backends.dali_support import (
    OP_AFFINE,
    OP_CLIP,
    OP_GAMMA,
    OP_NOISE,
    channel_program,
    merge_template,
    ops_unsupported_by_dali,
    plan_unsupported_by_dali,
    slot_values,
    unsupported_error,
)
from fastmed.errors import TransformError
from fastmed.transforms.plan import ArrayPlan, SamplePlan

SUPPORTED_SOURCES = (np.uint8, np.int16, np.uint16, np.int32, np.float32)


def _dali() -> tuple[Any, Any, Any, Any]:
    try:
        import nvidia.dali.math as dmath
        from nvidia.dali import fn, pipeline_def, types
    except ImportError as exc:
        raise TransformError(f"DALI backend: nvidia-dali is not installed ({exc})") from exc
    return fn, types, dmath, pipeline_def


def dali_matrix(matrix: npt.ArrayLike, ndim: int) -> npt.NDArray[np.float32]:
    """Convert the output-index -> source-index map of a plan to a DALI ``warp_affine`` matrix.

    Parameters
    ----------
    matrix
        4x4 (or 3x4) map on ``(z, y, x)`` voxel indices (2D plans: z is the unit axis).
    ndim
        2 or 3.

    Returns
    -------
    ``(ndim, ndim + 1)`` float32 on ``(x, y[, z])`` coordinates with voxel corners at integers.
    """
    m = np.asarray(matrix, dtype=np.float64)
    a, t = m[:3, :3], m[:3, 3]
    if ndim == 2:
        a, t = a[1:, 1:], t[1:]
    a = a[::-1, ::-1]
    t = t[::-1]
    t = t + 0.5 - a @ np.full(ndim, 0.5)
    return np.concatenate([a, t[:, None]], axis=1).astype(np.float32)


@dataclass(frozen=True)
class ArraySpec:
    """The graph of one array key."""

    key: str
    interp: str
    pad_mode: str
    pad_value: float
    out_dtype: str
    template: tuple[int, ...]
    src_dtype: str = "int16"


@dataclass(frozen=True)
class GraphSpec:
    """Everything that fixes a pipeline's graph (its cache key)."""

    ndim: int
    arrays: tuple[ArraySpec, ...]


def input_names(spec: GraphSpec) -> list[str]:
    """External-source names, in the order :func:`feed_values` returns them."""
    names = ["matrix", "size"]
    for k, a in enumerate(spec.arrays):
        names.append(f"a{k}")
        names.extend(f"a{k}s{j}" for j in range(len(a.template)))
    return names


def _layouts(ndim: int) -> tuple[str, str, list[int], list[int]]:
    if ndim == 3:
        return "CDHW", "DHWC", [1, 2, 3, 0], [3, 0, 1, 2]
    return "CHW", "HWC", [1, 2, 0], [2, 0, 1]


def build_graph(spec: GraphSpec, inputs: Mapping[str, Any], device: str) -> list[Any]:
    """The pipeline body: one output per array key (call inside a DALI pipeline definition)."""
    fn, types, dmath, _ = _dali()
    _, hwc, to_last, to_first = _layouts(spec.ndim)
    gpu = device == "gpu"
    outs = []
    for k, a in enumerate(spec.arrays):
        x = fn.transpose(inputs[f"a{k}"], perm=to_last, output_layout=hwc)
        widen = np.dtype(a.src_dtype) == np.uint16  # warp_affine has no uint16 kernel: go through int32
        if widen:
            x = fn.cast(x, dtype=types.INT32)
        if gpu:
            x = x.gpu()
        kw: dict[str, Any] = {"matrix": inputs["matrix"], "size": inputs["size"]}
        if a.pad_mode == "constant":
            kw["fill_value"] = float(a.pad_value)
        if a.interp == "nearest":
            y = fn.warp_affine(x, interp_type=types.INTERP_NN, **kw)
            if widen:
                y = fn.cast(y, dtype=types.UINT16)
        else:
            y = fn.warp_affine(x, interp_type=types.INTERP_LINEAR, dtype=types.FLOAT, **kw)
        for j, code in enumerate(a.template):
            p = inputs[f"a{k}s{j}"]
            if code == OP_NOISE:
                y = fn.noise.gaussian(y, stddev=p)
                continue
            if gpu:
                p = p.gpu()
            if code == OP_CLIP:
                y = dmath.min(dmath.max(y, p[0]), p[1])
            elif code == OP_AFFINE:
                y = y * p[0] + p[1]
            elif code == OP_GAMMA:
                lo, hi, g, inv, on = p[0], p[1], p[2], p[3], p[4]
                span = hi - lo
                t = dmath.clamp((y - lo) / span, 0.0, 1.0)
                pw = dmath.pow(t + inv * (1.0 - 2.0 * t), g)
                r = lo + span * (pw + inv * (1.0 - 2.0 * pw))
                y = on * r + (1.0 - on) * y  # exact either way: on is 0 or 1
        y = fn.transpose(y, perm=to_first, output_layout=_layouts(spec.ndim)[0])
        if a.out_dtype == "float16":
            y = fn.cast(y, dtype=types.FLOAT16)
        outs.append(y)
    return outs


def window_matrix(plan: SamplePlan) -> npt.NDArray[np.float64]:
    """The plan's matrix for sources that are windows of their volume (``plan.windows``).

    DALI samples the window itself, so the window origin is folded into the translation
    (in float64, before DALI's float32 arithmetic): within DALI's tolerance of the
    whole-volume result, not bit for bit as on ``cpu`` / ``cuda``. Padding is then
    decided at the window's faces, which is the volume's wherever a padded coordinate can
    fall, for a window holding ``plan.source_bbox``. Every array must share one window.
    """
    m = np.array(plan.spatial.matrix, dtype=np.float64)
    if not plan.windows:
        return m
    wins = {plan.windows.get(ap.key) for ap in plan.arrays}
    if len(wins) != 1 or None in wins:
        raise TransformError("DALI backend: every array of a sample must be the same window of its volume")
    (win,) = wins
    assert win is not None
    m[:3, 3] -= np.asarray(win.origin, dtype=np.float64)
    return m


def feed_values(spec: GraphSpec, plan: SamplePlan, sample: Mapping[str, Any]) -> list[npt.NDArray[Any]]:
    """One sample's arrays for every external source, in :func:`input_names` order."""
    d = spec.ndim
    size = np.asarray(plan.spatial.out_shape[3 - d :], dtype=np.float32)
    vals: list[npt.NDArray[Any]] = [dali_matrix(window_matrix(plan), d), size]
    by_key = {ap.key: ap for ap in plan.arrays}
    bcast = (1,) * d
    for a in spec.arrays:
        src = np.asarray(sample[a.key])
        if src.dtype == np.bool_:
            src = src.view(np.uint8)
        if src.dtype.type not in SUPPORTED_SOURCES or src.ndim != d + 1:
            raise TransformError(
                f"DALI backend: sample[{a.key!r}] must be channel-first {d}-D uint8/int16/uint16/int32/float32, "
                f"got {src.dtype} {src.shape}"
            )
        if src.dtype.str != a.src_dtype:
            raise TransformError(
                f"DALI backend: sample[{a.key!r}] is {src.dtype}, the pipeline was built for {np.dtype(a.src_dtype)}"
            )
        vals.append(np.ascontiguousarray(src))
        slots = slot_values(by_key[a.key], int(src.shape[0]), a.template).params
        for code, p in zip(a.template, slots, strict=True):
            # Noise std is a scalar argument; the others broadcast over the channel-last patch.
            vals.append(p.reshape(()) if code == OP_NOISE else p.reshape(p.shape[0], *bcast, p.shape[1]))
    return vals


def array_spec(ap: ArrayPlan, template: tuple[int, ...], src: Any) -> ArraySpec:
    """The graph of one array plan with this template, for sources like ``src``."""
    out = "float32" if ap.out_dtype == "bfloat16" else ap.out_dtype
    dt = np.dtype(src.dtype) if hasattr(src, "dtype") else np.asarray(src).dtype
    dt = np.dtype(np.uint8) if dt == np.bool_ else dt
    # The source dtype is part of the graph: DALI's external source keeps one type.
    return ArraySpec(ap.key, ap.interp, ap.pad_mode, float(ap.pad_value), out, template, dt.str)


def graph_for_plans(plans: Sequence[SamplePlan], samples: Sequence[Mapping[str, Any]]) -> GraphSpec:
    """The graph that runs these plans: per array key, a template every program fits."""
    bad = [name for plan in plans for name in plan_unsupported_by_dali(plan)]
    bad += [name for plan in plans for name in ops_unsupported_by_dali(plan.notes.get("ops", ()))]  # type: ignore[arg-type]
    if bad:
        raise unsupported_error("dali", bad)
    ndims = {p.ndim for p in plans}
    keys = {tuple(ap.key for ap in p.arrays) for p in plans}
    if len(ndims) != 1 or len(keys) != 1:
        raise TransformError("DALI backend: every plan of a batch must have the same dimensions and array keys")
    arrays = []
    for j, ap0 in enumerate(plans[0].arrays):
        template: tuple[int, ...] = ()
        for plan, sample in zip(plans, samples, strict=True):
            ap = plan.arrays[j]
            if (ap.interp, ap.pad_mode, ap.pad_value, ap.out_dtype) != (
                ap0.interp,
                ap0.pad_mode,
                ap0.pad_value,
                ap0.out_dtype,
            ):
                raise TransformError(f"DALI backend: array {ap.key!r} is sampled differently across the batch")
            for c in range(int(np.shape(sample[ap.key])[0])):
                template = merge_template(template, [code for code, _ in channel_program(ap, c)])
        arrays.append(array_spec(ap0, template, samples[0][ap0.key]))
    return GraphSpec(ndim=plans[0].ndim, arrays=tuple(arrays))


def make_pipeline(
    spec: GraphSpec,
    batch_size: int,
    device: str,
    num_threads: int,
    seed: int,
    device_id: int | None,
    source: Callable[..., Any] | None = None,
) -> Any:
    """A built pipeline: named external sources (``feed_input``) or one multi-output source."""
    fn, _, _, pipeline_def = _dali()
    if device not in ("cpu", "gpu"):
        raise TransformError(f"DALI backend: device must be 'cpu' or 'gpu', got {device!r}")
    names = input_names(spec)
    first_layout = _layouts(spec.ndim)[0]

    @pipeline_def(
        batch_size=batch_size,
        num_threads=max(1, num_threads),
        device_id=device_id if device == "gpu" else None,
        seed=seed,
        prefetch_queue_depth=1 if source is None else 2,
    )
    def pipe() -> Any:
        if source is None:
            nodes = {n: fn.external_source(name=n, layout=first_layout if _is_array(n) else None) for n in names}
        else:
            layouts = [first_layout if _is_array(n) else "" for n in names]
            got = fn.external_source(source=source, num_outputs=len(names), batch=True, batch_info=True, layout=layouts)
            nodes = dict(zip(names, got, strict=True))
        return tuple(build_graph(spec, nodes, device))

    p = pipe()
    p.build()
    return p


def _is_array(name: str) -> bool:
    return name.startswith("a") and "s" not in name
