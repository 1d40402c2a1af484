"""The recipes' batches carry the right image, mask, labels and report of each sample.

Oracles: each sample of a ``fm.DataLoader`` batch equals the ``Compose`` applied by hand to that series with the
loader's key ``(seed, index, epoch)``; labels are the store's; report tokens are the tokenizer's encoding of the
store's report; masks are the stored lesion masks under the same crop.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch

from fastmed.store.dataset import VolumeDataset
from fastmed.train.recipes import DataConfig
from fastmed.train.recipes.data import TaskItems, make_loader, split_by_study, train_compose, with_intensity
from fastmed.train.recipes.evaluate import evaluate, segment_volumes
from fastmed.train.text.tokenizer import train_report_tokenizer


def test_batches_hold_each_samples_image_mask_labels_and_report(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    names = list(ds.label_names)
    label_index = [names.index("lesion_present"), names.index("lesion_count")]
    items = TaskItems(ds, split.train, label_index, with_mask=True)
    tok = train_report_tokenizer(items.reports(), vocab_size=300)
    items.tokenizer = tok
    aug = train_compose((16, 32, 32), None, 0.75, seg=True)
    loader = make_loader(items, aug, DataConfig(batch_size=3, num_workers=2), seed=5, train=True)
    seen = 0
    for batch in loader:
        for pos, k in enumerate(batch["index"].tolist()):
            src = ds[split.train[k]]
            want = aug(items[k], seed=5, index=k, epoch=0)
            np.testing.assert_array_equal(batch["image"][pos].numpy(), np.asarray(want["image"]))
            np.testing.assert_array_equal(batch["label"][pos].numpy(), np.asarray(want["label"]))
            np.testing.assert_array_equal(batch["labels"][pos].numpy(), src["labels"][label_index])
            ids, mask = tok.encode_batch([src["report"]], 64)
            np.testing.assert_array_equal(batch["report_ids"][pos].numpy(), ids[0])
            np.testing.assert_array_equal(batch["report_mask"][pos].numpy(), mask[0])
            assert batch["study"][pos] == src["study_id"]
            seen += 1
    assert seen == len(items) - len(items) % 3
    # the crop of the mask is the stored mask under the image's crop: lesion voxels only where the series has them
    full = {k: ds[i]["label"].read() for k, i in enumerate(split.train)}
    assert any(m.any() for m in full.values())


class _Oracle(torch.nn.Module):
    """Predicts the lesion class everywhere, or nowhere."""

    def __init__(self, everywhere: bool):
        super().__init__()
        self.everywhere = everywhere
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = torch.full_like(x, 1.0 if self.everywhere else -1.0)
        return torch.cat([torch.zeros_like(x), fg], dim=1) + 0 * self.w


def test_whole_volume_seg_dice_against_numpy(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.holdout, with_mask=True)
    held = [items[k] for k in range(len(items))]
    masks = [ds[i]["label"].read() > 0 for i in split.holdout]
    none = segment_volumes(_Oracle(False), held, (16, 32, 32), "fp32", torch.device("cpu"))
    assert none["n_eval_lesion_volumes"] == sum(m.any() for m in masks) > 0 and none["dice"] == 0.0
    every = segment_volumes(_Oracle(True), held, (16, 32, 32), "fp32", torch.device("cpu"))
    want = [2 * m.sum() / (m.size + m.sum()) for m in masks if m.any()]  # prediction = whole volume
    assert every["dice"] == pytest.approx(float(np.mean(want)))
    pooled = 2 * sum(m.sum() for m in masks) / sum(m.size + m.sum() for m in masks)
    assert every["dice_global"] == pytest.approx(float(pooled))


class _LeftQuarter(torch.nn.Module):
    """Lesion logit +3 on the first quarter of the last axis, -1 elsewhere: not symmetric under a flip."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fg = torch.full_like(x, -1.0)
        fg[..., : x.shape[-1] // 4] = 3.0
        return torch.cat([torch.zeros_like(x), fg], dim=1) + 0 * self.w


def test_mirroring_averages_flipped_predictions(recipe_store: Path) -> None:
    # one window = the whole 24x64x64 volume; mirrored along the last axis the averaged lesion probability is
    # (0.95 + 0.27) / 2 > 0.5 in both outer quarters and 0.27 in the middle (softmax of the logits above)
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.holdout, with_mask=True)
    held = [items[k] for k in range(len(items))]
    masks = [ds[i]["label"].read() > 0 for i in split.holdout]
    assert all(m.shape == (24, 64, 64) for m in masks)
    plain, both = np.zeros((24, 64, 64), bool), np.zeros((24, 64, 64), bool)
    plain[..., :16] = both[..., :16] = both[..., 48:] = True
    for mirror, pred in (((), plain), ((2,), both)):
        got = segment_volumes(_LeftQuarter(), held, (24, 64, 64), "fp32", torch.device("cpu"), mirror=mirror)
        inter = sum(float((m & pred).sum()) for m in masks)
        total = sum(float(m.sum() + pred.sum()) for m in masks)
        assert got["dice_global"] == pytest.approx(2 * inter / total)


def test_whole_volume_inputs_are_the_letterboxed_series(recipe_store: Path) -> None:
    # cls / clip with whole_volume: each sample is the whole series fitted into the model input (fm.Letterbox,
    # scipy.ndimage.zoom's resampling) and z-scored with the series' statistics, whatever the seed
    from scipy import ndimage

    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.train[:4])
    aug = train_compose((12, 32, 32), None, 0.75, seg=False, whole=True)
    loader = make_loader(items, aug, DataConfig(batch_size=2, num_workers=1), seed=5, train=True)
    for batch in loader:
        for pos, k in enumerate(batch["index"].tolist()):
            vol = np.asarray(ds[split.train[k]]["image"].read(), dtype=np.float64)
            assert vol.shape == (24, 64, 64)  # the small archive: one scale 0.5 fills the 12x32x32 input
            small = ndimage.zoom(vol, 0.5, order=1, grid_mode=False)
            want = (small - vol.mean()) / vol.std()
            np.testing.assert_allclose(batch["image"][pos, 0].numpy(), want, rtol=0, atol=0.05)


def test_intensity_clip_comes_before_the_z_score(recipe_store: Path) -> None:
    # data.intensity_clip: raw values clipped, then z-scored with the clipped series' statistics (numpy formula)
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.train[:4])
    aug = with_intensity(train_compose((24, 64, 64), None, 0.75, seg=False, whole=True), (-200.0, 300.0))
    for k in range(4):
        vol = np.clip(np.asarray(ds[split.train[k]]["image"].read(), dtype=np.float64), -200.0, 300.0)
        got = np.asarray(aug(items[k], seed=0, index=k)["image"])[0]
        np.testing.assert_allclose(got, (vol - vol.mean()) / vol.std(), rtol=0, atol=0.05)


def test_split_keeps_only_the_asked_modalities(recipe_store: Path) -> None:
    import pyarrow.parquet as pq

    ds = VolumeDataset(recipe_store)
    table = pq.read_table(recipe_store / "series.parquet").to_pylist()  # the store table, read without fastmed
    modality = {r["series_id"]: r["modality"] for r in table}
    volumes = {i for i in range(len(ds)) if ds[i]["image"].ndim == 3}
    ct = {i for i in volumes if modality[ds[i]["id"]] == "CT"}
    assert ct and ct != volumes  # the archive holds CT and MR volumes
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present", modalities=["CT"])
    assert set(split.train) | set(split.holdout) == ct
    assert not set(split.train) & set(split.holdout)
    both = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present", modalities=["CT", "MR"])
    assert set(both.train) | set(both.holdout) == volumes
    with pytest.raises(ValueError, match="no 3D series of modality"):
        split_by_study(ds, 3, 0.25, seed=0, modalities=["PT"])


def test_random_flip_mirrors_the_letterboxed_series(recipe_store: Path) -> None:
    # data.random_flip=1: every axis flipped, i.e. the unflipped training input reversed along all axes (numpy)
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.train[:3])
    plain = train_compose((24, 64, 64), None, 0.75, seg=False, whole=True)
    flipped = train_compose((24, 64, 64), None, 0.75, seg=False, whole=True, flip=1.0)
    for k in range(3):
        want = np.flip(np.asarray(plain(items[k], seed=1, index=k)["image"]), axis=(1, 2, 3))
        np.testing.assert_allclose(np.asarray(flipped(items[k], seed=1, index=k)["image"]), want, rtol=0, atol=1e-5)


class _Weighted(torch.nn.Module):
    """A logit that depends on where the voxels are (a fixed weight per voxel), so mirroring changes it."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.w = torch.nn.Parameter(torch.from_numpy(np.random.default_rng(0).normal(size=shape).astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x[:, 0] * self.w).flatten(1).sum(1, keepdim=True) / 10.0


def test_tta_flips_average_the_eight_mirror_images() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 1, 3, 4, 5)).astype(np.float32)
    model = _Weighted((3, 4, 5))
    w = model.w.detach().numpy().astype(np.float64)
    batch = {
        "image": torch.from_numpy(x),
        "labels": np.array([[0.0], [1.0], [0.0], [1.0], [1.0]]),
        "study": list("abcde"),
    }
    got: dict[str, object] = {}
    evaluate("cls", model, [batch], label_names=["y"], predictions=got, tta_flips=True)
    views = []
    for bits in itertools.product((False, True), repeat=3):
        axes = tuple(1 + a for a in range(3) if bits[a])
        xf = np.flip(x[:, 0].astype(np.float64), axis=axes) if axes else x[:, 0].astype(np.float64)
        views.append(1.0 / (1.0 + np.exp(-(xf * w).sum(axis=(1, 2, 3)) / 10.0)))
    np.testing.assert_allclose(np.asarray(got["probs"])[:, 0], np.mean(views, axis=0), rtol=1e-5)
    plain: dict[str, object] = {}
    evaluate("cls", model, [batch], label_names=["y"], predictions=plain)
    np.testing.assert_allclose(np.asarray(plain["probs"])[:, 0], views[0], rtol=1e-5)


def test_clip_by_modality_windows_ct_and_leaves_mr_in_mixed_batches(recipe_store: Path) -> None:
    # data.clip_by_modality={CT: [-200, 300]}: the CT series clipped then z-scored, the MR series z-scored raw
    # (numpy formulas), through the loader's fused batches that hold both modalities
    ds = VolumeDataset(recipe_store)
    split = split_by_study(ds, 3, 0.25, seed=0, stratify="lesion_present")
    items = TaskItems(ds, split.train)
    assert {"CT", "MR"} <= {items[k]["modality"] for k in range(len(items))}
    aug = with_intensity(train_compose((24, 64, 64), None, 0.75, seg=False, whole=True), None, {"CT": [-200, 300]})
    loader = make_loader(items, aug, DataConfig(batch_size=4, num_workers=1), seed=2, train=True)
    mixed = 0
    for batch in loader:
        mixed += len(set(batch["modality"])) > 1
        for pos, k in enumerate(batch["index"].tolist()):
            src = ds[split.train[k]]
            vol = np.asarray(src["image"].read(), dtype=np.float64)
            if src["modality"] == "CT":
                vol = np.clip(vol, -200.0, 300.0)
            want = (vol - vol.mean()) / vol.std()
            # the z-score's statistics are estimated from a strided subsample (fastmed.transforms.stats): ~1 %
            np.testing.assert_allclose(batch["image"][pos, 0].numpy(), want, rtol=0.02, atol=0.05)
            single = np.asarray(aug(items[k], seed=2, index=k)["image"])
            np.testing.assert_array_equal(batch["image"][pos].numpy(), single)
    assert mixed > 0
