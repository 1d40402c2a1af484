"""The batch planner against the per-sample draws and maps it replaces, bit for bit.

Oracles: :class:`fastmed.rng.KeyedRNG` (one stream at a time) for :class:`fastmed.rng.BatchRNG`;
each op's own ``sample_params`` / ``step`` / ``displacement`` for its vectorized ``draw_batch`` /
``steps`` / ``displacements``; the per-sample walk Compose made before the batch planner
(``_reference``: ``sample_params`` op by op, the maps multiplied one by one) for whole plans; and
``Compose.plan`` sample by sample for ``Compose.plan_batch``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmed.transforms as T
from fastmed.rng import BatchRNG, KeyedRNG
from fastmed.transforms._geometry import lift_to_3d, snap
from fastmed.transforms.base import Context, Op, SpatialOp, registered_ops
from fastmed.transforms.params import to_json
from fastmed.transforms.plan import ProgramPass, SamplePlan
from fastmed.transforms.presets import preset
from tests.transforms import _custom_fns

SEEDS = st.integers(0, 2**64 - 1)
INDEX = st.integers(0, 2**32 - 1)
EPOCH = st.integers(0, 2**40)


# ---- BatchRNG against KeyedRNG -------------------------------------------------------------

DRAWS = st.lists(
    st.sampled_from(["words1", "words7", "random", "random5", "uniform", "normal", "normal_odd", "int", "bern"]),
    min_size=1,
    max_size=8,
)


def _draw(rng: Any, kind: str, rows: int) -> npt.NDArray[Any]:
    """One draw of ``kind``; a KeyedRNG's result is shaped as one row of a BatchRNG's."""
    keyed = isinstance(rng, KeyedRNG)
    if kind == "words1":
        return np.asarray(rng.words(1))
    if kind == "words7":
        return np.asarray(rng.words(7))
    if kind == "random":
        return np.asarray(rng.random() if keyed else rng.random())
    if kind == "random5":
        return np.asarray(rng.random(5))
    if kind == "uniform":
        return np.asarray(rng.uniform(-3.5, 11.25))
    if kind == "normal":
        return np.asarray(rng.normal(0.5, 2.0, size=(2, 3, 3)))
    if kind == "normal_odd":
        return np.asarray(rng.normal(size=7))
    if kind == "int":
        return np.asarray(rng.integers(-5, 17) if keyed else rng.integers(np.full(rows, -5), np.full(rows, 17)))
    return np.asarray(rng.bernoulli(0.3))


@settings(max_examples=40, deadline=None)
@given(SEEDS, EPOCH, st.lists(INDEX, min_size=1, max_size=5), st.integers(0, 2**31 - 1), DRAWS, st.booleans())
def test_batch_rng_rows_equal_keyed_streams(
    seed: int, epoch: int, indices: list[int], stream: int, draws: list[str], prefetch: bool
) -> None:
    batch = (
        BatchRNG.streams(seed, epoch, indices, [stream], prefetch=8)[0]
        if prefetch
        else BatchRNG(seed, epoch, indices, stream)
    )
    keyed = [KeyedRNG(seed, epoch, i, stream) for i in indices]
    for kind in draws:
        got = _draw(batch, kind, len(indices))
        want = np.stack([_draw(k, kind, 1) for k in keyed])
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, strict=True)
    assert batch.words_used == keyed[0].words_used
    row = batch.row(len(indices) - 1)
    assert row.words(3).tolist() == keyed[-1].words(3).tolist()


def test_batch_rng_per_row_bounds() -> None:
    rng = BatchRNG(3, 1, [4, 5, 6], 2)
    lo, hi = np.array([0, -4, 10]), np.array([1, 4, 30])
    got = rng.integers(lo, hi)
    want = [KeyedRNG(3, 1, i, 2).integers(int(a), int(b)) for i, a, b in zip([4, 5, 6], lo, hi, strict=True)]
    assert got.tolist() == want
    with pytest.raises(ValueError):
        BatchRNG(0, 0, [2**32])


# ---- every registered op: draw_batch == sample_params ---------------------------------------


def _registry_ops() -> dict[str, list[Op]]:
    """Instances of every registered op (defaults and a non-default variant where it matters)."""
    ops: dict[str, list[Op]] = {
        "CenterCrop": [T.CenterCrop((5, 9, 7))],
        "Clip": [T.Clip(-1.0, 2.0)],
        "Letterbox": [T.Letterbox((30, 18, 40))],
        "Normalize": [T.Normalize()],
        "PatchOp": [_custom_fns.speckle(), _custom_fns.reverse_rows(p=0.5)],
        "VoxelOp": [_custom_fns.signed_power(), _custom_fns.quantize(p=0.5)],
        "RandomAffine": [
            T.RandomAffine(degrees=15.0, scale=(0.85, 1.15)),
            T.RandomAffine(degrees=(5, (0, 30), 3), scale=(0.5, 2.0), isotropic=False, shear=0.2, translate=4, p=0.5),
        ],
        "RandomBiasField": [T.RandomBiasField(), T.RandomBiasField(order=1, p=0.3)],
        "RandomBrightness": [T.RandomBrightness(), T.RandomBrightness(delta=(0.9, 1.1), mode="mul", p=0.4)],
        "RandomContrast": [T.RandomContrast(p=0.6)],
        "RandomCrop": [T.RandomCrop((6, 12, 9)), T.RandomCrop((40, 3, 50))],
        "RandomElastic": [T.RandomElastic(), T.RandomElastic(magnitude=3.0, grid_spacing=4.0, p=0.5)],
        "RandomFlip": [T.RandomFlip(), T.RandomFlip(axes=(2, 0, 2), p=0.7)],
        "RandomGamma": [T.RandomGamma(p=0.5)],
        "RandomGaussianBlur": [T.RandomGaussianBlur(), T.RandomGaussianBlur(isotropic=False, p=0.5)],
        "RandomGaussianNoise": [T.RandomGaussianNoise(p=0.5)],
        "RandomHistogramShift": [T.RandomHistogramShift()],
        "RandomLowRes": [T.RandomLowRes(p=0.5)],
        "RandomRot90": [T.RandomRot90()],
        "Resample": [T.Resample((1.5, 0.7, 2.0))],
        "ScaleIntensity": [T.ScaleIntensity()],
        "Window": [T.Window(-100.0, 300.0)],
    }
    return ops


def test_the_op_table_covers_the_registry() -> None:
    assert sorted(_registry_ops()) == sorted(registered_ops())


def _same(a: Any, b: Any) -> bool:
    """Deep equality with types: numpy arrays by dtype, shape and bits; floats by bits."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and np.array_equal(a, b)
        )
    if type(a) is not type(b):
        return False
    if isinstance(a, Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return bool(a == b)


CTXS = [
    Context(3, (20, 16, 24), (1.0, 0.8, 2.5), 1, (12, 10, 9), (1.0, 0.8, 2.5)),
    Context(3, (7, 30, 11), (0.5, 0.5, 0.5), 2, (7, 30, 11), (0.5, 0.5, 0.5)),
    Context(3, (20, 16, 24), (1.0, 0.8, 2.5), 1, (12, 10, 9), (1.0, 0.8, 2.5)),
]
CTXS_2D = [Context(2, (40, 33), (0.2, 0.3), 1, (40, 33), (0.2, 0.3)), Context(2, (9, 50), (1.0, 1.0), 3)]


@pytest.mark.parametrize("name", sorted(registered_ops()))
@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, epoch=EPOCH, indices=st.lists(INDEX, min_size=1, max_size=3), stream=st.integers(0, 20))
def test_draw_batch_equals_sample_params(name: str, seed: int, epoch: int, indices: list[int], stream: int) -> None:
    for op in _registry_ops()[name]:
        for pool in (CTXS, CTXS_2D):
            if name in ("CenterCrop", "RandomCrop", "Resample", "Letterbox") and pool is CTXS_2D:
                continue  # 3-axis sizes and spacings
            if name == "RandomFlip" and pool is CTXS_2D and op.axes is not None:  # type: ignore[attr-defined]
                continue
            ctxs = [pool[i % len(pool)] for i in range(len(indices))]
            got = op.draw_batch(BatchRNG.streams(seed, epoch, indices, [stream])[0], ctxs)
            want = [op.sample_params(KeyedRNG(seed, epoch, i, stream), c) for i, c in zip(indices, ctxs, strict=True)]
            assert _same(got, want), f"{op!r}: {got!r} != {want!r}"


@pytest.mark.parametrize(
    "op",
    [
        T.RandomCrop((6, 12, 9)),
        T.CenterCrop((5, 40, 7)),
        T.RandomFlip(),
        T.RandomAffine(degrees=(5, (0, 30), 3), scale=(0.5, 2.0), isotropic=False, shear=0.2, translate=4),
        T.RandomAffine(degrees=15.0, scale=(0.85, 1.15), p=0.5),
        T.RandomRot90(),
        T.Resample((1.5, 0.7, 2.0)),
        T.Letterbox((30, 18, 40)),
        T.RandomElastic(),
    ],
    ids=repr,
)
@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, indices=st.lists(INDEX, min_size=1, max_size=4))
def test_steps_equal_step(op: SpatialOp, seed: int, indices: list[int]) -> None:
    pools = [CTXS] + ([CTXS_2D] if isinstance(op, T.RandomFlip | T.RandomAffine | T.RandomRot90) else [])
    for pool in pools:
        ctxs = [pool[i % len(pool)] for i in range(len(indices))]
        params = op.draw_batch(BatchRNG(seed, 0, indices, 1), ctxs)
        got = op.steps(params, ctxs)
        for k, (p, c) in enumerate(zip(params, ctxs, strict=True)):
            want = op.step(p, c)
            np.testing.assert_array_equal(got.matrices[k], want.matrix, strict=True)
            assert got.out_shapes[k] == tuple(want.out_shape)
            assert got.out_spacings[k] == tuple(want.out_spacing)


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, indices=st.lists(INDEX, min_size=1, max_size=4), p=st.sampled_from([1.0, 0.5]))
def test_elastic_displacements_equal_displacement(seed: int, indices: list[int], p: float) -> None:
    op = T.RandomElastic(grid_spacing=6.0, p=p)
    for pool in (CTXS, CTXS_2D):
        ctxs = [pool[i % len(pool)] for i in range(len(indices))]
        finals = [Context(c.ndim, c.out_shape or c.shape, c.out_spacing or c.spacing, c.channels) for c in ctxs]
        params = op.draw_batch(BatchRNG(seed, 0, indices, 3), ctxs)
        d = ctxs[0].ndim
        mats = np.random.default_rng(seed % 1000).normal(size=(len(indices), d + 1, d + 1))
        got = op.displacements(params, mats, finals)
        for k, (prm, c) in enumerate(zip(params, finals, strict=True)):
            want = op.displacement(prm, mats[k], c)
            assert (got[k] is None) == (want is None)
            if want is not None and got[k] is not None:
                assert got[k][1] == want[1]  # type: ignore[index]
                np.testing.assert_array_equal(got[k][0], want[0], strict=True)  # type: ignore[index]


# ---- whole plans ----------------------------------------------------------------------------


class _Lazy:
    """A lazy volume with supplied statistics (planning never reads it)."""

    def __init__(self, shape: tuple[int, ...], spacing: tuple[float, ...]):
        self.shape, self.spacing, self.dtype = shape, spacing, np.dtype(np.int16)
        self.stats = {"p0_5": -900.0, "p99_5": 900.0, "mean": 10.0, "std": 300.0, "min": -1000.0, "max": 1200.0}

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[np.int16]:
        return np.zeros(tuple(b - a for a, b in zip(lo, hi, strict=True)), np.int16)


def _samples(kind: str, n: int) -> list[dict[str, Any]]:
    shapes = [(40, 52, 36), (30, 30, 64), (50, 20, 44)]
    spacings = [(1.0, 0.8, 0.8), (2.0, 1.0, 1.0), (1.2, 1.5, 0.9)]
    out: list[dict[str, Any]] = []
    for k in range(n):
        shape, sp = shapes[k % 3], spacings[k % 3]
        if kind == "lazy":
            out.append({"image": _Lazy(shape, sp), "label": _Lazy(shape, sp)})
        elif kind == "2d":
            out.append({"image": np.zeros((1, *shape[1:]), np.int16), "spacing": sp[1:]})
        else:
            img = np.random.default_rng(k).integers(-1000, 1000, (1, *shape)).astype(np.int16)
            out.append({"image": img, "label": (img > 0).astype(np.uint8), "spacing": sp})
    return out


def _pipelines() -> dict[str, T.Compose]:
    return {
        "r3d": preset("r3d", patch=(24, 20, 28)),
        "ct-default": preset("ct-default", patch=(16, 16, 16)),
        "mixed": T.Compose(
            [
                T.RandomRot90(),
                T.RandomCrop((20, 18, 24), pad_mode="reflect"),
                T.RandomElastic(magnitude=(1.0, 3.0), grid_spacing=8.0, p=0.6),
                T.RandomAffine(degrees=(5, 10, 20), scale=(0.9, 1.2), isotropic=False, shear=0.1, translate=3, p=0.7),
                T.RandomFlip(p=0.4),
                T.Normalize(),
                T.RandomContrast(p=0.5),
                T.RandomGaussianBlur(p=0.3),
                T.RandomBiasField(order=2, p=0.5),
                T.RandomGaussianNoise(),
            ]
        ),
    }


def _same_plan(a: SamplePlan, b: SamplePlan) -> None:
    sa, sb = a.spatial, b.spatial
    np.testing.assert_array_equal(sa.matrix, sb.matrix, strict=True)
    assert (sa.out_shape, sa.out_spacing, sa.grid_inv) == (sb.out_shape, sb.out_spacing, sb.grid_inv)
    assert (sa.grid is None) == (sb.grid is None)
    if sa.grid is not None and sb.grid is not None:
        np.testing.assert_array_equal(sa.grid, sb.grid, strict=True)
    assert (a.key, a.index, a.ndim, a.windows) == (b.key, b.index, b.ndim, b.windows)
    assert a.notes["ops"] == b.notes["ops"]
    assert len(a.arrays) == len(b.arrays)
    for x, y in zip(a.arrays, b.arrays, strict=True):
        assert (x.key, x.interp, x.pad_mode, x.pad_value, x.out_dtype) == (
            y.key,
            y.interp,
            y.pad_mode,
            y.pad_value,
            y.out_dtype,
        )
        np.testing.assert_array_equal(x.program.ops, y.program.ops, strict=True)
        np.testing.assert_array_equal(x.program.params, y.program.params, strict=True)
        assert [type(p) for p in x.passes] == [type(p) for p in y.passes]
        for p, q in zip(x.passes, y.passes, strict=True):
            if isinstance(p, ProgramPass) and isinstance(q, ProgramPass):
                np.testing.assert_array_equal(p.program.params, q.program.params, strict=True)
            else:
                assert p == q


@pytest.mark.parametrize("pipeline", ["r3d", "ct-default", "mixed"])
@pytest.mark.parametrize("kind", ["array", "lazy"])
@settings(max_examples=8, deadline=None)
@given(seed=SEEDS, epoch=EPOCH, indices=st.lists(INDEX, min_size=1, max_size=5))
def test_plan_batch_equals_plan_of_each(pipeline: str, kind: str, seed: int, epoch: int, indices: list[int]) -> None:
    aug = _pipelines()[pipeline]
    samples = _samples(kind, len(indices))
    plans = aug.plan_batch(samples, seed=seed, indices=indices, epoch=epoch)
    for plan, s, i in zip(plans, samples, indices, strict=True):
        _same_plan(plan, aug.plan(s, seed=seed, index=i, epoch=epoch))


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, indices=st.lists(INDEX, min_size=1, max_size=4))
def test_plan_batch_mixes_2d_and_3d_samples(seed: int, indices: list[int]) -> None:
    aug = T.Compose([T.RandomFlip(), T.RandomAffine(degrees=10.0), T.RandomElastic(grid_spacing=8.0), T.RandomGamma()])
    samples = [s for pair in zip(_samples("2d", 4), _samples("array", 4), strict=True) for s in pair][: len(indices)]
    plans = aug.plan_batch(samples, seed=seed, indices=indices)
    for plan, s, i in zip(plans, samples, indices, strict=True):
        _same_plan(plan, aug.plan(s, seed=seed, index=i))


@settings(max_examples=10, deadline=None)
@given(seed=SEEDS, indices=st.lists(INDEX, min_size=1, max_size=4))
def test_plan_batch_letterbox_2d(seed: int, indices: list[int]) -> None:
    aug = T.Compose([T.Letterbox((32, 24)), *preset("xray2d", patch=(20, 20)).ops[1:]])
    samples = _samples("2d", len(indices))
    plans = aug.plan_batch(samples, seed=seed, indices=indices)
    for plan, s, i in zip(plans, samples, indices, strict=True):
        _same_plan(plan, aug.plan(s, seed=seed, index=i))


def _reference(aug: T.Compose, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> Any:
    """Params, fused matrix and elastic field as Compose made them one sample at a time before the batch planner."""
    ctx0 = aug._describe(sample)
    ctx, m = ctx0, np.eye(ctx0.ndim + 1)
    drawn: list[Any] = [None] * len(aug.ops)
    for k, op in enumerate(aug.ops):
        if isinstance(op, SpatialOp) and op.contributes == "matrix":
            drawn[k] = op.sample_params(KeyedRNG(seed, epoch, index, k), ctx)
            step = op.step(drawn[k], ctx)
            m = m @ step.matrix
            ctx = Context(ctx.ndim, tuple(int(n) for n in step.out_shape), tuple(step.out_spacing), ctx.channels)
    final = Context(ctx0.ndim, ctx0.shape, ctx0.spacing, ctx0.channels, ctx.shape, ctx.spacing)
    field = None
    for k, op in enumerate(aug.ops):
        if drawn[k] is None:
            drawn[k] = op.sample_params(KeyedRNG(seed, epoch, index, k), final)
        if isinstance(op, SpatialOp) and op.contributes == "displacement":
            field = op.displacement(drawn[k], m, ctx) or field
    return drawn, snap(lift_to_3d(m, ctx0.ndim)), field


@pytest.mark.parametrize("pipeline", ["r3d", "ct-default", "mixed"])
@settings(max_examples=8, deadline=None)
@given(seed=SEEDS, epoch=EPOCH, indices=st.lists(INDEX, min_size=1, max_size=4))
def test_batch_plans_equal_the_per_sample_walk(pipeline: str, seed: int, epoch: int, indices: list[int]) -> None:
    aug = _pipelines()[pipeline]
    samples = _samples("array", len(indices))
    params, plans, _ = aug._plan_batch(samples, seed, indices, epoch, read=False)
    for s, i, p, plan in zip(samples, indices, params, plans, strict=True):
        drawn, matrix, field = _reference(aug, s, seed, i, epoch)
        assert _same([e["params"] for e in p["ops"]], drawn)
        assert to_json(p) == aug.sample_params(s, seed, i, epoch)
        np.testing.assert_array_equal(plan.spatial.matrix, matrix, strict=True)
        if field is None:
            assert plan.spatial.grid is None
        else:
            assert plan.spatial.grid is not None
            np.testing.assert_array_equal(plan.spatial.grid, field[0], strict=True)
            assert plan.spatial.grid_inv == field[1]


def test_batch_outputs_equal_calls_one_by_one() -> None:
    aug = preset("r3d", patch=(24, 20, 28))
    samples = [{k: v for k, v in s.items() if k != "label"} for s in _samples("array", 3)]
    shapes = {s["image"].shape for s in samples}
    assert len(shapes) == 3
    outs = aug.batch(samples, seed=5, indices=[7, 0, 2**32 - 1], epoch=2)
    assert isinstance(outs, list)
    for o, s, i in zip(outs, samples, [7, 0, 2**32 - 1], strict=True):
        one = aug(s, seed=5, index=i, epoch=2)
        np.testing.assert_array_equal(o["image"], one["image"], strict=True)
        assert o["params"] == one["params"]


class _FixedStart(T.Compose):
    """A subclass that decides the crop start itself through the per-sample ``_draw`` hook."""

    def _draw(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        drawn = super()._draw(sample, seed, index, epoch)
        drawn["ops"][0]["params"] = {"start": [index % 3, 1, 2]}
        return drawn


def test_a_subclass_draw_hook_is_honoured_by_the_batch_planner() -> None:
    aug = _FixedStart([T.RandomCrop((8, 8, 8)), T.RandomAffine(degrees=10.0), T.RandomGamma()])
    samples = [{"image": np.zeros((1, 20, 20, 20), np.int16)} for _ in range(3)]
    plans = aug.plan_batch(samples, seed=4, indices=[0, 1, 2])
    outs = aug.batch(samples, seed=4, indices=[0, 1, 2])
    assert isinstance(outs, list)
    for k, (plan, out) in enumerate(zip(plans, outs, strict=True)):
        assert out["params"]["ops"][0]["params"]["start"] == [k, 1, 2]
        _same_plan(plan, aug.compile(samples[k], aug.sample_params(samples[k], 4, k)))
