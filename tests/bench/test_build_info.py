"""Bench reports stamp the commit recorded at build time (setup.py), never that of a surrounding repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from fastmed.bench import report

ROOT = Path(__file__).resolve().parents[2]


def _build_info_of(tree: Path) -> dict[str, object]:
    subprocess.run([sys.executable, "setup.py", "--name"], cwd=tree, check=True, capture_output=True)
    ns: dict[str, object] = {}
    exec((tree / "fastmed" / "_build_info.py").read_text(), ns)
    return {k: ns[k] for k in ("VERSION", "COMMIT", "DIRTY")}


def _git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=tree, check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_setup_records_version_and_commit(tmp_path: Path) -> None:
    outer = tmp_path / "outer"  # a repository around the source tree: its commit must not be used
    tree = outer / "src"
    (tree / "fastmed").mkdir(parents=True)
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    _git(outer, "init", "-q")
    _git(outer, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "outer")
    info = _build_info_of(tree)
    assert info["COMMIT"] == "unknown" and info["DIRTY"] is None
    assert info["VERSION"] == __import__("fastmed").__version__
    _git(tree, "init", "-q")
    _git(tree, "add", "setup.py", "pyproject.toml", "README.md")
    _git(tree, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "tree")
    info = _build_info_of(tree)
    assert info["COMMIT"] == _git(tree, "rev-parse", "HEAD") and info["DIRTY"] is False
    (tree / "README.md").write_text("changed")
    assert _build_info_of(tree)["DIRTY"] is True


def test_report_stamps_the_build_info(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("fastmed._build_info")
    fake.VERSION, fake.COMMIT, fake.DIRTY = "9.9", "abc123", False  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fastmed._build_info", fake)
    env = report.environment()
    assert (env["commit"], env["dirty"], env["fastmed_version"]) == ("abc123", False, "9.9")
    monkeypatch.setitem(sys.modules, "fastmed._build_info", None)  # not recorded: import fails
    assert report.environment()["commit"] == "unknown"
