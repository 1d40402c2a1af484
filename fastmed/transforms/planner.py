"""The batch planner: draw and compile the plans of many samples at once.

``Compose`` plans through here, one sample or a whole batch. Per op, every sample of a
batch is drawn with one vectorized call (:meth:`~fastmed.transforms.base.Op.draw_batch`
on a :class:`~fastmed.rng.BatchRNG`: the same Philox words and the same arithmetic as
``sample_params`` on each sample's :class:`~fastmed.rng.KeyedRNG`), the spatial ops'
matrices are built and composed as ``(n, d+1, d+1)`` stacks (numpy runs a stacked matrix
product or inverse matrix by matrix, so each sample's matrix equals its own product bit
for bit), the elastic field and the source box of lazy volumes are vectorized too. What
stays per sample is cheap: the params record, the plan's dataclasses and the intensity
program (a few instructions).

Samples of one batch may differ in shape, spacing and channels; samples of different
dimensionality (2D and 3D) are planned in separate groups.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import TransformError
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms._geometry import snap
from fastmed.transforms.base import Context, Field, Params, SpatialOp
from fastmed.transforms.footprint import source_bboxes
from fastmed.transforms.footprint_shape import SourceFootprint
from fastmed.transforms.intensity_program import build_intensity
from fastmed.transforms.plan import ArrayPlan, IntensityProgram, SamplePlan, SpatialMap, Window
from fastmed.transforms.plan_layout import layout_of
from fastmed.transforms.sample_access import WindowReader, array_shape, check_label_pad, is_lazy

if TYPE_CHECKING:
    from fastmed.transforms.compose import Compose

_EMPTY = IntensityProgram.build([])


@dataclass
class Walk:
    """The fused spatial walk of a group of samples of one dimensionality.

    Parameters
    ----------
    rows
        The samples' positions in the batch.
    matrices
        ``(len(rows), d+1, d+1)``: each sample's composed output-to-source voxel map of the matrix ops.
    ctxs
        Each sample's final patch (shape and spacing after the matrix ops).
    pad
        The padding the pipeline's crops leave (the same for every sample).
    """

    rows: list[int]
    matrices: npt.NDArray[np.float64]
    ctxs: list[Context]
    pad: tuple[str, float]


def _groups(ctx0s: Sequence[Context]) -> list[list[int]]:
    """Positions of the samples, grouped by dimensionality (first-seen order)."""
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(ctx0s):
        groups.setdefault(c.ndim, []).append(i)
    return list(groups.values())


_EYES: dict[tuple[int, int], npt.NDArray[np.float64]] = {}


def _eyes(n: int, d: int) -> npt.NDArray[np.float64]:
    """``n`` read-only identity maps ``(n, d+1, d+1)`` (cached: the walk starts from them every batch)."""
    eye = _EYES.get((n, d))
    if eye is None:
        eye = np.broadcast_to(np.eye(d + 1), (n, d + 1, d + 1))
        if len(_EYES) < 64:
            _EYES[(n, d)] = eye
    return eye


def _walk_group(
    compose: Compose,
    rows: list[int],
    ctx0s: Sequence[Context],
    params: list[list[Params | None]],
    rngs: Sequence[BatchRNG] | None,
    given: Mapping[int, Sequence[Params]] | None = None,
) -> Walk:
    """Compose the matrix ops of ``rows`` (drawing their params first from ``rngs``, one per op).

    ``given[k]`` (one entry per sample of the batch) replaces the draw of op ``k``.
    """
    ctxs = [ctx0s[i] for i in rows]
    d = ctxs[0].ndim
    m = _eyes(len(rows), d)
    pad = (compose.pad_mode, compose.pad_value)
    ops = compose.ops
    for k in layout_of(compose).matrix:
        op = ops[k]
        assert isinstance(op, SpatialOp)
        if rngs is not None:
            drawn = [given[k][i] for i in rows] if given and k in given else op.draw_batch(rngs[k], ctxs)
            for i, p in zip(rows, drawn, strict=True):
                params[i][k] = p
        ps = [params[i][k] for i in rows]
        steps = op.steps(ps, ctxs)  # type: ignore[arg-type]
        m = m @ steps.matrices
        ctxs = [
            c
            if shape is c.shape and spacing is c.spacing  # the grid is unchanged (flips, rotations)
            else Context(c.ndim, tuple(int(n) for n in shape), tuple(float(s) for s in spacing), c.channels)
            for c, shape, spacing in zip(ctxs, steps.out_shapes, steps.out_spacings, strict=True)
        ]
        pad = op.padding() or pad
    return Walk(rows, np.asarray(m, dtype=np.float64), ctxs, pad)


def draw(
    compose: Compose,
    samples: Sequence[Mapping[str, Any]],
    seed: int,
    indices: Sequence[int],
    epoch: int,
    given: Mapping[int, Sequence[Params]] | None = None,
) -> tuple[list[dict[str, Any]], list[Walk], list[Context]]:
    """Every op's params for each sample (op k uses stream k), with the spatial walks and the samples' contexts.

    Equals ``Compose.sample_params`` of each sample (numpy arrays kept), bit for bit. ``given[k]``
    holds op ``k``'s params of every sample, set from outside (a patch sampler's crop start):
    used as drawn, before the ops after it draw theirs.
    """
    ctx0s = [compose._describe(s) for s in samples]
    lay = layout_of(compose)
    n_ops = len(lay.ops)
    params: list[list[Params | None]] = [[None] * n_ops for _ in samples]
    walks: list[Walk] = []
    for rows in _groups(ctx0s):
        rngs = BatchRNG.streams(seed, epoch, [indices[i] for i in rows], range(n_ops))
        walk = _walk_group(compose, rows, ctx0s, params, rngs, given)
        walks.append(walk)
        # The other ops see the final patch.
        finals = [
            Context(ctx0s[i].ndim, ctx0s[i].shape, ctx0s[i].spacing, ctx0s[i].channels, c.shape, c.spacing)
            for i, c in zip(rows, walk.ctxs, strict=True)
        ]
        for k in lay.other:
            drawn = [given[k][i] for i in rows] if given and k in given else lay.ops[k].draw_batch(rngs[k], finals)
            for i, p in zip(rows, drawn, strict=True):
                params[i][k] = p
    names = lay.names
    out = [
        {
            "seed": int(seed),
            "epoch": int(epoch),
            "index": int(idx),
            "ops": [{"op": name, "params": p} for name, p in zip(names, ps, strict=True)],
        }
        for idx, ps in zip(indices, params, strict=True)
    ]
    return out, walks, ctx0s


def _fields(compose: Compose, walk: Walk, ops_params: Sequence[Sequence[Params]]) -> list[Field | None]:
    """Each row's displacement field (the last displacement op that gives one)."""
    fields: list[Field | None] = [None] * len(walk.rows)
    for k in layout_of(compose).displacement:
        op = compose.ops[k]
        assert isinstance(op, SpatialOp)
        got = op.displacements([ops_params[i][k] for i in walk.rows], walk.matrices, walk.ctxs)
        for j, f in enumerate(got):
            if f is not None:
                fields[j] = f
    return fields


def _lifted(m: npt.NDArray[np.float64], d: int) -> npt.NDArray[np.float64]:
    """:func:`~fastmed.transforms._geometry.lift_to_3d` of a stack of maps, then snapped."""
    if d == 2:
        out = np.zeros((m.shape[0], 4, 4))
        out[:, range(4), range(4)] = 1.0
        out[:, 1:3, 1:3] = m[:, :2, :2]
        out[:, 1:3, 3] = m[:, :2, 2]
        m = out
    return snap(m)


def _dense(m: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Which maps of a ``(n, 4, 4)`` stack read every voxel of their source box (no footprint can narrow the read).

    True for an axis-aligned map (each source axis driven by at most one output axis, and each output axis
    by at most one source axis: crops, flips, axis swaps, zooms) whose steps are at most one voxel: along
    every source axis the sampled coordinates are contiguous, so their taps fill the box.
    """
    lin = m[:, :3, :3]
    nz = lin != 0.0
    return np.asarray(
        (nz.sum(axis=2) <= 1).all(axis=1) & (nz.sum(axis=1) <= 1).all(axis=1) & (np.abs(lin) <= 1.0).all(axis=(1, 2))
    )


def compile_batch(
    compose: Compose,
    samples: Sequence[Mapping[str, Any]],
    params: Sequence[Mapping[str, Any]],
    read: bool = True,
    walks: list[Walk] | None = None,
    ctx0s: list[Context] | None = None,
) -> list[tuple[SamplePlan, dict[str, Any]]]:
    """The plans of the samples from their drawn ``params`` and, with ``read``, the windows of their lazy arrays.

    ``walks`` and ``ctx0s`` (from :func:`draw`) skip recomputing the spatial walk.
    """
    lay = layout_of(compose)
    ops_params: list[list[Params]] = []
    for p in params:
        ops_p = [entry["params"] for entry in p["ops"]]
        if len(ops_p) != len(compose.ops):
            raise TransformError(f"params hold {len(ops_p)} ops, the pipeline has {len(compose.ops)}")
        ops_params.append(ops_p)
    if ctx0s is None:
        ctx0s = [compose._describe(s) for s in samples]
    for s, c in zip(samples, ctx0s, strict=True):
        for name in (*compose.image_keys, *compose.label_keys):
            if name in s and name != compose.image_keys[0] and array_shape(s[name])[1:] != c.shape:
                raise TransformError(
                    f"Compose: sample[{name!r}] has spatial shape {array_shape(s[name])[1:]}, "
                    f"the image has {c.shape} (arrays must share one voxel grid, channel-first)"
                )
    if walks is None:
        table: list[list[Params | None]] = [list(p) for p in ops_params]
        walks = [_walk_group(compose, rows, ctx0s, table, None) for rows in _groups(ctx0s)]
    spatial: list[SpatialMap | None] = [None] * len(samples)
    pads: list[tuple[str, float]] = [(compose.pad_mode, compose.pad_value)] * len(samples)
    dense = [False] * len(samples)  # the sample reads its whole source box: no footprint to make
    for walk in walks:
        d = walk.ctxs[0].ndim
        fields = _fields(compose, walk, ops_params)
        mats = _lifted(walk.matrices, d)
        dense_rows = _dense(mats).tolist()
        for j, (i, ctx) in enumerate(zip(walk.rows, walk.ctxs, strict=True)):
            grid, grid_inv = fields[j] if fields[j] is not None else (None, (0.0, 0.0, 0.0))  # type: ignore[misc]
            dense[i] = grid is None and dense_rows[j]
            spatial[i] = SpatialMap(
                matrix=mats[j],
                out_shape=(1, *ctx.shape) if d == 2 else tuple(ctx.shape),  # type: ignore[arg-type]
                out_spacing=(1.0, *ctx.spacing) if d == 2 else tuple(ctx.spacing),  # type: ignore[arg-type]
                grid=grid,
                grid_inv=grid_inv,
            )
            pads[i] = walk.pad
    # The spatial sampling of each array; lazy samples get their source box (one vectorized call).
    names: list[tuple[list[str], list[str]]] = []
    lazy: list[list[str]] = []
    keys: list[tuple[int, int]] = []
    key_of: dict[tuple[int, int], tuple[int, int]] = {}  # (seed, epoch) -> Philox key, checked once
    image_keys, label_keys, label_pad = compose.image_keys, compose.label_keys, compose.label_pad_value
    for s, p in zip(samples, params, strict=True):
        seed, epoch, index = int(p["seed"]), int(p["epoch"]), int(p["index"])
        key = key_of.get((seed, epoch))
        if key is None or not 0 <= index < 2**32:
            key = key_of[(seed, epoch)] = KeyedRNG(seed, epoch, index).key
        keys.append(key)
        image_names = [n for n in image_keys if n in s]
        label_names = [n for n in label_keys if n in s]
        names.append((image_names, label_names))
        lazy.append([n for n in (*image_names, *label_names) if is_lazy(s[n])])
    label_plans: list[list[ArrayPlan]] = [
        [ArrayPlan(n, "nearest", "constant", label_pad, _EMPTY, (), "same") for n in names[i][1]]
        for i in range(len(samples))
    ]
    with_lazy = [i for i in range(len(samples)) if lazy[i]]
    box_of: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    plan_of: dict[int, SamplePlan] = {}
    if with_lazy:
        sampling = [
            (
                *(ArrayPlan(n, "linear", *pads[i], _EMPTY) for n in names[i][0]),  # type: ignore[arg-type]
                *label_plans[i],
            )
            for i in with_lazy
        ]
        box_plans = [
            SamplePlan(spatial[i], arrays, keys[i], int(params[i]["index"]), ctx0s[i].ndim)  # type: ignore[arg-type]
            for i, arrays in zip(with_lazy, sampling, strict=True)
        ]
        boxes = source_bboxes(box_plans, [ctx0s[i].shape for i in with_lazy])
        box_of = dict(zip(with_lazy, boxes, strict=True))
        plan_of = dict(zip(with_lazy, box_plans, strict=True))
    # The op specs travel with the plan so a backend can refuse a pipeline it cannot run
    # whether or not this sample's draw applied the op (DALI: no elastic, ...).
    notes: dict[str, object] = {"ops": compose.ops}
    out: list[tuple[SamplePlan, dict[str, Any]]] = []
    for i, s in enumerate(samples):
        ctx0, d = ctx0s[i], ctx0s[i].ndim
        index = int(params[i]["index"])
        windows: dict[str, Window] = {}
        reader = WindowReader(s, (), ())
        if i in box_of:
            lo, hi = box_of[i]
            # The footprint is made only if it can narrow the read and a volume reads with it (~0.2 ms per sample).
            footprint = None if dense[i] else functools.partial(SourceFootprint, plan_of[i], ctx0.shape)
            reader = WindowReader(s, lo, hi, footprint)
            vol3 = (1, *ctx0.shape) if d == 2 else tuple(ctx0.shape)
            origin3 = (0, *lo) if d == 2 else tuple(lo)
            windows = {n: Window(origin3, vol3) for n in lazy[i]}  # type: ignore[arg-type]
        image_names, label_names = names[i]
        pad_mode, pad_value = pads[i]
        arrays: list[ArrayPlan] = []
        for name in image_names:
            program, passes = build_intensity(
                lay.intensity,
                s,
                name,
                ops_params[i],
                keys[i],
                index,
                ctx0.channels,
                reader,
                image_key=image_keys[0],
                stats_voxels=compose.stats_voxels,
            )
            arrays.append(ArrayPlan(name, "linear", pad_mode, pad_value, program, passes, compose.dtype))  # type: ignore[arg-type]
        for name in label_names:
            check_label_pad(label_pad, name, s[name])
        arrays += label_plans[i]
        plan = SamplePlan(spatial[i], tuple(arrays), keys[i], index, d, dict(notes), windows)  # type: ignore[arg-type]
        out.append((plan, {n: reader.read(n) for n in lazy[i]} if read else {}))
    return out
