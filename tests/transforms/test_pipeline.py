"""Determinism, replay, batching, labels, dtypes and errors of the fused pipeline."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed.errors import TransformError
from fastmed.transforms.base import registered_ops
from tests.transforms._custom_fns import signed_power, speckle


def r3d(size: int = 12, **kw) -> T.Compose:
    return T.Compose(
        [
            T.RandomCrop((size,) * 3),
            T.RandomFlip(),
            T.RandomAffine(degrees=15, scale=(0.85, 1.15), translate=2.0, shear=0.05),
            T.RandomElastic(magnitude=(1.0, 3.0), grid_spacing=6.0),
            T.Window(-1000, 400),
            T.RandomGamma(),
            T.RandomBiasField(coefficients=0.2, order=2),
            T.RandomGaussianNoise(std=(0.05, 0.1)),
            T.RandomGaussianBlur(sigma=(0.5, 0.8), p=0.5),
            T.RandomBrightness(),
        ],
        **kw,
    )


def _sample(dtype=np.int16, channels=1, shape=(20, 24, 28)):
    rng = np.random.default_rng(0)
    img = rng.integers(-1000, 1000, (channels, *shape)).astype(dtype)
    lab = rng.choice(np.array([0, 3, 7], np.uint8), size=(1, *shape))
    return {"image": img, "label": lab, "spacing": (1.5, 0.8, 0.8)}


def test_same_key_same_output_on_1_and_2_threads():
    s = _sample()
    a = r3d(threads=1)(s, seed=5, index=3, epoch=1)
    b = r3d(threads=2)(s, seed=5, index=3, epoch=1)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])


def test_different_index_epoch_seed_differ():
    s = _sample()
    base = r3d()(s, seed=5, index=3)["image"]
    for kw in ({"seed": 5, "index": 4}, {"seed": 5, "index": 3, "epoch": 1}, {"seed": 6, "index": 3}):
        assert not np.array_equal(base, r3d()(s, **kw)["image"])


def test_replay_from_params_and_through_json():
    s = _sample()
    aug = r3d()
    out = aug(s, seed=1, index=2)
    np.testing.assert_array_equal(aug.replay(s, out["params"])["image"], out["image"])
    text = json.dumps(out["params"], default=lambda a: a.tolist())
    np.testing.assert_array_equal(aug.replay(s, json.loads(text))["image"], out["image"])


@pytest.mark.parametrize("stack", [False, True])
def test_batch_equals_single_calls(stack):
    samples = [_sample(), _sample(np.float32, channels=1 if stack else 2), _sample(np.uint16)]
    samples[2]["image"] = np.abs(samples[2]["image"]).astype(np.uint16)
    aug = r3d()
    res = aug.batch(samples, seed=3, indices=[7, 8, 9], stack=stack)
    for k, s in enumerate(samples):
        one = aug(s, seed=3, index=7 + k)
        got = res["image"][k] if stack else res[k]["image"]  # type: ignore[index]
        np.testing.assert_array_equal(got, one["image"])


def test_batch_stacks_equal_shapes():
    samples = [_sample(), _sample()]
    res = r3d().batch(samples, seed=0, stack=True)
    assert res["image"].shape == (2, 1, 12, 12, 12) and res["label"].shape == (2, 1, 12, 12, 12)


def test_labels_stay_in_label_set():
    s = _sample()
    for i in range(4):
        out = r3d(size=16)(s, seed=0, index=i)
        assert out["label"].dtype == np.uint8
        assert set(np.unique(out["label"])) <= {0, 3, 7}


def test_labels_follow_the_image_geometry():
    img = np.zeros((1, 16, 16, 16), np.float32)
    img[0, 4:10, 5:12, 3:9] = 1.0
    s = {"image": img, "label": img.astype(np.uint8)}
    aug = T.Compose(
        [T.RandomCrop((12, 12, 12)), T.RandomFlip(), T.RandomRot90(axes=(0, 2)), T.RandomAffine(degrees=20)]
    )
    out = aug(s, seed=4, index=1)
    agree = (out["image"][0] > 0.5) == (out["label"][0] == 1)
    assert agree.mean() > 0.97


def test_elastic_displacement_bounded_and_smooth():
    # Three ramps (z, y, x) make the output channels the source coordinates exactly.
    shape = (24, 30, 36)
    ramps = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    spacing = (2.0, 1.0, 0.5)
    aug = T.Compose(
        [T.CenterCrop((16, 20, 24)), T.RandomElastic(magnitude=(2.0, 2.0), grid_spacing=8.0)], pad_mode="edge"
    )
    out = aug({"image": ramps, "spacing": spacing}, seed=2)
    start = np.asarray(out["params"]["ops"][0]["params"]["start"], dtype=np.float64)
    ident = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float64) for n in (16, 20, 24)], indexing="ij"))
    disp_mm = (out["image"] - ident - start[:, None, None, None]) * np.asarray(spacing)[:, None, None, None]
    norm = np.sqrt((disp_mm**2).sum(0))
    assert norm.max() <= 2.0 + 1e-3 and norm.max() > 0.5
    # Second differences of a cubic B-spline field: |f''| <= 2 max|c| inv^2 per axis.
    for a, sp in enumerate(spacing):
        inv = sp / 8.0
        d2 = np.abs(np.diff(disp_mm, n=2, axis=a + 1)).max()
        assert d2 <= 2 * 2.0 * inv**2 + 1e-3


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_outputs_round_like_numpy_and_torch(dtype):
    torch = pytest.importorskip("torch")
    s = _sample()
    ref = r3d()(s, seed=1)["image"]
    got = r3d(dtype=dtype)(s, seed=1)["image"]
    if dtype == "float16":
        np.testing.assert_array_equal(got, ref.astype(np.float16))
    else:
        assert got.dtype == torch.bfloat16
        assert torch.equal(got, torch.from_numpy(ref).to(torch.bfloat16))


def test_half_conversion_special_values():
    # Finite values only: a non-finite source voxel poisons its neighbours through linear interpolation.
    vals = np.array(
        [
            0.0,
            1e-8,
            3e-8,
            6e-8,
            1e-5,
            65504.0,
            65519.0,
            65520.0,
            1e9,
            -1e9,
            -70000.0,
            0.1,
            1 / 3,
            2.0**-24,
            2.0**-25,
            1.5 * 2.0**-25,
            2.0**-14,
        ],
        np.float32,
    )
    img = np.tile(vals, (1, 1, 1, 1))
    out = T.Compose([], dtype="float16")({"image": img})["image"]
    with np.errstate(over="ignore"):
        want = vals.astype(np.float16)
    np.testing.assert_array_equal(out.reshape(-1).view(np.uint16), want.view(np.uint16))


def test_two_d_multichannel_pipeline():
    rng = np.random.default_rng(1)
    img = rng.normal(size=(3, 40, 50)).astype(np.float32)
    aug = T.Compose(
        [
            T.RandomCrop((32, 32)),
            T.RandomFlip(),
            T.RandomAffine(degrees=10),
            T.RandomElastic(),
            T.Normalize(),
            T.RandomGaussianNoise(),
            T.RandomGaussianBlur(),
        ]
    )
    out = aug({"image": img, "label": (img[:1] > 0).astype(np.uint8)}, seed=0, index=1)
    assert out["image"].shape == (3, 32, 32) and out["label"].shape == (1, 32, 32)
    assert len(out["spacing"]) == 2
    np.testing.assert_array_equal(
        aug.replay({"image": img, "label": (img[:1] > 0).astype(np.uint8)}, out["params"])["image"], out["image"]
    )


EXAMPLES = {
    "RandomCrop": T.RandomCrop((4, 5, 6), pad_mode="edge"),
    "CenterCrop": T.CenterCrop((4, 5, 6), pad_value=-1.0),
    "RandomFlip": T.RandomFlip(axes=(0, 2), p=0.3),
    "RandomRot90": T.RandomRot90(axes=(0, 1)),
    "RandomAffine": T.RandomAffine(
        degrees=((-5, 5), (0, 0), (-10, 10)), scale=(0.9, 1.1), isotropic=False, shear=0.1, translate=(-2.0, 3.0), p=0.7
    ),
    "RandomElastic": T.RandomElastic(magnitude=3.0, grid_spacing=20.0, p=0.4),
    "Resample": T.Resample((1.0, 2.0, 2.0)),
    "Letterbox": T.Letterbox((6, 12, 16), pad_value=-1.0),
    "RandomLowRes": T.RandomLowRes(zoom=(0.6, 0.9)),
    "Window": T.Window(-1000, 400, out_range=(-1.0, 1.0)),
    "Clip": T.Clip(-5, 5),
    "Normalize": T.Normalize(stats="patch", eps=1e-5),
    "ScaleIntensity": T.ScaleIntensity(out_range=(-1.0, 1.0), in_range=(0.0, 4.0)),
    "RandomGamma": T.RandomGamma(gamma=(0.8, 1.2), value_range=(0.0, 1.0), invert=True),
    "RandomContrast": T.RandomContrast(factor=(0.9, 1.1), p=0.2),
    "RandomBrightness": T.RandomBrightness(delta=(0.9, 1.1), mode="mul"),
    "RandomGaussianNoise": T.RandomGaussianNoise(std=(0.0, 0.2)),
    "RandomBiasField": T.RandomBiasField(coefficients=(-0.1, 0.2), order=2),
    "RandomGaussianBlur": T.RandomGaussianBlur(sigma=(0.5, 1.5), isotropic=False, truncate=3.0),
    "RandomHistogramShift": T.RandomHistogramShift(num_control_points=(5, 12), p=0.9),
    # Custom ops (fastmed.transforms.custom): functions importable by path.
    "VoxelOp": signed_power(p=0.8, k=(1.0, 1.5), channels=(0,)),
    "PatchOp": speckle(amount=(0.1, 0.2)),
}


def test_every_registered_op_has_an_example():
    assert set(registered_ops()) == set(EXAMPLES)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_to_dict_round_trip(name):
    op = EXAMPLES[name]
    d = json.loads(json.dumps(op.to_dict()))
    assert d["op"] == name
    assert T.op_from_dict(d) == op


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_op_runs_and_replays(name):
    s = _sample(shape=(8, 10, 12))
    aug = T.Compose([EXAMPLES[name]])
    out = aug(s, seed=9, index=1)
    assert np.isfinite(out["image"]).all()
    np.testing.assert_array_equal(aug.replay(s, out["params"])["image"], out["image"])


def test_compose_round_trip():
    aug = r3d(dtype="float16")
    back = T.Compose.from_dict(json.loads(json.dumps(aug.to_dict())))
    s = _sample()
    np.testing.assert_array_equal(back(s, seed=2)["image"], aug(s, seed=2)["image"])


def test_bad_inputs_raise_transform_error():
    with pytest.raises(TransformError, match="float64"):
        T.Compose([T.RandomFlip()])({"image": np.zeros((1, 4, 4, 4))})
    with pytest.raises(TransformError, match="channel-first"):
        T.Compose([T.RandomFlip()])({"image": np.zeros((4, 4), np.float32)})
    with pytest.raises(TransformError, match="axes"):
        T.Compose([T.RandomCrop((4, 4))])({"image": np.zeros((1, 4, 4, 4), np.float32)})
    with pytest.raises(TransformError):
        T.RandomGamma(p=1.5)
    with pytest.raises(TransformError):
        T.op_from_dict({"op": "NoSuchOp"})
    with pytest.raises(TransformError):
        T.Compose([T.RandomElastic(), T.RandomElastic()])
    with pytest.raises(TransformError, match="voxel grid"):
        T.Compose([T.RandomFlip()])({"image": np.zeros((1, 4, 4, 4), np.float32), "label": np.zeros((1, 4, 4, 5))})
    with pytest.raises(TransformError, match="int64"):
        T.Compose([T.RandomFlip()])({"image": np.zeros((1, 4, 4, 4), np.float32), "label": np.zeros((1, 4, 4, 4), int)})
    with pytest.raises(TransformError, match="backend"):
        T.Compose([], device="nowhere")({"image": np.zeros((1, 2, 2, 2), np.float32)})


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_fast_kernel_matches_gpu_per_voxel_code(dtype, ndim):
    # "cpu-reference" runs fastmed/augment.h voxel by voxel: the code the CUDA kernel runs.
    torch = pytest.importorskip("torch") if dtype == "bfloat16" else None
    s = (
        _sample(channels=2)
        if ndim == 3
        else {"image": _sample(channels=2)["image"][:, 0], "label": _sample()["label"][:, 0]}
    )
    ops = [
        T.RandomCrop((12,) * ndim),
        T.RandomFlip(),
        T.RandomAffine(degrees=20, scale=(0.8, 1.2)),
        T.RandomElastic(magnitude=(2, 3), grid_spacing=5.0),
        T.Window(-800, 600),
        T.RandomGamma(),
        T.RandomBiasField(coefficients=0.3, order=3),
        T.RandomGaussianNoise(std=(0.1, 0.2)),
    ]
    fast = T.Compose(ops, dtype=dtype)(s, seed=3, index=5)
    ref = T.Compose(ops, dtype=dtype, device="cpu-reference")(s, seed=3, index=5)
    np.testing.assert_array_equal(fast["label"], ref["label"])
    a, b = fast["image"], ref["image"]
    if torch is not None:
        a, b = a.float().numpy(), b.float().numpy()
    tol = {"float32": 1e-4, "float16": 2e-3, "bfloat16": 2e-2}[dtype]
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), atol=tol, rtol=tol)
