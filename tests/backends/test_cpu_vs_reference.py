"""The fast ``cpu`` backend against ``cpu-reference`` (the GPU's per-voxel code), bit for bit.

The row-wise CPU kernel calls the same ``FM_HD`` functions of ``csrc/include/fastmed`` the
reference (and the CUDA kernel) runs voxel by voxel, in the same order, without FMA; its
shortcuts (AVX2 gathers, SIMD Philox, the strided copy of integer permutation maps) give
the same values. So every output must equal the reference's bit for bit, over many seeds,
every registered op, 2D and 3D, every source dtype and output dtype. The one stated
exception (``docs/backends.md``): on an integer permutation map (crop, flip, rot90) the
copy path returns the source voxel itself, where the per-voxel interpolation computes
``a + 0 * (b - a)``; the two differ only for non-finite sources and for ``-0.0`` (in the
source or as the padding value; ``test_copy_path_exception``), so the property tests draw
finite sources and padding values other than -0.0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed.transforms as T
from fastmed.backends import get_backend
from fastmed.transforms.base import registered_ops
from fastmed.transforms.plan import (
    OP_AFFINE,
    OP_BIAS_FIELD,
    OP_CLIP,
    OP_GAMMA,
    OP_NOISE,
    ArrayPlan,
    IntensityProgram,
    ProgramOp,
    SamplePlan,
    SpatialMap,
    Window,
)
from fastmed.transforms.schema import opcode
from tests.transforms import _custom_fns

MODES = ["constant", "edge", "reflect"]
SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]
EMPTY = IntensityProgram.build([])

Draw = Any  # hypothesis' DataObject
Builder = Callable[[Draw, int], T.Op]


def _f(data: Draw, lo: float, hi: float) -> float:
    """A finite float32 value in [lo, hi], never -0.0 (the copy path's stated exception)."""
    return float(np.float32(data.draw(st.floats(lo, hi, allow_nan=False, allow_infinity=False)))) + 0.0


def _rng(data: Draw, lo: float, hi: float) -> tuple[float, float]:
    """lo <= a < b <= hi."""
    a = _f(data, lo, lo + 0.6 * (hi - lo))
    return (a, _f(data, a + 0.1 * (hi - lo), hi))


def _spacing(data: Draw, ndim: int) -> tuple[float, ...]:
    return tuple(_f(data, 0.7, 1.6) for _ in range(ndim))


# One builder per registered op: (draw, ndim) -> a configured op. A new op without an
# entry fails test_every_registered_op_has_a_builder.
BUILDERS: dict[str, Builder] = {
    "CenterCrop": lambda d, n: T.CenterCrop(
        tuple(d.draw(st.integers(3, 12)) for _ in range(n)), d.draw(st.sampled_from(MODES)), _f(d, -5, 5)
    ),
    "Clip": lambda d, n: T.Clip(*_rng(d, -900, 900)),
    "Letterbox": lambda d, n: T.Letterbox(tuple(d.draw(st.integers(3, 12)) for _ in range(n)), _f(d, -5, 5)),
    "Normalize": lambda d, n: d.draw(
        st.sampled_from([T.Normalize(), T.Normalize(stats="patch"), T.Normalize(mean=12.0, std=250.0)])
    ),
    "PatchOp": lambda d, n: d.draw(st.sampled_from([_custom_fns.speckle(), _custom_fns.reverse_rows()])),
    "RandomAffine": lambda d, n: T.RandomAffine(
        degrees=_f(d, 0, 40), scale=_rng(d, 0.7, 1.3), shear=_f(d, 0, 0.1), translate=_f(d, 0, 4), p=0.9
    ),
    "RandomBiasField": lambda d, n: T.RandomBiasField(
        coefficients=_f(d, 0.01, 0.8), order=d.draw(st.integers(0, 5)), p=0.9
    ),
    "RandomBrightness": lambda d, n: d.draw(
        st.sampled_from([T.RandomBrightness(delta=0.2), T.RandomBrightness(delta=(0.8, 1.2), mode="mul")])
    ),
    "RandomContrast": lambda d, n: T.RandomContrast(factor=_rng(d, 0.5, 1.5)),
    "RandomCrop": lambda d, n: T.RandomCrop(
        tuple(d.draw(st.integers(2, 11)) for _ in range(n)), d.draw(st.sampled_from(MODES)), _f(d, -5, 5)
    ),
    "RandomElastic": lambda d, n: T.RandomElastic(magnitude=_rng(d, 0.0, 4.0), grid_spacing=_f(d, 2.0, 9.0)),
    "RandomFlip": lambda d, n: T.RandomFlip(p=_f(d, 0.3, 1.0)),
    "RandomGamma": lambda d, n: T.RandomGamma(gamma=_rng(d, 0.4, 2.0), invert=d.draw(st.booleans())),
    "RandomGaussianBlur": lambda d, n: T.RandomGaussianBlur(sigma=_rng(d, 0.3, 1.5)),
    "RandomGaussianNoise": lambda d, n: T.RandomGaussianNoise(std=_rng(d, 0.0, 50.0)),
    "RandomHistogramShift": lambda d, n: T.RandomHistogramShift(num_control_points=d.draw(st.integers(3, 12))),
    "RandomLowRes": lambda d, n: T.RandomLowRes(zoom=_rng(d, 0.4, 1.0)),
    "RandomRot90": lambda d, n: T.RandomRot90(p=_f(d, 0.3, 1.0)),
    "Resample": lambda d, n: T.Resample(_spacing(d, n)),
    "ScaleIntensity": lambda d, n: d.draw(
        st.sampled_from([T.ScaleIntensity(), T.ScaleIntensity(out_range=(-1.0, 1.0), in_range=(-500.0, 700.0))])
    ),
    "VoxelOp": lambda d, n: _custom_fns.quantize(),
    "Window": lambda d, n: T.Window(*_rng(d, -1000, 1000)),
}
SOURCE_DTYPES = [np.int16, np.uint16, np.uint8, np.int32, np.float32]


def _source(data: Draw, ndim: int) -> dict[str, np.ndarray]:
    """A finite image of a drawn dtype (1-2 channels) and a uint8 label."""
    shape = tuple(data.draw(st.integers(4, 15)) for _ in range(ndim))
    channels = data.draw(st.integers(1, 2))
    dtype = data.draw(st.sampled_from(SOURCE_DTYPES))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    if dtype == np.float32:
        img = (rng.normal(size=(channels, *shape)) * 300.0).astype(np.float32)
    else:
        info = np.iinfo(dtype)
        img = rng.integers(max(info.min, -1000), min(info.max, 2000), (channels, *shape)).astype(dtype)
    label = rng.integers(0, 4, (1, *shape)).astype(np.uint8)
    return {"image": img, "label": label}


def _bits(a: Any) -> np.ndarray:
    """The raw bits of a numpy array or torch tensor (so NaN, -0.0 and payloads count)."""
    if not isinstance(a, np.ndarray):
        import torch

        a = a.view(torch.int16).numpy() if a.dtype == torch.bfloat16 else a.numpy()
    a = np.ascontiguousarray(a)
    return a.view(f"u{a.dtype.itemsize}")


def _assert_same_bits(got: dict[str, Any], want: dict[str, Any]) -> None:
    arrays = [k for k, v in want.items() if hasattr(v, "dtype") and hasattr(v, "shape")]
    assert arrays and set(arrays) <= set(got)
    for k in arrays:
        a, b = _bits(got[k]), _bits(want[k])
        assert a.shape == b.shape, k
        bad = np.flatnonzero(a != b)
        assert bad.size == 0, f"{k}: {bad.size} of {a.size} voxels differ, first at {bad[:5]}"


def _pipeline(data: Draw, name: str, ndim: int) -> list[T.Op]:
    """The op under test among 0-4 others, after a crop (and a resample before it)."""
    others = data.draw(st.lists(st.sampled_from(sorted(BUILDERS)), max_size=4))
    names = [name, *others]
    if names.count("RandomElastic") > 1:  # one displacement field per pipeline
        names = [n for n in names if n != "RandomElastic"] + ["RandomElastic"]
    ops = [BUILDERS[n](data, ndim) for n in data.draw(st.permutations(names))]
    head: list[T.Op] = [BUILDERS["Resample"](data, ndim)] if data.draw(st.booleans()) else []
    head.append(BUILDERS[data.draw(st.sampled_from(["RandomCrop", "CenterCrop"]))](data, ndim))
    return head + ops


def test_every_registered_op_has_a_builder() -> None:
    assert set(registered_ops()) == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
@settings(max_examples=25, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_op_matches_reference_bit_for_bit(name: str, data: Draw) -> None:
    ndim = data.draw(st.sampled_from([2, 3]))
    sample = _source(data, ndim)
    ops = _pipeline(data, name, ndim)
    dtype = data.draw(st.sampled_from(["float32", "float16", "bfloat16"]))
    pad = data.draw(st.sampled_from(MODES))
    seed, index, epoch = (
        data.draw(st.integers(0, 2**31)),
        data.draw(st.integers(0, 10**6)),
        data.draw(st.integers(0, 3)),
    )
    threads = data.draw(st.sampled_from([1, 2]))
    fast = T.Compose(ops, dtype=dtype, pad_mode=pad, threads=threads)(sample, seed=seed, index=index, epoch=epoch)
    ref = T.Compose(ops, dtype=dtype, pad_mode=pad, device="cpu-reference", threads=threads)(
        sample, seed=seed, index=index, epoch=epoch
    )
    _assert_same_bits(fast, ref)


def _matrix(data: Draw, shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Integer permutations (the copy path) or general maps, some reaching far outside."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    m = np.eye(4)
    if data.draw(st.booleans()):  # column k: output axis k walks source axis perm[k], either way
        m[:3, :3] = np.eye(3)[:, rng.permutation(3)] * rng.choice([-1.0, 1.0], 3)
        m[:3, 3] = rng.integers(-4, np.asarray(shape) + 4)
        return m
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    lin = q @ np.diag(rng.uniform(0.3, 1.6, 3))
    centre = (np.asarray(shape) - 1) / 2 + rng.uniform(-1.5, 1.5, 3) * np.asarray(shape)
    m[:3, :3] = lin
    m[:3, 3] = centre - lin @ ((np.asarray(out_shape) - 1) / 2)
    return m


def _program(data: Draw, channels: int) -> IntensityProgram:
    """Every opcode with drawn parameters, including degenerate ones (empty gamma span, lo > hi clip)."""
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    shift = opcode("histogram_shift")
    instrs = []
    for stream, code in enumerate(data.draw(st.lists(st.sampled_from([1, 2, 3, 4, 5, 6]), max_size=7))):
        ch = data.draw(st.integers(-1, channels - 1))
        if code == OP_CLIP:
            p: tuple[float, ...] = tuple(rng.uniform(-600, 600, 2))
        elif code == OP_AFFINE:
            p = (rng.uniform(-2, 2), rng.uniform(-50, 50))
        elif code == OP_GAMMA:
            lo = rng.uniform(-500, 0)
            p = (
                lo,
                lo + rng.choice([rng.uniform(1, 900), 0.0, -5.0]),
                rng.uniform(0.3, 2.5),
                float(rng.integers(0, 2)),
            )
        elif code == OP_NOISE:
            p = (rng.uniform(0, 30),)
        elif code == OP_BIAS_FIELD:
            order = int(rng.integers(0, 9))
            p = (float(order), *rng.uniform(-0.3, 0.3, (order + 1) * (order + 2) * (order + 3) // 6))
        else:
            assert code == shift
            n = int(rng.integers(2, 17))
            xs = np.sort(rng.uniform(-800, 800, n))
            p = (float(n), *xs, *np.sort(rng.uniform(-800, 800, n)))
        instrs.append(ProgramOp(code, p, ch, stream))
    return IntensityProgram.build(instrs)


@settings(max_examples=300, deadline=None, suppress_health_check=SLOW)
@given(data=st.data())
def test_raw_plans_match_reference_bit_for_bit(data: Draw) -> None:
    """Plans straight to the kernels: any map, elastic grid, window, pad mode and program."""
    shape = tuple(data.draw(st.integers(1 if k == 0 else 2, 13)) for k in range(3))
    out_shape = tuple(data.draw(st.integers(1, 17)) for _ in range(3))
    sample = _source(data, 3)
    sample["image"] = sample["image"][:, : shape[0], : shape[1], : shape[2]]
    sample["label"] = sample["label"][:, : shape[0], : shape[1], : shape[2]]
    shape = sample["image"].shape[1:]
    m = _matrix(data, shape, out_shape)
    grid = None
    ginv: tuple[float, ...] = (0.0, 0.0, 0.0)
    if data.draw(st.booleans()):
        rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
        gshape = tuple(data.draw(st.integers(4, 7)) for _ in range(3))
        grid = (rng.normal(size=(3, *gshape)) * _f(data, 0.1, 4.0)).astype(np.float32)
        ginv = tuple(float((g - 3) / max(n - 1, 1)) for g, n in zip(gshape, out_shape, strict=True))
    c = sample["image"].shape[0]
    out_dtype = data.draw(st.sampled_from(["float32", "float16", "bfloat16"]))
    arrays = (
        ArrayPlan(
            "image",
            data.draw(st.sampled_from(["linear", "nearest"])),
            data.draw(st.sampled_from(MODES)),
            _f(data, -9, 9),
            _program(data, c),
            out_dtype=out_dtype,
        ),
        ArrayPlan("label", "nearest", data.draw(st.sampled_from(MODES)), 0.0, EMPTY, out_dtype="same"),
    )
    spatial = SpatialMap(m, out_shape, (1.0, 1.0, 1.0), grid, ginv)  # type: ignore[arg-type]
    key = (data.draw(st.integers(0, 2**32 - 1)), data.draw(st.integers(0, 2**32 - 1)))
    plan = SamplePlan(spatial, arrays, key, data.draw(st.integers(0, 2**31)))
    if data.draw(st.booleans()):  # run on a window holding the footprint
        lo, hi = plan.source_bbox(shape)
        win = Window(tuple(lo), tuple(shape))  # type: ignore[arg-type]
        box = (slice(None), *(slice(a, b) for a, b in zip(lo, hi, strict=True)))
        plan = SamplePlan(spatial, arrays, key, plan.index, plan.ndim, windows={k: win for k in sample})
        sample = {k: v[box] for k, v in sample.items()}
    threads = data.draw(st.sampled_from([1, 2]))
    fast = get_backend("cpu").run([plan], [sample], threads)[0]
    ref = get_backend("cpu-reference").run([plan], [sample], threads)[0]
    _assert_same_bits(fast, ref)


@pytest.mark.parametrize("ndim", [2, 3])
def test_copy_path_exception(ndim: int) -> None:
    """Crops keep non-finite and -0.0 source voxels exactly; the per-voxel reference does not.

    The copy path's oracle is numpy slicing. The reference interpolates with zero weights
    (``a + 0 * (b - a)``), exact wherever the voxel and its upper neighbours are finite and
    the voxel is not -0.0: there the two backends agree bit for bit, elsewhere only cpu is exact.
    """
    rng = np.random.default_rng(ndim)
    shape = (9, 10, 11)[-ndim:]
    src = rng.normal(size=(1, *shape)).astype(np.float32)
    for v in (np.inf, -np.inf, np.nan, -0.0):
        src.reshape(-1)[rng.choice(src.size, 4, replace=False)] = v
    aug = T.Compose([T.RandomCrop((6,) * ndim)])
    fast = aug({"image": src}, seed=1, index=2)["image"]
    ref = T.Compose([T.RandomCrop((6,) * ndim)], device="cpu-reference")({"image": src}, seed=1, index=2)["image"]
    start = aug.sample_params({"image": src}, seed=1, index=2)["ops"][0]["params"]["start"]
    box = (slice(None), *(slice(int(s), int(s) + 6) for s in start))
    np.testing.assert_array_equal(_bits(fast), _bits(src[box]))
    # Where the reference is exact: every upper neighbour (edge-clamped) finite, the voxel not -0.0.
    padded = np.pad(src[0], [(0, 1)] * ndim, mode="edge")
    ok = np.ones(src.shape[1:], bool)
    for offs in np.ndindex(*(2,) * ndim):
        ok &= np.isfinite(padded[tuple(slice(o, o + n) for o, n in zip(offs, shape, strict=True))])
    ok &= ~((src[0] == 0) & np.signbit(src[0]))
    sel = ok[box[1:]]
    assert sel.any() and not sel.all()
    np.testing.assert_array_equal(_bits(ref)[0][sel], _bits(fast)[0][sel])
