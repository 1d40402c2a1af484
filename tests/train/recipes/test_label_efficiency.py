"""Label efficiency through the cls recipe: stratified nested subsets of the training labels, and a tiny sweep.

Oracles: class counts recomputed with numpy from the labels (``ceil(f * n_class)``, at least one), set inclusion
for nesting, the store's own labels for the training series a run used (its ``metrics.json``), and each run's
held-out metric read back from its ``metrics.json``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fastmed.cli import main
from fastmed.store.dataset import VolumeDataset
from fastmed.train.metrics.label_efficiency import stratified_label_subsets
from fastmed.train.recipes import DataConfig, RunConfig, TrainerConfig
from fastmed.train.recipes.data import split_by_study
from fastmed.train.recipes.label_efficiency import labelled_subset, run_label_efficiency

FRACTIONS = (0.01, 0.1, 0.5, 1.0)


def test_subsets_keep_every_class_in_its_share() -> None:
    y = np.r_[np.zeros(170), np.ones(30), np.full(4, np.nan)]
    subs = stratified_label_subsets(y, FRACTIONS, seed=2)
    for f, idx in subs.items():
        assert np.array_equal(idx, np.unique(idx))  # sorted, no repeats
        for members in (np.flatnonzero(y == 0), np.flatnonzero(y == 1), np.flatnonzero(np.isnan(y))):
            want = min(members.size, max(1, math.ceil(f * members.size)))
            assert np.isin(idx, members).sum() == want, (f, members.size)
    assert np.array_equal(subs[1.0], np.arange(y.size))


def test_subsets_are_nested_and_keyed_by_the_seed() -> None:
    y = np.r_[np.zeros(60), np.ones(40)]
    a = stratified_label_subsets(y, FRACTIONS, seed=5)
    for small, big in zip(FRACTIONS, FRACTIONS[1:], strict=False):
        assert set(a[small]) < set(a[big])
    alone = stratified_label_subsets(y, (0.1,), seed=5)[0.1]  # a fraction's subset does not depend on the others
    assert np.array_equal(alone, a[0.1])
    other = stratified_label_subsets(y, (0.1,), seed=6)[0.1]
    assert not np.array_equal(other, a[0.1])
    with pytest.raises(ValueError):
        stratified_label_subsets(y, (0.0,), seed=0)
    with pytest.raises(ValueError):
        stratified_label_subsets([], (0.5,), seed=0)


def test_labelled_subset_takes_training_series_of_both_classes(recipe_store: Path) -> None:
    ds = VolumeDataset(recipe_store)
    col = ds.label_names.index("lesion_present")
    split = split_by_study(ds, 3, 0.25, seed=1, stratify="lesion_present")
    one = labelled_subset(ds, split.train, col, 0.01, seed=1)
    assert set(one) <= set(split.train)
    assert sorted(float(ds[i]["labels"][col]) for i in one) == [0.0, 1.0]  # one of each class
    half = labelled_subset(ds, split.train, col, 0.5, seed=1)
    assert set(one) <= set(half) <= set(split.train)
    assert labelled_subset(ds, split.train, col, 1.0, seed=1) == split.train
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fractions"):
            labelled_subset(ds, split.train, col, bad, seed=1)


def test_tiny_sweep_writes_the_curve(recipe_store: Path, tmp_path: Path) -> None:
    cfg = RunConfig(
        task="cls",
        seed=1,
        data=DataConfig(
            store=str(recipe_store), patch_size=[24, 32, 32], batch_size=4, num_workers=1, whole_volume=True
        ),
        trainer=TrainerConfig(max_steps=2, log_every=1, threads=1),
        run_dir=str(tmp_path / "le"),
    )
    seen: list[float] = []
    curve = run_label_efficiency(cfg, (1.0, 0.01), on_run=lambda f, _: seen.append(f))
    assert seen == [0.01, 1.0] and curve.fractions == [0.01, 1.0]
    assert curve.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads(curve.json_path.read_text())
    ds = VolumeDataset(recipe_store)
    col = ds.label_names.index("lesion_present")
    train = split_by_study(ds, 3, 0.25, seed=1, stratify="lesion_present").train
    assert doc["labelled_series"] == [2, len(train)] and doc["train_series"] == len(train)
    for f, run_dir, score in zip(doc["fractions"], doc["run_dirs"], doc["scores"], strict=True):
        report = json.loads((Path(run_dir) / "metrics.json").read_text())
        assert report["holdout_series"] == doc["holdout_series"]
        assert score == pytest.approx(report["metrics"]["auroc"])
        assert report["steps"] == 2
        if f < 1:
            picked = labelled_subset(ds, train, col, f, seed=1)
            assert report["train_series"] == len(picked) == 2


def test_cli_refuses_a_bad_override(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["label-efficiency", "trainer.max_step=3"]) == 2
    assert "bad configuration" in capsys.readouterr().out


def test_label_fraction_is_a_hydra_override() -> None:
    from fastmed.train.recipes.cli import compose_config

    assert compose_config("cls", ["data.label_fraction=0.1"]).data.label_fraction == 0.1
    assert compose_config("cls").data.label_fraction == 1.0
