"""Compose's replay ``params`` collate as a list of per-sample records, on every loader path.

``RandomElastic``'s control grid follows each sample's geometry, so two volumes of different
shape and spacing give records of different shapes, which torch's ``default_collate``
cannot stack. Oracle: each sample through the ``Compose`` alone with the loader's keys
(``seed``, ``index``, ``epoch``), image bit for bit and record equal, and
``Compose.batch(stack=True)`` (which keeps ``params`` a list); the other keys as
``default_collate`` makes them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, default_collate

import fastmed as fm
from fastmed.transforms.collate import KeepReplay, is_replay_record

SEED = 3


class TwoGeometries(Dataset):
    """Two int16 volumes of different shapes and spacings (so their elastic grids differ)."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.items = [
            {"image": rng.integers(0, 1000, (1, 20, 24, 28)).astype(np.int16), "spacing": (1.0, 1.0, 1.0), "id": 0},
            {"image": rng.integers(0, 1000, (1, 40, 30, 22)).astype(np.int16), "spacing": (3.0, 2.0, 2.0), "id": 1},
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return dict(self.items[i])


def _aug() -> fm.Compose:
    return fm.Compose([fm.RandomCrop((16, 16, 16)), fm.RandomElastic(grid_spacing=8.0), fm.RandomGamma()])


def _grid_shape(record: dict[str, Any]) -> tuple[int, ...]:
    (elastic,) = [op for op in record["ops"] if op["op"] == "RandomElastic"]
    return np.shape(elastic["params"]["grid"])


@pytest.mark.parametrize(
    ("num_workers", "fast"),
    [(0, False), (2, False), (0, True), (2, True)],
    ids=["generic-0", "generic-2", "fast-0", "fast-2"],
)
def test_params_of_different_geometries_stay_a_list(num_workers: int, fast: bool) -> None:
    ds, aug = TwoGeometries(), _aug()
    loader = fm.DataLoader(ds, batch_size=2, transform=aug, seed=SEED, num_workers=num_workers, fast=fast)
    (batch,) = list(loader)

    want = [aug(ds[i], seed=SEED, index=i, epoch=0) for i in range(2)]
    assert _grid_shape(want[0]["params"]) != _grid_shape(want[1]["params"])  # the case default_collate refuses
    with pytest.raises(RuntimeError):
        default_collate(want)

    assert isinstance(batch["params"], list) and len(batch["params"]) == 2
    assert batch["params"] == [w["params"] for w in want]
    np.testing.assert_array_equal(batch["image"].numpy(), np.stack([np.asarray(w["image"]) for w in want]))
    rest = default_collate([{k: v for k, v in w.items() if k not in ("params", "image")} for w in want])
    assert batch["id"].tolist() == rest["id"].tolist()
    for got, ref in zip(batch["spacing"], rest["spacing"], strict=True):
        torch.testing.assert_close(got, ref)
    assert list(batch) == list(want[0])  # the samples' key order

    stacked = aug.batch([ds[0], ds[1]], seed=SEED, indices=[0, 1], stack=True)
    assert batch["params"] == stacked["params"]


def test_keep_replay_leaves_other_batches_to_the_collate_fn() -> None:
    keep = KeepReplay(default_collate)
    plain = [{"params": [1, 2], "x": 1.0}, {"params": [3, 4], "x": 2.0}]  # not replay records: torch's rules
    got, ref = keep(plain), default_collate(plain)
    assert [t.tolist() for t in got["params"]] == [t.tolist() for t in ref["params"]]
    assert keep([1, 2]).tolist() == [1, 2]
    assert is_replay_record({"seed": 0, "epoch": 0, "index": 0, "ops": []})
    assert not is_replay_record({"seed": 0, "ops": []})


def test_a_custom_collate_fn_gets_the_records_as_they_are() -> None:
    ds, aug = TwoGeometries(), _aug()
    seen: list[Any] = []

    def mine(samples: list[dict[str, Any]]) -> int:
        seen.extend(s["params"] for s in samples)
        return len(samples)

    assert list(fm.DataLoader(ds, batch_size=2, transform=aug, seed=SEED, collate_fn=mine)) == [2]
    assert all(is_replay_record(r) for r in seen) and len(seen) == 2
