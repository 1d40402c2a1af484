"""MONAI on fm.DataLoader: dict batches into a MONAI UNet, MONAI transforms and datasets keyed per sample.

Oracles: the same MONAI transform applied by hand with the seed fm.DataLoader derives
(``sample_seed``), torch's DataLoader over the same dataset for the batch structure, and
``num_workers=0`` against worker processes for determinism.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import fastmed as fm
from fastmed.loader.integrations import SeededTransform, adapt_transform, sample_seed
from tests.loader._volumes import VolumeDicts, volume_dicts

monai = pytest.importorskip("monai")
mt = pytest.importorskip("monai.transforms")

KEYS = ["image", "label"]


# its workers fork from the test process and run MONAI / TorchIO ops: scheduled first in a pytest-xdist worker, before
# other files start thread pools there (see tests/bench/test_loader_suite.py)
pytestmark = pytest.mark.forks_workers


def _random_dict_pipeline() -> Any:
    return mt.Compose(
        [
            mt.RandSpatialCropd(KEYS, roi_size=(16, 16, 16), random_size=False),
            mt.RandFlipd(KEYS, prob=0.5, spatial_axis=0),
            mt.RandRotate90d(KEYS, prob=0.5, spatial_axes=(1, 2)),
            mt.ScaleIntensityRanged("image", a_min=-10, a_max=110, b_min=0.0, b_max=1.0, clip=True),
            mt.RandGaussianNoised("image", prob=1.0, std=0.1),
        ]
    )


def _plain(batches: list[dict[str, Any]]) -> list[dict[str, np.ndarray]]:
    return [{k: torch.as_tensor(b[k]).numpy().copy() for k in KEYS} for b in batches]


def test_monai_transform_is_wrapped_and_plain_callables_are_not() -> None:
    t = _random_dict_pipeline()
    assert isinstance(adapt_transform(t), SeededTransform)
    assert adapt_transform(None) is None
    plain = np.flip
    assert adapt_transform(plain) is plain
    aug = fm.Compose([fm.RandomFlip()])
    assert adapt_transform(aug) is aug


def test_monai_dict_transform_matches_seeding_by_hand() -> None:
    ds = VolumeDicts(6)
    got = _plain(list(fm.DataLoader(ds, batch_size=2, seed=4, transform=_random_dict_pipeline())))
    ref = _random_dict_pipeline()
    for b, batch in enumerate(got):
        for j in range(2):
            i = 2 * b + j
            ref.set_random_state(seed=sample_seed(4, 0, i) & 0xFFFFFFFF)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(4, 0, i))
                want = ref(ds[i])
            for k in KEYS:
                np.testing.assert_array_equal(batch[k][j], torch.as_tensor(want[k]).numpy())


def test_monai_transform_identical_across_num_workers_and_epochs_differ() -> None:
    ds = VolumeDicts(8)
    kwargs: dict[str, Any] = {"batch_size": 2, "shuffle": True, "seed": 7, "transform": _random_dict_pipeline()}
    runs = {w: _plain(list(fm.DataLoader(ds, num_workers=w, **kwargs))) for w in (0, 1, 2)}
    for w in (1, 2):
        for a, b in zip(runs[0], runs[w], strict=True):
            for k in KEYS:
                np.testing.assert_array_equal(a[k], b[k])
    loader = fm.DataLoader(ds, **kwargs)
    first = _plain(list(loader))
    second = _plain(list(loader))  # epoch 1: a new order and new draws
    assert any(not np.array_equal(a["image"], b["image"]) for a, b in zip(first, second, strict=True))


def test_global_rngs_untouched_by_seeded_transform() -> None:
    """The loader draws from torch's global RNG as torch's does; the wrapped transform adds nothing."""

    def after(transform: Any) -> tuple[np.ndarray, np.ndarray]:
        torch.manual_seed(123)
        np.random.seed(5)  # noqa: NPY002  (the global RNG is what this test watches)
        list(fm.DataLoader(VolumeDicts(4), batch_size=2, seed=0, transform=transform))
        return torch.rand(3).numpy(), np.random.random(3)  # noqa: NPY002

    for a, b in zip(after(None), after(_random_dict_pipeline()), strict=True):
        np.testing.assert_array_equal(a, b)


def test_monai_cache_dataset_random_transforms_keyed_per_sample() -> None:
    """A CacheDataset's own random transforms: same output for 0 and 2 workers (MONAI's loader differs)."""
    md = pytest.importorskip("monai.data")
    ds = md.CacheDataset(volume_dicts(6), transform=_random_dict_pipeline(), progress=False)
    runs = [_plain(list(fm.DataLoader(ds, batch_size=3, seed=2, num_workers=w))) for w in (0, 2)]
    for a, b in zip(*runs, strict=True):
        for k in KEYS:
            np.testing.assert_array_equal(a[k], b[k])


def test_dict_batches_feed_a_monai_unet_unchanged() -> None:
    from monai.networks.nets import UNet

    torch.manual_seed(0)
    net = UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(4, 8), strides=(2,), num_res_units=0)
    loader = fm.DataLoader(VolumeDicts(4), batch_size=2, seed=0, num_workers=2, transform=_random_dict_pipeline())
    ref = torch.utils.data.DataLoader(VolumeDicts(4), batch_size=2)
    for batch, plain in zip(loader, ref, strict=True):
        assert set(batch) == set(plain) == set(KEYS)
        assert batch["image"].shape == (2, 1, 16, 16, 16)
        assert batch["label"].shape == (2, 1, 16, 16, 16)
        out = net(batch["image"])
        loss = monai.losses.DiceLoss(to_onehot_y=True, softmax=True)(out, batch["label"])
        assert out.shape == (2, 2, 16, 16, 16)
        assert torch.isfinite(loss)
        loss.backward()
