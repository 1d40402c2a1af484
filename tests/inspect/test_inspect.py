"""``fastmed inspect`` end to end on a synthetic archive: the PNG exists, has its size, is not blank."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

import fastmed.transforms as T
from fastmed.errors import FastmedError, TransformError
from fastmed.inspect import cli, inspect_pipeline, load_input
from fastmed.inspect.montage import CAPTION_PX, TITLE_PX, montage_size
from fastmed.synth import ArchiveInfo, generate_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> ArchiveInfo:
    return generate_archive(tmp_path_factory.mktemp("inspect"), 3, 2)


def _series(info: ArchiveInfo, kind: str) -> tuple[Path, Path]:
    for st in info.studies:
        if st.kind == kind:
            folder = info.path(st.series[0].files[0].path).parent
            return folder, folder.parent / "labels_000.npy"
    raise AssertionError(f"no {kind} study")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fastmed")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


def _panels(png: np.ndarray, rows: int, views: int, panel: int) -> list[np.ndarray]:
    out = []
    for r in range(rows):
        top = r * (panel + TITLE_PX) + TITLE_PX
        for c in range(views):
            out.append(png[top : top + panel, c * panel : (c + 1) * panel, :3])
    return out


def test_cli_ct_series_with_labels(archive: ArchiveInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, labels = _series(archive, "CT")
    out = tmp_path / "ct.png"
    rc = _cli(
        ["inspect", str(folder), "-p", "r3d", "-n", "3", "--label", str(labels), "-o", str(out), "--panel-px", "128"]
    )
    assert rc == 0 and out.is_file()
    assert "wrote" in capsys.readouterr().out
    png = imread(out)
    assert (png.shape[1], png.shape[0]) == montage_size(4, 3, 128) == (3 * 128 + CAPTION_PX, 4 * (128 + TITLE_PX))
    for panel in _panels(png, 4, 3, 128):
        grey = panel.mean(axis=2)
        assert grey.std() > 0.05 and len(np.unique(grey)) > 16  # an image, not a flat panel
    red = (png[..., 0] > 0.9) & (png[..., 1] < 0.4) & (png[..., 2] < 0.4)
    assert red.sum() > 10  # label contours drawn
    caption_area = png[:, 3 * 128 :, :3].mean(axis=2)
    assert (caption_area > 0.5).sum() > 500  # caption text is there


def test_radiograph_is_one_panel_per_row(archive: ArchiveInfo, tmp_path: Path) -> None:
    folder, labels = _series(archive, "CR")
    inp = load_input(folder, label=labels)
    assert inp.ndim == 2 and inp.label is not None
    size = inspect_pipeline(inp, "xray2d", tmp_path / "x.png", n=2, panel_px=96)
    png = imread(tmp_path / "x.png")
    assert size == montage_size(3, 1, 96) == (png.shape[1], png.shape[0])
    assert all(p.mean(axis=2).std() > 0.05 for p in _panels(png, 3, 1, 96))


def test_npy_volume_json_and_yaml_pipelines_same_pixels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vol = rng.normal(size=(20, 30, 26)).astype(np.float64)  # converted once (not a kernel dtype)
    np.save(tmp_path / "v.npy", vol)
    aug = T.Compose([T.RandomCrop((16, 16, 16)), T.RandomAffine(degrees=10), T.RandomGamma(value_range=(-3, 3))])
    (tmp_path / "p.json").write_text(json.dumps(aug.to_dict()))
    yaml = pytest.importorskip("yaml")
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(aug.to_dict()))
    a = inspect_pipeline(
        tmp_path / "v.npy", tmp_path / "p.json", tmp_path / "a.png", n=2, spacing=(2, 1, 1), panel_px=64
    )
    b = inspect_pipeline(
        tmp_path / "v.npy", tmp_path / "p.yaml", tmp_path / "b.png", n=2, spacing=(2, 1, 1), panel_px=64
    )
    assert a == b == montage_size(3, 3, 64)
    np.testing.assert_array_equal(imread(tmp_path / "a.png"), imread(tmp_path / "b.png"))
    c = inspect_pipeline(tmp_path / "v.npy", aug, tmp_path / "c.png", n=2, spacing=(2, 1, 1), panel_px=64, seed=1)
    assert c == a
    assert not np.array_equal(imread(tmp_path / "a.png"), imread(tmp_path / "c.png"))  # another seed


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.zeros((8, 9, 10), np.int16))
    np.save(tmp_path / "l.npy", np.zeros((8, 9, 11), np.uint8))
    with pytest.raises(TransformError, match="neither a preset"):
        inspect_pipeline(tmp_path / "v.npy", "no-such-preset", tmp_path / "o.png")
    with pytest.raises(FastmedError, match="does not match"):
        load_input(tmp_path / "v.npy", label=tmp_path / "l.npy")
    with pytest.raises(FastmedError, match="no such"):
        load_input(tmp_path / "missing.npy")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TransformError, match="not valid JSON"):
        inspect_pipeline(tmp_path / "v.npy", tmp_path / "bad.json", tmp_path / "o.png")
    assert _cli(["inspect", str(tmp_path / "v.npy"), "-p", "nope", "-o", str(tmp_path / "o.png")]) == 2
    assert not (tmp_path / "o.png").exists()
