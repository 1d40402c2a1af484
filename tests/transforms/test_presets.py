"""Named pipelines: r3d is the benchmark's pipeline, every preset runs, patches fit small volumes."""

from __future__ import annotations

import numpy as np
import pytest

from fastmed.bench.peers import fastmed_aug
from fastmed.bench.peers.spec import R3D
from fastmed.errors import TransformError
from fastmed.transforms.presets import PRESETS, preset, preset_names


def test_r3d_is_the_benchmark_pipeline():
    assert preset("r3d").to_dict() == fastmed_aug.build(R3D).to_dict()


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_runs_fitted_to_a_small_volume(name):
    default = PRESETS[name][1]
    shape = (10, 12, 14) if len(default) == 3 else (40, 30)
    aug = preset(name, fit_shape=shape)
    img = np.random.default_rng(0).integers(-1000, 1000, (1, *shape)).astype(np.int16)
    out = aug({"image": img, "spacing": (2.0,) * len(shape)}, seed=0, index=0)
    assert out["image"].ndim == len(shape) + 1 and np.isfinite(out["image"]).all()
    crop = next(op for op in aug.ops if type(op).__name__ == "RandomCrop")
    assert crop.size == tuple(min(p, n) for p, n in zip(default, shape, strict=True))


def test_patch_override_and_errors():
    assert preset("r3d", patch=(32, 32, 32)).ops[0].size == (32, 32, 32)
    with pytest.raises(TransformError, match="unknown preset"):
        preset("r4d")
    with pytest.raises(TransformError, match="3-D"):
        preset("r3d", fit_shape=(100, 100))


def test_resampling_preset_fits_the_resampled_shape():
    # 24 slices of 8 mm resampled to 1.5 mm: 128 slices, so the 96-voxel patch fits along z.
    aug = preset("ct-default", fit_shape=(24, 64, 64), fit_spacing=(8.0, 1.0, 1.0))
    crop = next(op for op in aug.ops if type(op).__name__ == "RandomCrop")
    assert crop.size == (96, 43, 43)
