"""fm.VolumeDataset: store and manifest items agree (with fm.read_series as the oracle), pickle small,
and load through fm.DataLoader with a window-reading collate in spawned workers."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fastmed as fm
from fastmed.store import VolumeDataset, WindowCollate


@pytest.fixture(scope="module")
def from_store(store: Path) -> VolumeDataset:
    return fm.VolumeDataset(store)


@pytest.fixture(scope="module")
def from_manifest(manifest: fm.Manifest, annotations: dict[str, Any]) -> VolumeDataset:
    return fm.VolumeDataset(manifest, annotations=annotations)


def test_items_from_store_and_manifest_agree(from_store: VolumeDataset, from_manifest: VolumeDataset) -> None:
    assert sorted(from_store.ids) == sorted(from_manifest.ids) and len(from_store) == len(from_manifest)
    assert from_store.label_names == from_manifest.label_names == ("lesion", "lesion_count")
    where = {sid: k for k, sid in enumerate(from_manifest.ids)}
    for k in range(len(from_store)):
        a = from_store[k]
        b = from_manifest[where[a["id"]]]
        assert set(a) == set(b)
        for key in ("id", "study_id", "modality", "classes", "report", "spacing"):
            assert a[key] == b[key], key
        np.testing.assert_array_equal(a["labels"], b["labels"])
        assert a["image"].shape == b["image"].shape and a["image"].dtype == b["image"].dtype
        np.testing.assert_array_equal(a["image"].read(), b["image"].read())
        assert a["image"].stats == pytest.approx(dict(b["image"].stats))
        if "label" in a:
            np.testing.assert_array_equal(a["label"].read(), b["label"].read())


def test_manifest_item_is_read_series(from_manifest: VolumeDataset, manifest: fm.Manifest) -> None:
    item = from_manifest[0]
    row = manifest.find(item["id"])
    vol = fm.read_series(row.paths, series=row.series_id).array
    vol = vol[0] if vol.shape[0] == 1 else vol
    lo = tuple(n // 4 for n in vol.shape)
    hi = tuple(n // 2 + 1 for n in vol.shape)
    np.testing.assert_array_equal(item["image"].read_window(lo, hi), vol[tuple(map(slice, lo, hi))])


def test_items_are_lazy_and_pickle_small(from_store: VolumeDataset, from_manifest: VolumeDataset) -> None:
    for ds, limit in ((from_store, 2048), (from_manifest, 16384)):
        item = ds[0]
        blob = pickle.dumps(item)
        assert len(blob) < limit, len(blob)
        back = pickle.loads(blob)
        assert back["image"].shape == item["image"].shape
        np.testing.assert_array_equal(back["image"].read(), item["image"].read())
        # A decoded manifest handle still pickles without its voxels.
        assert len(pickle.dumps(item)) < limit


def test_transform_is_keyed_and_matches_the_array_path(from_store: VolumeDataset, store: Path) -> None:
    aug = fm.Compose([fm.RandomCrop((8, 16, 16)), fm.RandomFlip()], label_keys=("label",))
    ds = fm.VolumeDataset(store, transform=aug, seed=5)
    k = next(i for i in range(len(ds)) if from_store[i]["image"].ndim == 3)
    plain = from_store[k]
    sample = {"image": plain["image"].read()[None], "spacing": plain["spacing"]}
    if "label" in plain:
        sample["label"] = plain["label"].read()[None]
    want = aug(sample, seed=5, index=k, epoch=0)
    got = ds[k]
    np.testing.assert_array_equal(got["image"], want["image"])
    assert got["id"] == plain["id"]
    ds.set_epoch(1)
    assert ds[k]["params"] == aug(sample, seed=5, index=k, epoch=1)["params"]


def test_transform_reads_only_the_patch_footprint(
    from_store: VolumeDataset, store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a Compose, the store handle is asked for the plan's footprint box, not the whole volume."""
    from fastmed.store.window import StoreVolume

    boxes: list[tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = []
    original = StoreVolume.read_window

    def recording(self: Any, lo: Any, hi: Any) -> np.ndarray:
        boxes.append((tuple(self.shape), tuple(int(v) for v in lo), tuple(int(v) for v in hi)))
        return original(self, lo, hi)

    monkeypatch.setattr(StoreVolume, "read_window", recording)
    aug = fm.Compose([fm.RandomCrop((8, 16, 16)), fm.RandomFlip(), fm.RandomAffine(degrees=10)])
    ds = fm.VolumeDataset(store, transform=aug, seed=2)
    k = next(i for i in range(len(ds)) if from_store[i]["image"].ndim == 3)
    out = ds[k]
    assert out["image"].shape == (1, 8, 16, 16)
    assert boxes, "the lazy path was not taken"
    for shape, lo, hi in boxes:
        assert np.prod(np.subtract(hi, lo)) < np.prod(shape)


def _three_d(ds: VolumeDataset) -> list[int]:
    return [i for i in range(len(ds)) if ds[i]["image"].ndim == 3]


@pytest.mark.parametrize("workers", [0, 2])
def test_dataloader_with_window_collate(from_store: VolumeDataset, workers: int) -> None:
    from torch.utils.data import Subset

    idx = _three_d(from_store)
    collate = WindowCollate((8, 16, 16))
    kw: dict[str, Any] = {"multiprocessing_context": "spawn"} if workers else {}
    loader = fm.DataLoader(
        Subset(from_store, idx), batch_size=2, shuffle=True, seed=3, num_workers=workers, collate_fn=collate, **kw
    )
    seen = []
    for batch in loader:
        assert batch["image"].shape[1:] == (1, 8, 16, 16)
        for j, sid in enumerate(batch["id"]):
            item = from_store[from_store.ids.index(sid)]
            lo, hi = collate.box(item["image"].shape)
            np.testing.assert_array_equal(batch["image"][j, 0].numpy(), item["image"].read_window(lo, hi))
            np.testing.assert_array_equal(batch["labels"][j].numpy(), item["labels"])
            seen.append(sid)
    assert sorted(seen) == sorted(from_store.ids[i] for i in idx)


def test_handles_are_lazy_volumes(from_store: VolumeDataset, from_manifest: VolumeDataset) -> None:
    from fastmed.volume_source import STAT_NAMES, LazyVolume

    for ds in (from_store, from_manifest):
        item = ds[0]
        for key in ("image", "label"):
            if key in item:
                h = item[key]
                assert isinstance(h, LazyVolume)
                assert len(h.shape) == len(h.spacing) and isinstance(h.dtype, np.dtype)
                win = h.read_window((0,) * len(h.shape), h.shape)
                assert win.shape == h.shape and win.flags.c_contiguous and win.dtype == h.dtype
        assert set(item["image"].stats) == set(STAT_NAMES)
