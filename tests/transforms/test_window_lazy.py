"""Lazy volumes through Compose: plan from the description, read one window per array.

A numpy-backed :class:`~fastmed.volume_source.LazyVolume` records every box it is asked
for; the output must equal the in-memory path's bit for bit, each array is read once, and
the box is smaller than the volume (a scaled-down 128^3 patch from 320x512x512).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import fastmed.transforms as T
from fastmed.errors import TransformError
from fastmed.transforms.presets import preset
from fastmed.transforms.stats import source_stats
from fastmed.volume_source import LazyVolume


class RecordingVolume:
    """A LazyVolume over a numpy array that records the boxes read."""

    def __init__(self, data: npt.NDArray[Any], spacing: Sequence[float], stats: Mapping[str, float] | None = None):
        self.data = data
        self.shape = tuple(int(n) for n in data.shape)
        self.dtype = data.dtype
        self.spacing = tuple(float(s) for s in spacing)
        self.stats = dict(stats or {})
        self.boxes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
        self.boxes.append((tuple(lo), tuple(hi)))
        return np.ascontiguousarray(self.data[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])


def _stats(v: npt.NDArray[Any]) -> dict[str, float]:
    f = v.astype(np.float64)
    return {
        "p0_5": float(np.percentile(f, 0.5)),
        "p99_5": float(np.percentile(f, 99.5)),
        "mean": float(f.mean()),
        "std": float(f.std()),
        "min": float(f.min()),
        "max": float(f.max()),
    }


SHAPE = (40, 64, 64)  # 320x512x512 scaled by 1/8
PATCH = (16, 16, 16)  # 128^3 scaled by 1/8
PIPELINES = {
    "r3d": lambda: preset("r3d", patch=PATCH).ops,
    "normalize": lambda: [T.RandomCrop(PATCH), T.RandomFlip(), T.Normalize(), T.RandomGaussianNoise()],
    "rot90-crop": lambda: [T.RandomCrop(PATCH), T.RandomRot90() if hasattr(T, "RandomRot90") else T.RandomFlip()],
}


def _data(seed: int) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    image = rng.integers(-1000, 1500, SHAPE).astype(np.int16)
    label = rng.integers(0, 4, SHAPE).astype(np.uint8)
    return image, label


@pytest.mark.parametrize("name", sorted(PIPELINES))
@pytest.mark.parametrize("index", [0, 3, 11])
def test_lazy_equals_in_memory(name: str, index: int) -> None:
    image, label = _data(index)
    spacing = (2.0, 0.8, 0.8)
    stats = _stats(image)
    img = RecordingVolume(image, spacing, stats)
    lab = RecordingVolume(label, spacing)
    assert isinstance(img, LazyVolume)
    aug = T.Compose(PIPELINES[name]())
    lazy = aug({"image": img, "label": lab}, seed=5, index=index)
    # The in-memory path with the same per-volume statistics supplied.
    mem = aug({"image": image[None], "label": label[None], "spacing": spacing, "stats": stats}, seed=5, index=index)
    for k in ("image", "label"):
        np.testing.assert_array_equal(lazy[k], mem[k], strict=True)
    assert lazy["params"] == mem["params"]
    # One read per array, the same box, smaller than the volume.
    assert len(img.boxes) == 1 and img.boxes == lab.boxes
    lo, hi = img.boxes[0]
    assert np.prod(np.subtract(hi, lo)) < np.prod(SHAPE)
    again = aug.replay({"image": img, "label": lab}, lazy["params"])
    np.testing.assert_array_equal(again["image"], lazy["image"], strict=True)


def test_plan_is_the_array_paths_plan() -> None:
    image, label = _data(1)
    aug = T.Compose(preset("r3d", patch=PATCH).ops)
    sample = {"image": image[None], "label": label[None]}
    plan = aug.plan(sample, seed=2, index=7, epoch=1)
    ref = aug.compile(sample, aug.sample_params(sample, seed=2, index=7, epoch=1))
    np.testing.assert_array_equal(plan.spatial.matrix, ref.spatial.matrix)
    for a, b in zip(plan.arrays, ref.arrays, strict=True):
        np.testing.assert_array_equal(a.program.params, b.program.params)
        np.testing.assert_array_equal(a.program.ops, b.program.ops)
    assert plan.windows == {}


def test_plan_from_a_description_reads_nothing_when_stats_are_supplied() -> None:
    image, _ = _data(2)
    img = RecordingVolume(image, (1.0, 1.0, 1.0), _stats(image))
    aug = T.Compose([T.RandomCrop(PATCH), T.Normalize()])
    plan = aug.plan({"image": img}, seed=0, index=4)
    assert img.boxes == []
    lo, hi = plan.source_bbox(SHAPE)
    assert plan.windows["image"].origin == lo
    assert plan.windows["image"].volume == SHAPE
    assert all(b - a == p + 1 or b == n for a, b, p, n in zip(lo, hi, PATCH, SHAPE, strict=True))


def test_stats_without_supplied_ones_come_from_the_window() -> None:
    """No per-volume statistics: the op reads the window (once), never the whole volume."""
    image, _ = _data(3)
    img = RecordingVolume(image, (1.0, 1.0, 1.0))
    aug = T.Compose([T.RandomCrop(PATCH), T.Normalize()])
    out = aug({"image": img}, seed=0, index=2)
    assert len(img.boxes) == 1
    lo, hi = img.boxes[0]
    window = image[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))][None, None]
    mean, std, vmin, vmax = source_stats(window, [], (0, 0), 0, None, aug.stats_voxels)[0]
    given = {"mean": mean, "std": std, "min": vmin, "max": vmax}
    ref = aug({"image": image[None], "stats": given}, seed=0, index=2)
    np.testing.assert_array_equal(out["image"], ref["image"], strict=True)


def test_bad_window_shape_is_refused() -> None:
    image, _ = _data(4)

    class Short(RecordingVolume):
        def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> npt.NDArray[Any]:
            return super().read_window(lo, hi)[:-1]

    with pytest.raises(TransformError, match="read_window"):
        T.Compose([T.RandomCrop(PATCH)])({"image": Short(image, (1.0, 1.0, 1.0))}, seed=0)


@pytest.mark.parametrize("pad_mode", ["constant", "edge"])
def test_dali_window_matches_the_whole_volume(pad_mode: str) -> None:
    """DALI samples the window with the origin folded into the matrix: within its tolerance, not bit for bit."""
    pytest.importorskip("nvidia.dali")
    image, label = _data(6)
    ops = [T.RandomCrop(PATCH), T.RandomFlip(), T.RandomAffine(degrees=15.0), T.Window(-1000.0, 400.0)]
    aug = T.Compose(ops, device="dali", pad_mode=pad_mode)
    spacing = (1.0, 1.0, 1.0)
    lazy = aug({"image": RecordingVolume(image, spacing), "label": RecordingVolume(label, spacing)}, seed=2, index=5)
    want = T.Compose(ops, pad_mode=pad_mode)({"image": image[None], "label": label[None]}, seed=2, index=5)
    w = np.asarray(want["image"], np.float32)
    np.testing.assert_allclose(lazy["image"], w, rtol=1e-4, atol=1e-4 * (float(np.abs(w).max()) + 1.0))
    assert np.mean(lazy["label"] != want["label"]) < 0.01


@pytest.mark.parametrize("index", [0, 4])
def test_lazy_2d_equals_in_memory(index: int) -> None:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 4096, (96, 80)).astype(np.uint16)
    img = RecordingVolume(image, (0.5, 0.5), _stats(image))
    aug = T.Compose(preset("xray2d", patch=(32, 32)).ops)
    lazy = aug({"image": img}, seed=1, index=index)
    mem = aug({"image": image[None], "spacing": (0.5, 0.5), "stats": _stats(image)}, seed=1, index=index)
    np.testing.assert_array_equal(lazy["image"], mem["image"], strict=True)
    (lo, hi), *_ = img.boxes
    assert len(img.boxes) == 1 and np.prod(np.subtract(hi, lo)) < image.size


def test_batch_of_lazy_samples_equals_single_calls() -> None:
    aug = T.Compose(preset("r3d", patch=PATCH).ops)
    vols = [_data(s) for s in range(3)]

    def lazy(k: int) -> dict[str, Any]:
        image, label = vols[k]
        return {
            "image": RecordingVolume(image, (1.0, 1.0, 1.0), _stats(image)),
            "label": RecordingVolume(label, (1, 1, 1)),
        }

    outs = aug.batch([lazy(k) for k in range(3)], seed=9, indices=[4, 5, 6])
    assert isinstance(outs, list)
    for k, out in enumerate(outs):
        one = aug(lazy(k), seed=9, index=4 + k)
        for key in ("image", "label"):
            np.testing.assert_array_equal(out[key], one[key], strict=True)
    stacked = aug.batch([lazy(k) for k in range(3)], seed=9, indices=[4, 5, 6], stack=True)
    assert isinstance(stacked, dict)
    for key in ("image", "label"):
        np.testing.assert_array_equal(stacked[key], np.stack([o[key] for o in outs]), strict=True)
