"""TorchIO transforms on fm.DataLoader: torch's global RNG keyed per sample, identical for any num_workers.

Oracle: the same TorchIO transform called by hand inside ``torch.random.fork_rng`` seeded
with the sample's ``sample_seed``; ``num_workers=0`` against worker processes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import fastmed as fm
from fastmed.loader.integrations import SeededTransform, adapt_transform, sample_seed
from tests.loader._volumes import VolumeDicts

tio = pytest.importorskip("torchio")


# its workers fork from the test process and run MONAI / TorchIO ops: scheduled first in a pytest-xdist worker, before
# other files start thread pools there (see tests/bench/test_loader_suite.py)
pytestmark = pytest.mark.forks_workers


def _pipeline(include: list[str] | None = None) -> Any:
    kw: dict[str, Any] = {} if include is None else {"include": include}
    return tio.Compose(
        [
            tio.RandomFlip(axes=(0, 1, 2), **kw),
            tio.RandomAffine(degrees=10, scales=(0.9, 1.1), **kw),
            tio.RandomNoise(std=(0.0, 0.1), **kw),
        ],
        **kw,
    )


class Images(torch.utils.data.Dataset):
    """The images of :class:`VolumeDicts` as (C, D, H, W) tensors."""

    def __init__(self, n: int):
        self.items = VolumeDicts(n)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(self.items[i]["image"])


def test_torchio_transform_is_wrapped() -> None:
    assert isinstance(adapt_transform(_pipeline()), SeededTransform)
    assert isinstance(adapt_transform(tio.RandomNoise()), SeededTransform)


def test_torchio_matches_seeding_by_hand() -> None:
    ds = Images(4)
    got = list(fm.DataLoader(ds, batch_size=2, seed=3, transform=_pipeline()))
    ref = _pipeline()
    for b, batch in enumerate(got):
        for j in range(2):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(3, 0, 2 * b + j))
                want = ref(ds[2 * b + j])
            np.testing.assert_array_equal(batch[j].numpy(), want.numpy())


@pytest.mark.parametrize("dicts", [False, True])
def test_torchio_identical_across_num_workers(dicts: bool) -> None:
    ds: Any = VolumeDicts(6) if dicts else Images(6)
    transform = _pipeline(["image", "label"] if dicts else None)
    kwargs: dict[str, Any] = {"batch_size": 3, "shuffle": True, "seed": 1, "transform": transform}
    runs = [list(fm.DataLoader(ds, num_workers=w, **kwargs)) for w in (0, 2)]
    for a, b in zip(*runs, strict=True):
        if dicts:
            for k in ("image", "label"):
                np.testing.assert_array_equal(torch.as_tensor(a[k]).numpy(), torch.as_tensor(b[k]).numpy())
        else:
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    other = next(iter(fm.DataLoader(ds, **{**kwargs, "seed": 2})))
    first, second = (x["image"] if dicts else x for x in (runs[0][0], other))
    assert not np.array_equal(torch.as_tensor(first).numpy(), torch.as_tensor(second).numpy())
