"""A bad command line is refused before any data is read, naming the override to fix; run-time input errors
(no store, missing labels) end with one line and exit code 1, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastmed.cli import main
from fastmed.train.recipes.cli import compose_config
from fastmed.train.recipes.config import CHOICES, RunConfig, config_problems

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.precision=fp8", "trainer.precision"),
        ("trainer.precision=fp16", "trainer.precision='fp16' needs trainer.device=cuda"),
        ("trainer.schedule=linear", "trainer.schedule"),
        ("model.head=lin", "model.head"),
        ("model.pool=sum", "model.pool"),
        ("model.clip_pool=cls", "model.clip_pool"),
        ("model.name=vit5", "model.name"),
        ("data.patch_size=[20,64,64]", "data.patch_size"),
        ("data.patch_size=[64,64]", "data.patch_size"),
        ("model.img_size=[32,32,30]", "model.img_size"),
        ("trainer.accumulate=0", "trainer.accumulate"),
        ("trainer.max_steps=0", "trainer.max_steps"),
        ("data.holdout=1.0", "data.holdout"),
        ("data.label_fraction=0", "data.label_fraction"),
        ("data.batch_size=0", "data.batch_size"),
        ("data.random_flip=1.5", "data.random_flip"),
        ("model.probe_blocks=5", "model.probe_blocks"),
        ("model.probe_blocks=-1", "model.probe_blocks"),
    ],
)
def test_each_bad_setting_is_named(override: str, key: str) -> None:
    problems = config_problems(compose_config("cls", ["data.store=x.zarr", override]))
    assert len(problems) == 1 and problems[0].startswith(key), problems


def test_sound_configs_have_no_problems() -> None:
    for task in ("mae", "clip", "cls", "seg"):
        for model in ("vit3d_tiny", "vit2d_tiny", "vit3d_small", "vit2d_small"):
            assert config_problems(compose_config(task, ["data.store=x.zarr", f"model={model}"])) == []
    assert config_problems(compose_config("mae", ["data=synth", "trainer.precision=bf16"])) == []
    assert config_problems(compose_config("seg", ["data.store=s", "data.patch_size=[16,32,32]"])) == []
    gpu = ["data.store=s", "trainer.precision=fp16", "trainer.device=cuda"]
    assert config_problems(compose_config("cls", gpu)) == []
    (only,) = config_problems(RunConfig())  # the schema's defaults lack only the store
    assert only.startswith("data.store is empty")


def test_choices_are_the_ones_the_modules_accept() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("monai")
    from fastmed.train.engine.precision import PRECISIONS
    from fastmed.train.models.clip import POOLS
    from fastmed.train.models.config import get_config
    from fastmed.train.models.heads import linear_probe
    from fastmed.train.models.vit import ViTEncoder
    from fastmed.train.recipes.schedule import SCHEDULES

    assert CHOICES["trainer.precision"] == PRECISIONS
    assert CHOICES["model.clip_pool"] == POOLS
    assert CHOICES["trainer.schedule"] == SCHEDULES
    enc = ViTEncoder(get_config("vit2d_tiny"))
    for pool in CHOICES["model.pool"]:
        linear_probe(enc, 1, pool)
    with pytest.raises(ValueError):
        linear_probe(enc, 1, "sum")
    assert torch.device(CHOICES["trainer.device"][1]).type == "cuda"


def test_cli_refuses_at_once_and_reports_input_errors_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "r"
    code = main(["finetune", "cls", "data.store=x.zarr", "trainer.precision=fp16", f"run_dir={run_dir}"])
    out = capsys.readouterr()
    assert code == 2 and "bad configuration" in out.out and "trainer.precision='fp16'" in out.out
    assert not run_dir.exists()  # nothing written
    store = tmp_path / "nope.zarr"
    code = main(["pretrain", "mae", f"data.store={store}", f"run_dir={run_dir}"])
    err = capsys.readouterr().err
    assert code == 1 and f"data.store={store}: no such store" in err and "Traceback" not in err
    assert main(["label-efficiency", "data.store=x.zarr", "model.head=lin"]) == 2
    assert "model.head" in capsys.readouterr().out
    assert main(["export", str(tmp_path / "nothing")]) == 1
    assert "not a finished fastmed run folder" in capsys.readouterr().err


def test_the_cli_runs_as_a_module_with_exit_code_2(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    res = subprocess.run(
        [sys.executable, "-m", "fastmed", "pretrain", "mae", "data.store=x.zarr", "model.pool=sum"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert res.returncode == 2 and "model.pool='sum'" in res.stdout, res.stdout + res.stderr


def test_appended_keys_that_are_no_setting_are_refused() -> None:
    for bad, name in (("+foo=1", "foo"), ("+trainer.max_step=3", "max_step"), ("+data.bar=[1]", "bar")):
        with pytest.raises(ValueError, match=f"unknown keys.*{name}"):
            compose_config("mae", ["data.store=x.zarr", bad])
    assert compose_config("mae", ["data=synth", "data.patch_size=null"]).data.patch_size is None  # back to default


def test_too_few_series_for_the_batch_names_the_setting(
    recipe_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    import fastmed as fm
    from fastmed.train.models.config import get_config
    from fastmed.train.recipes.data import split_by_study

    split = split_by_study(fm.VolumeDataset(recipe_store), 2, 0.25, 0, stratify="lesion_present")
    too_many = len(split.train) + 1  # the radiographs of the small store, one short of a batch
    store, batch = f"data.store={recipe_store}", f"data.batch_size={too_many}"
    code = main(["pretrain", "mae", store, "model=vit2d_tiny", batch, f"run_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert code == 1 and f"{len(split.train)} training series with 2D images" in err
    assert f"data.batch_size={too_many}" in err and get_config("vit2d_tiny").spatial_dims == 2


def test_clip_by_modality_is_a_hydra_mapping() -> None:
    # a key added to a mapping of the schema, as Hydra adds one: +data.clip_by_modality.CT=[low,high]
    cfg = compose_config("cls", ["data.store=x.zarr", "+data.clip_by_modality.CT=[-160,240]"])
    assert cfg.data.clip_by_modality == {"CT": [-160.0, 240.0]}
    assert config_problems(cfg) == []
    bad = compose_config("cls", ["data.store=x.zarr", "+data.clip_by_modality.CT=[240,-160]"])
    assert [p.split("=")[0] for p in config_problems(bad)] == ["data.clip_by_modality.CT"]
    # the seg patch sampler would train every series with one Compose: refused rather than silently unwindowed
    seg = ["data.store=x.zarr", "data.patch_size=[16,32,32]", "+data.clip_by_modality.CT=[-160,240]"]
    assert config_problems(compose_config("seg", seg)) == []
    (only,) = config_problems(compose_config("seg", [*seg, "data.foreground_prob=0.5"]))
    assert only.startswith("data.clip_by_modality: not with data.foreground_prob")
