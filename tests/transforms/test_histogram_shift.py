"""RandomHistogramShift against np.interp and MONAI's RandHistogramShift, on cpu and cpu-reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage

import fastmed.transforms as T
from fastmed.errors import TransformError

BACKENDS = ["cpu", "cpu-reference"]


def _img(channels: int = 2, shape: tuple[int, ...] = (5, 12, 13)) -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.uniform(-900, 900, (channels, *shape)).astype(np.float32)


def _oracle(x: np.ndarray, points: list[float], lo: float, hi: float) -> np.ndarray:
    pts = np.asarray(points, dtype=np.float64)
    ref = np.linspace(0.0, 1.0, pts.size)
    return np.interp(x.astype(np.float64), ref * (hi - lo) + lo, pts * (hi - lo) + lo)


@pytest.mark.parametrize("device", BACKENDS)
@pytest.mark.parametrize("index", [0, 1, 2])
def test_fixed_range_matches_np_interp(device: str, index: int) -> None:
    img = _img()
    op = T.RandomHistogramShift(num_control_points=(3, 16), value_range=(-700.0, 800.0))
    out = T.Compose([op], device=device)({"image": img}, seed=4, index=index)
    p = out["params"]["ops"][0]["params"]
    assert 3 <= len(p["points"]) <= 16 and p["points"][0] == 0.0 and p["points"][-1] == 1.0
    assert np.all(np.diff(p["points"]) >= 0)
    np.testing.assert_allclose(out["image"], _oracle(img, p["points"], -700.0, 800.0), rtol=1e-5, atol=2e-3)


@pytest.mark.parametrize("device", BACKENDS)
def test_per_channel_range_from_statistics(device: str) -> None:
    img = _img()  # small volume: the statistics are the exact min/max
    out = T.Compose([T.RandomHistogramShift(num_control_points=6)], device=device)({"image": img}, seed=9)
    p = out["params"]["ops"][0]["params"]
    for c in range(img.shape[0]):
        lo, hi = float(img[c].min()), float(img[c].max())
        np.testing.assert_allclose(out["image"][c], _oracle(img[c], p["points"], lo, hi), rtol=1e-5, atol=2e-3)


@pytest.mark.parametrize("device", BACKENDS)
def test_after_blur_runs_in_the_patch_program(device: str) -> None:
    # The op after a blur runs in the row-wise program pass (augment_passes.cpp on cpu).
    img = _img(channels=1, shape=(6, 8, 9))
    ops = [T.Window(-500, 500), T.RandomGaussianBlur(sigma=(1.0, 1.0)), T.RandomHistogramShift(8)]
    out = T.Compose(ops, device=device)({"image": img}, seed=2)
    w = (np.clip(img[0].astype(np.float64), -500, 500) + 500) / 1000
    blurred = ndimage.gaussian_filter(w, 1.0, mode="reflect")
    p = out["params"]["ops"][2]["params"]
    np.testing.assert_allclose(out["image"][0], _oracle(blurred, p["points"], 0.0, 1.0), atol=2e-5)


def test_matches_monai_for_the_same_control_points() -> None:
    monai = pytest.importorskip("monai.transforms")
    img = _img(channels=1)
    out = T.Compose([T.RandomHistogramShift(num_control_points=7)])({"image": img}, seed=1)
    pts = np.asarray(out["params"]["ops"][0]["params"]["points"])
    m = monai.RandHistogramShift(num_control_points=7, prob=1.0)
    m._do_transform = True
    m.reference_control_points = np.linspace(0.0, 1.0, pts.size)
    m.floating_control_points = pts
    want = np.asarray(m(img.astype(np.float64), randomize=False))
    np.testing.assert_allclose(out["image"], want, rtol=1e-5, atol=2e-3)


def test_draws_as_monai_does() -> None:
    # Inner point i is uniform between shifted point i - 1 and reference point i + 1.
    op = T.RandomHistogramShift(num_control_points=5)
    img = _img(channels=1)
    for seed in range(20):
        pts = T.Compose([op])({"image": img}, seed=seed)["params"]["ops"][0]["params"]["points"]
        ref = np.linspace(0.0, 1.0, 5)
        for i in range(1, 4):
            assert pts[i - 1] <= pts[i] <= ref[i + 1]


def test_replay_json_and_dict_round_trip() -> None:
    img = _img()
    op = T.RandomHistogramShift(num_control_points=(4, 9), value_range=(-1.0, 1.0), p=0.7)
    assert T.op_from_dict(json.loads(json.dumps(op.to_dict()))) == op
    comp = T.Compose([T.Window(-500, 500, out_range=(-1, 1)), op])
    out = comp({"image": img}, seed=3, index=7)
    params = json.loads(json.dumps(out["params"]))
    again = comp.replay({"image": img}, params)
    np.testing.assert_array_equal(again["image"], out["image"])


@pytest.mark.parametrize("n", [2, 17, (3, 20), (5, 4)])
def test_bad_number_of_points_is_refused(n: object) -> None:
    with pytest.raises(TransformError, match="num_control_points"):
        T.RandomHistogramShift(num_control_points=n)


def test_replayed_points_out_of_order_are_refused() -> None:
    img = _img()
    comp = T.Compose([T.RandomHistogramShift(num_control_points=4)])
    params = comp({"image": img}, seed=3)["params"]
    params["ops"][0]["params"]["points"] = [0.0, 0.8, 0.2, 1.0]
    with pytest.raises(TransformError, match="RandomHistogramShift"):
        comp.replay({"image": img}, params)


@pytest.mark.parametrize("device", BACKENDS)
def test_ends_outside_values_and_nan(device: str) -> None:
    x = np.linspace(-3.0, 3.0, 4 * 5 * 6, dtype=np.float32).reshape(1, 4, 5, 6)
    x[0, 0, 0, :3] = (np.nan, -1.0, 1.0)  # NaN stays NaN; the range's ends map to themselves
    out = T.Compose([T.RandomHistogramShift(num_control_points=16, value_range=(-1.0, 1.0))], device=device)(
        {"image": x}, seed=8
    )
    p = out["params"]["ops"][0]["params"]
    want = _oracle(x, p["points"], -1.0, 1.0)
    assert np.isnan(out["image"][0, 0, 0, 0]) and out["image"][0, 0, 0, 1] == -1.0 and out["image"][0, 0, 0, 2] == 1.0
    np.testing.assert_allclose(out["image"], want, rtol=1e-6, atol=1e-6)
