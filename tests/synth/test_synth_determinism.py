"""Same seed, same bytes; another seed, other bytes; sizes and options behave."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.synth import ArchiveInfo, generate_archive, load_truth
from fastmed.synth.cli import add_parser
from fastmed.synth.encode import HTJ2K, RLE
from fastmed.synth.plan import resolve_size


def _tree(root: str | Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_bytes(archive: ArchiveInfo, tmp_path: Path) -> None:
    generate_archive(tmp_path, 6, archive.seed, save_pixels=True)
    first, second = _tree(archive.root), _tree(tmp_path)
    assert first.keys() == second.keys()
    assert "labels.csv" in first and sum(n.endswith(".nii.gz") for n in first) == sum(1 for _ in archive.all_series())
    for name in first:
        assert first[name] == second[name], name


def test_other_seed_gives_other_files(archive: ArchiveInfo, tmp_path: Path) -> None:
    other = generate_archive(tmp_path, 6, archive.seed + 1)
    a, b = _tree(archive.root), _tree(tmp_path)
    shared = [n for n in a.keys() & b.keys() if n.endswith(".dcm")]
    assert shared and all(a[n] != b[n] for n in shared)
    uids_a = {s.series_uid for s in archive.all_series()}
    uids_b = {s.series_uid for s in other.all_series()}
    assert not uids_a & uids_b


def test_truth_round_trips(archive: ArchiveInfo) -> None:
    loaded = load_truth(archive.root)
    assert loaded == archive
    raw = json.loads(Path(archive.root, "truth.json").read_text())
    assert raw["seed"] == archive.seed and len(raw["studies"]) == 6


def test_explicit_shape_and_transfer_syntax_choice(tmp_path: Path) -> None:
    info = generate_archive(tmp_path, 2, 5, shape=(12, 40, 48), transfer_syntaxes=["rle", HTJ2K])
    vols = [s for s in info.all_series() if s.modality in ("CT", "MR")]
    assert all(s.shape == (12, 40, 48) for s in vols)
    assert {s.transfer_syntax for s in info.all_series()} == {RLE, HTJ2K}
    for s in vols:
        ds = pydicom.dcmread(info.path(s.files[0].path))
        assert ds.pixel_array.shape == (40, 48)


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="transfer syntax"):
        generate_archive(tmp_path, 1, 0, transfer_syntaxes=["jpeg2000-lossy"])
    with pytest.raises(ValueError, match="unknown size"):
        generate_archive(tmp_path, 1, 0, shape="huge")
    with pytest.raises(ValueError, match="too small"):
        resolve_size((2, 64, 64))


def test_cli_writes_archive(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="fastmed")
    add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(
        [
            "synth",
            str(out),
            "--studies",
            "1",
            "--seed",
            "4",
            "--size",
            "small",
            "--edge-case",
            "missing_slice",
        ]
    )
    assert args.func(args) == 0
    info = load_truth(out)
    assert info.seed == 4 and info.edge_cases == ["missing_slice"]
    assert len(list(out.rglob("*.dcm"))) == sum(len(s.files) for s in info.all_series())


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**63))
def test_any_seed_keeps_labels_on_lesions(seed: int, tmp_path_factory: pytest.TempPathFactory) -> None:
    info = generate_archive(tmp_path_factory.mktemp("hyp"), 1, seed, shape=(10, 32, 32))
    for s in info.all_series():
        labels = np.load(info.path(s.labels))
        for les in s.lesions:
            assert labels[tuple(int(round(v)) for v in les.centre_voxel)] == les.id
        assert len(s.slice_files()) == s.shape[0]
