"""Params are plain JSON data, replay bit for bit after a JSON round trip, and replayed
params are untrusted: a mutated file either replays or raises TransformError naming the
op and the field, never anything else (and never a crash)."""

from __future__ import annotations

import copy
import inspect
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed.transforms as T
from fastmed.errors import TransformError
from tests.transforms._custom_fns import signed_power, speckle

# One op of every registered kind, configured so that it applies (p = 1) and draws.
OPS: dict[str, Callable[[], T.Op]] = {
    "CenterCrop": lambda: T.CenterCrop((8, 9, 10)),
    "Clip": lambda: T.Clip(-500.0, 500.0),
    "Normalize": lambda: T.Normalize(),
    "PatchOp": lambda: speckle(p=1.0),
    "RandomAffine": lambda: T.RandomAffine(degrees=15, scale=(0.9, 1.1), shear=0.05, translate=2.0, p=1.0),
    "RandomBiasField": lambda: T.RandomBiasField(coefficients=0.3, order=2),
    "RandomBrightness": lambda: T.RandomBrightness(delta=(-0.1, 0.1)),
    "RandomContrast": lambda: T.RandomContrast(),
    "RandomCrop": lambda: T.RandomCrop((8, 9, 10)),
    "RandomElastic": lambda: T.RandomElastic(magnitude=(1.0, 3.0), grid_spacing=4.0),
    "RandomFlip": lambda: T.RandomFlip(p=0.5),
    "RandomGamma": lambda: T.RandomGamma(value_range=(-1000.0, 1000.0)),
    "RandomGaussianBlur": lambda: T.RandomGaussianBlur(sigma=(0.5, 1.0)),
    "RandomGaussianNoise": lambda: T.RandomGaussianNoise(std=(1.0, 5.0)),
    "RandomHistogramShift": lambda: T.RandomHistogramShift(num_control_points=(4, 12)),
    "RandomLowRes": lambda: T.RandomLowRes(zoom=(0.5, 0.8)),
    "RandomRot90": lambda: T.RandomRot90(p=1.0),
    "Resample": lambda: T.Resample((1.5, 1.2, 1.0)),
    "Letterbox": lambda: T.Letterbox((10, 12, 16)),
    "ScaleIntensity": lambda: T.ScaleIntensity(),
    "VoxelOp": lambda: signed_power(p=1.0),
    "Window": lambda: T.Window(-1000.0, 400.0),
}


def _sample() -> dict[str, Any]:
    rng = np.random.default_rng(3)
    img = rng.integers(-1000, 1000, size=(2, 12, 13, 14)).astype(np.int16)
    return {"image": img, "label": (img[:1] > 0).astype(np.uint8), "spacing": (1.0, 1.0, 1.0)}


def _full_pipeline() -> T.Compose:
    names = ["RandomCrop", "RandomFlip", "RandomRot90", "RandomAffine", "RandomElastic", "Window", "RandomGamma"]
    names += ["RandomContrast", "RandomBrightness", "RandomBiasField", "RandomGaussianNoise", "RandomGaussianBlur"]
    names += ["RandomLowRes", "Clip"]
    return T.Compose([OPS[n]() for n in names], threads=1)


def test_every_registered_op_has_a_case() -> None:
    assert sorted(OPS) == sorted(T.registered_ops())


@pytest.mark.parametrize("name", sorted(OPS))
def test_params_are_json_and_replay_bit_identical(name: str) -> None:
    op = OPS[name]()
    ops = [op] if isinstance(op, T.SpatialOp) else [T.CenterCrop((8, 9, 10)), op]
    aug = T.Compose(ops, threads=1)
    s = _sample()
    for index in range(3):
        out = aug(s, seed=5, index=index)
        text = json.dumps(out["params"], allow_nan=False)  # plain JSON, no numpy inside
        again = aug.replay(s, json.loads(text))
        for key in ("image", "label"):
            assert again[key].dtype == out[key].dtype
            np.testing.assert_array_equal(again[key].view(np.uint8), out[key].view(np.uint8))
        assert again["params"] == out["params"]
        assert json.dumps(aug.sample_params(s, seed=5, index=index), allow_nan=False) == text


def test_batch_params_are_json() -> None:
    aug = _full_pipeline()
    s = _sample()
    res = aug.batch([s, s], seed=1, stack=True)
    assert isinstance(res, dict)
    params = json.loads(json.dumps(res["params"], allow_nan=False))
    for k in range(2):
        np.testing.assert_array_equal(aug.replay(s, params[k])["image"], res["image"][k])


# ---- Compose config round trip --------------------------------------------------------

NON_DEFAULT: dict[str, Any] = {
    "image_keys": ("img", "t2"),
    "label_keys": ("seg",),
    "dtype": "float16",
    "pad_mode": "edge",
    "pad_value": -3.5,
    "label_pad_value": 7.0,
    "device": "cpu-reference",
    "threads": 3,
    "stats_voxels": 1234,
}


def test_from_dict_keeps_every_constructor_argument() -> None:
    sig = inspect.signature(T.Compose.__init__)
    args = [n for n in sig.parameters if n not in ("self", "ops")]
    assert sorted(args) == sorted(NON_DEFAULT), "a new Compose argument needs a round-trip value here"
    for name in args:
        assert NON_DEFAULT[name] != sig.parameters[name].default, name
    c = T.Compose([T.RandomCrop((4, 4, 4)), T.Window(0, 1)], **NON_DEFAULT)
    d = c.to_dict()
    json.dumps(d)
    back = T.Compose.from_dict(json.loads(json.dumps(d)))
    for name, value in NON_DEFAULT.items():
        assert getattr(back, name) == value, name
    assert back.to_dict() == d
    assert back.ops == c.ops


def test_from_dict_refuses_unknown_keys() -> None:
    d = T.Compose([T.Window(0, 1)]).to_dict()
    d["stats_voxel"] = 10
    with pytest.raises(TransformError, match="stats_voxel"):
        T.Compose.from_dict(d)
    with pytest.raises(TransformError):
        T.Compose.from_dict({"image_keys": ["image"]})


# ---- untrusted params: targeted cases ---------------------------------------------------


def _drawn() -> tuple[T.Compose, dict[str, Any], dict[str, Any]]:
    aug = _full_pipeline()
    s = _sample()
    return aug, s, json.loads(json.dumps(aug(s, seed=2, index=4)["params"]))


def _op_index(aug: T.Compose, name: str) -> int:
    return [type(o).__name__ for o in aug.ops].index(name)


@pytest.mark.parametrize(
    ("op", "field", "value", "match"),
    [
        ("RandomAffine", "scale", [0.0], "scale"),
        ("RandomAffine", "scale", [-1.0], "scale"),
        ("RandomAffine", "degrees", [float("nan"), 0.0, 0.0], r"degrees\[0\]: must be finite"),
        ("RandomAffine", "translate", [1.0, 2.0], "translate: must be a list of 3"),
        ("RandomAffine", "apply", 1, "apply: must be a bool"),
        ("RandomCrop", "start", [10**9, 0, 0], r"start'\[0\]"),
        ("RandomCrop", "start", [0.5, 0, 0], "must be an integer"),
        ("RandomFlip", "flip", [True, False], "flip: must be a list of 3"),
        ("RandomRot90", "k", 7, "'k'"),
        ("RandomElastic", "grid_inv", [9.0, 9.0, 9.0], "grid_inv"),
        ("RandomElastic", "magnitude", -1.0, "magnitude"),
        ("RandomGamma", "gamma", 0.0, "gamma"),
        ("RandomGamma", "gamma", float("inf"), "must be finite"),
        ("RandomGaussianNoise", "std", -0.5, "std"),
        ("RandomGaussianBlur", "sigma", [1e6], "sigma"),
        ("RandomLowRes", "zoom", 0.0, "zoom"),
        ("RandomBiasField", "coefficients", [0.1], "coefficients: must be a list"),
        ("RandomContrast", "factor", "1.0", "must be a number"),
    ],
)
def test_bad_field_is_refused_naming_op_and_field(op: str, field: str, value: Any, match: str) -> None:
    aug, s, params = _drawn()
    k = _op_index(aug, op)
    params["ops"][k]["params"][field] = value
    with pytest.raises(TransformError, match=match) as info:
        aug.replay(s, params)
    assert f"op {k} ({op})" in str(info.value)


def test_elastic_grid_with_nan_or_a_zero_axis_is_refused() -> None:
    aug, s, params = _drawn()
    k = _op_index(aug, "RandomElastic")
    good = params["ops"][k]["params"]["grid"]
    bad = copy.deepcopy(good)
    bad[0][1][1][1] = float("nan")
    params["ops"][k]["params"]["grid"] = bad
    with pytest.raises(TransformError, match=r"op \d+ \(RandomElastic\) params.grid: must be finite"):
        aug.replay(s, params)
    params["ops"][k]["params"]["grid"] = [[[]]] * 3
    with pytest.raises(TransformError, match="RandomElastic"):
        aug.replay(s, params)
    params["ops"][k]["params"]["grid"] = np.zeros((3, 0, 2, 2)).tolist()
    with pytest.raises(TransformError, match="RandomElastic"):
        aug.replay(s, params)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.__setitem__("seed", -1), "seed"),
        (lambda p: p.__setitem__("index", 2**40), "index"),
        (lambda p: p.__setitem__("epoch", "0"), "epoch"),
        (lambda p: p.__setitem__("extra", 1), "unknown fields"),
        (lambda p: p["ops"].pop(), "must list"),
        (lambda p: p["ops"][0].__setitem__("op", "RandomFlip"), "op 0 must be"),
        (lambda p: p["ops"][3]["params"].pop("shear"), "missing fields"),
        (lambda p: p["ops"][3]["params"].__setitem__("evil", 1), "unknown fields"),
    ],
)
def test_bad_structure_is_refused(mutate: Callable[[dict[str, Any]], None], match: str) -> None:
    aug, s, params = _drawn()
    mutate(params)
    with pytest.raises(TransformError, match=match):
        aug.replay(s, params)


def test_numpy_or_string_values_in_odd_places_are_refused() -> None:
    aug, s, params = _drawn()
    k = _op_index(aug, "RandomElastic")
    grid = np.asarray(params["ops"][k]["params"]["grid"])
    params["ops"][k]["params"]["grid"] = grid.astype(str).tolist()
    with pytest.raises(TransformError, match="array of numbers"):
        aug.replay(s, params)
    params["ops"][k]["params"]["grid"] = grid  # a numpy array is fine
    aug.replay(s, params)
    params["ops"][0]["op"] = np.array(["RandomCrop", "x"])
    with pytest.raises(TransformError, match="op 0 must be"):
        aug.replay(s, params)


def test_params_that_are_not_a_dict_are_refused() -> None:
    aug, s, _ = _drawn()
    for bad in (None, [], "params", 3):
        with pytest.raises(TransformError):
            aug.replay(s, bad)  # type: ignore[arg-type]


def test_ints_for_float_fields_are_accepted_and_coerced() -> None:
    aug = T.Compose([T.CenterCrop((8, 9, 10)), T.RandomGamma(gamma=(2.0, 2.0), value_range=(-1000.0, 1000.0))])
    s = _sample()
    out = aug(s)
    params = json.loads(json.dumps(out["params"]))
    params["ops"][1]["params"]["gamma"] = 2
    np.testing.assert_array_equal(aug.replay(s, params)["image"], out["image"])


# ---- untrusted params: property test ----------------------------------------------------

_ODD_VALUES = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        1e308,
        -1e308,
        1e30,
        -1.0,
        0.0,
        0,
        1,
        -1,
        3,
        2**31,
        2**64,
        -(2**70),
        True,
        False,
        None,
        "",
        "x",
        [],
        [0.0],
        [1, 2, 3],
        {},
        {"a": 1},
        [[[[]]]],
    ]
)


def _paths(v: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, (*prefix, k))
    elif isinstance(v, list) and v and isinstance(v[0], list):  # an array (elastic grid): its corners
        for i in sorted({0, len(v) - 1}):
            out += _paths(v[i], (*prefix, i))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            out += _paths(x, (*prefix, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = root
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return root


_AUG, _SAMPLE, _PARAMS = _drawn()
_ALL_PATHS = _paths(_PARAMS)


@st.composite
def _mutations(draw: st.DrawFn) -> dict[str, Any]:
    params = copy.deepcopy(_PARAMS)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_ALL_PATHS))
        how = draw(st.sampled_from(["odd", "scale", "drop", "add"]))
        try:
            parent = params
            for key in path[:-1]:
                parent = parent[key]
            old = parent[path[-1]] if path else params
        except (KeyError, IndexError, TypeError):
            continue
        if how == "odd":
            params = _set(params, path, draw(_ODD_VALUES))
        elif how == "scale" and isinstance(old, int | float) and not isinstance(old, bool):
            factor = draw(st.sampled_from([-1.0, 0.0, 1e-30, 1e6, 1e30]))
            new = old * factor
            params = _set(params, path, int(new) if isinstance(old, int) and math.isfinite(new) else new)
        elif how == "drop" and path and isinstance(parent, dict | list):
            del parent[path[-1]]
        elif how == "add" and isinstance(old, dict):
            old[draw(st.sampled_from(["x", "apply", "grid"]))] = draw(_ODD_VALUES)
        elif how == "add" and isinstance(old, list):
            old.append(draw(_ODD_VALUES))
    return params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_mutated_params_replay_or_raise_transform_error(params: Any) -> None:
    try:
        out = _AUG.replay(_SAMPLE, params)
    except TransformError:
        return
    assert out["image"].ndim == 4  # extreme but finite params may still overflow the values (not an error)
    json.dumps(out["params"], allow_nan=False)
