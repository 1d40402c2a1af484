"""Custom ops from Python: numba CPU path vs numpy, CUDA path (simulator) vs CPU, determinism, replay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed.errors import TransformError
from fastmed.transforms.plan import PythonPass
from tests.transforms._custom_fns import quantize, reverse_rows, signed_power, speckle

ROOT = Path(__file__).resolve().parents[2]


def _sample(ndim: int, channels: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    shape = (9, 11, 10) if ndim == 3 else (13, 12)
    img = rng.integers(-1000, 1000, (channels, *shape)).astype(np.int16)
    lab = rng.choice(np.array([0, 2, 5], np.uint8), size=(1, *shape))
    return {"image": img, "label": lab}


def _pipe(ndim: int, extra: list, **kw) -> T.Compose:
    size = (6,) * ndim
    return T.Compose([T.RandomCrop(size), T.RandomFlip(), T.Window(-1000, 400, (-1.0, 1.0)), *extra], **kw)


def _numpy_signed_power(x: np.ndarray, k: float, shift: float) -> np.ndarray:
    """The same formula evaluated by numpy in float64 (the oracle of the numba path)."""
    x64 = x.astype(np.float64)
    y = np.sign(x64) * np.abs(x64) ** k + shift
    return np.where(x64 == 0.0, shift, y).astype(np.float32)


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("threads", [1, 2])
def test_voxel_op_matches_numpy(ndim: int, channels: int, threads: int) -> None:
    s = _sample(ndim, channels)
    out = _pipe(ndim, [signed_power()], threads=threads)(s, seed=3, index=5)
    base = _pipe(ndim, [], threads=threads)(s, seed=3, index=5)
    p = out["params"]["ops"][-1]["params"]
    assert p["apply"] and 0.5 <= p["k"] < 2.0 and -0.1 <= p["shift"] < 0.1
    assert out["image"].shape == (channels, *(6,) * ndim)
    np.testing.assert_allclose(
        out["image"], _numpy_signed_power(base["image"], p["k"], p["shift"]), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_array_equal(out["label"], base["label"])  # labels untouched


def test_voxel_op_same_on_one_and_two_threads() -> None:
    s = _sample(3, 2)
    a = _pipe(3, [signed_power()], threads=1)(s, seed=1, index=4)["image"]
    b = _pipe(3, [signed_power()], threads=2)(s, seed=1, index=4)["image"]
    np.testing.assert_array_equal(a, b)


def test_channels_subset_only_touches_those_channels() -> None:
    s = _sample(3, 3)
    out = _pipe(3, [signed_power(channels=(1,), k=(2.0, 2.0), shift=0.0)])(s, seed=0, index=0)["image"]
    base = _pipe(3, [])(s, seed=0, index=0)["image"]
    np.testing.assert_array_equal(out[[0, 2]], base[[0, 2]])
    np.testing.assert_allclose(out[1], _numpy_signed_power(base[1], 2.0, 0.0), rtol=1e-6)


def test_params_come_from_the_keyed_rng_stream_of_the_op_position() -> None:
    from fastmed.rng import KeyedRNG

    aug = _pipe(3, [signed_power()])
    pos = len(aug.ops) - 1
    got = aug.sample_params(_sample(3, 1), seed=9, index=2, epoch=1)["ops"][pos]["params"]
    rng = KeyedRNG(9, 1, 2, pos)
    assert got["apply"] == rng.bernoulli(1.0)
    assert got["k"] == rng.uniform(0.5, 2.0)
    assert got["shift"] == rng.uniform(-0.1, 0.1)


def test_determinism_same_key_same_output_other_index_differs() -> None:
    s = _sample(3, 1)
    aug = _pipe(3, [signed_power(), speckle()])
    a, b = aug(s, seed=2, index=7), aug(s, seed=2, index=7)
    np.testing.assert_array_equal(a["image"], b["image"])
    c = aug(s, seed=2, index=8)
    assert c["params"]["ops"][-2]["params"]["k"] != a["params"]["ops"][-2]["params"]["k"]
    assert not np.array_equal(a["image"], c["image"])


def test_replay_from_params_after_json() -> None:
    s = _sample(3, 2)
    aug = _pipe(3, [signed_power(), speckle(), reverse_rows()])
    out = aug(s, seed=4, index=1, epoch=2)
    params = json.loads(json.dumps(out["params"]))
    np.testing.assert_array_equal(aug.replay(s, params)["image"], out["image"])


def test_serialization_names_the_function_and_reimports_it() -> None:
    aug = _pipe(3, [signed_power(p=0.5, k=(1.0, 1.5)), quantize(), speckle(amount=0.2)])
    d = json.loads(json.dumps(aug.to_dict()))
    assert d["ops"][-3]["fn"] == "tests.transforms._custom_fns:signed_power"
    assert d["ops"][-3]["params"] == {"k": [1.0, 1.5], "shift": [-0.1, 0.1]}
    back = T.Compose.from_dict(d)
    assert back.ops == aug.ops
    s = _sample(3, 1)
    np.testing.assert_array_equal(back(s, seed=1, index=3)["image"], aug(s, seed=1, index=3)["image"])


def test_integer_params_are_drawn_inclusive_and_applied() -> None:
    s = _sample(3, 1)
    seen = set()
    for i in range(12):
        out = _pipe(3, [quantize()])(s, seed=0, index=i)
        n = out["params"]["ops"][-1]["params"]["n"]
        assert isinstance(n, int)
        seen.add(n)
        base = _pipe(3, [])(s, seed=0, index=i)["image"].astype(np.float64)
        np.testing.assert_allclose(out["image"], np.floor(base * (n + 1)) / (n + 1), rtol=1e-6)
    assert seen == {1, 2, 3}


def test_p_zero_is_identity() -> None:
    s = _sample(2, 1)
    out = _pipe(2, [signed_power(p=0.0), speckle(p=0.0)])(s, seed=0, index=0)
    np.testing.assert_array_equal(out["image"], _pipe(2, [])(s, seed=0, index=0)["image"])
    assert out["params"]["ops"][-1]["params"]["apply"] is False


@pytest.mark.parametrize("ndim", [2, 3])
def test_patch_op_sees_channel_first_patch_and_may_return_a_new_array(ndim: int) -> None:
    s = _sample(ndim, 2)
    out = _pipe(ndim, [reverse_rows()])(s, seed=0, index=1)
    axis = out["params"]["ops"][-1]["params"]["axis"]
    base = _pipe(ndim, [])(s, seed=0, index=1)["image"]
    np.testing.assert_array_equal(out["image"], np.flip(base, axis=base.ndim - 1 - axis))
    np.testing.assert_array_equal(out["label"], _pipe(ndim, [])(s, seed=0, index=1)["label"])


def test_patch_op_rng_is_keyed_by_params() -> None:
    from fastmed.rng import KeyedRNG

    s = _sample(3, 1)
    out = _pipe(3, [speckle()])(s, seed=5, index=0)
    p = out["params"]["ops"][-1]["params"]
    base = _pipe(3, [])(s, seed=5, index=0)["image"]
    noise = np.asarray(KeyedRNG(p["rng_seed"]).normal(size=base.shape), dtype=np.float32)
    np.testing.assert_allclose(out["image"], base * (1.0 + np.float32(p["amount"]) * noise), rtol=1e-6)


def test_custom_op_runs_as_a_separate_pass_in_pipeline_order() -> None:
    aug = _pipe(3, [signed_power(), T.RandomGaussianBlur(sigma=0.6)])
    s = _sample(3, 1)
    plan = aug.compile(s, aug.sample_params(s, seed=0, index=0))
    passes = plan.arrays[0].passes
    assert isinstance(passes[0], PythonPass) and type(passes[1]).__name__ == "BlurPass"


def test_bad_definitions_raise_transform_error() -> None:
    with pytest.raises(TransformError, match="expected"):
        T.voxel_op(params={"k": (0, 1)})(lambda v, q: v)
    with pytest.raises(TransformError, match="reserved"):
        T.voxel_op(params={"apply": (0, 1)})(lambda v, apply: v)
    with pytest.raises(TransformError, match="low > high"):
        T.voxel_op(params={"k": (2.0, 1.0)})(lambda v, k: v)
    with pytest.raises(TransformError, match="unknown parameters"):
        signed_power(q=(0, 1))
    with pytest.raises(TransformError, match="cannot import"):
        T.op_from_dict({"op": "VoxelOp", "fn": "tests.transforms._custom_fns:nope", "params": {}})


def test_uncompilable_function_and_failing_patch_function_are_named() -> None:
    @T.voxel_op()
    def uses_a_dict(v):
        return {"a": v}["a"] + object()

    s = _sample(3, 1)
    with pytest.raises(TransformError, match="uses_a_dict"):
        _pipe(3, [uses_a_dict()])(s, seed=0, index=0)

    @T.patch_op()
    def wrong_shape(patch):
        return patch[:, :2]

    with pytest.raises(TransformError, match="wrong_shape.*shape"):
        _pipe(3, [wrong_shape()])(s, seed=0, index=0)
    with pytest.raises(TransformError, match="local function"):
        T.op_from_dict(wrong_shape().to_dict())


def test_cuda_path_under_simulator_equals_cpu_path(tmp_path: Path) -> None:
    """numba.cuda under NUMBA_ENABLE_CUDASIM=1 in a subprocess (the simulator must not leak here)."""
    cases = {}
    expected = {}
    for k, (ndim, channels, chans) in enumerate([(3, 1, ()), (2, 3, ()), (3, 2, (1,))]):
        s = _sample(ndim, channels, seed=k)
        aug = _pipe(ndim, [signed_power(channels=chans or None)])
        plan = aug.compile(s, aug.sample_params(s, seed=k, index=k))
        runner = plan.arrays[0].passes[0].runner
        patch = np.ascontiguousarray(_pipe(ndim, [])(s, seed=k, index=k)["image"], dtype=np.float32)
        patch4 = patch[:, None] if ndim == 2 else patch
        cases.update(
            {
                f"patch{k}": patch4,
                f"values{k}": runner.values,
                f"channels{k}": np.asarray(chans, np.int64),
                f"ndim{k}": np.asarray(ndim),
            }
        )
        expected[k] = runner.cpu(patch4.copy(), ndim, 1)
    src, dst = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(src, **cases)
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-m", "tests.transforms._cudasim_run", str(src), str(dst)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    got = np.load(dst)
    for k, exp in expected.items():
        assert not np.array_equal(exp, cases[f"patch{k}"])  # the op did something
        np.testing.assert_allclose(got[f"out{k}"], exp, rtol=1e-6, atol=1e-7)
