"""The index's folder walk lists what ``os.walk`` + ``os.stat`` listed (the reference)."""

from __future__ import annotations

import os
from pathlib import Path

from fastmed.dicom.index import _walk


def _reference(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        for name in sorted(filenames):
            try:
                os.stat(os.path.join(dirpath, name))
            except OSError:
                continue
            out.append(name if rel_dir == "." else os.path.join(rel_dir, name))
    return out


def test_walk_matches_os_walk(tmp_path: Path) -> None:
    (tmp_path / "b" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "a").mkdir()
    (tmp_path / "elsewhere").mkdir()
    for rel in ["z.dcm", "a/1.dcm", "a/10.dcm", "a/2.dcm", "b/deep/er/x", "b/deep/y.txt", "elsewhere/o.dcm", "A.dcm"]:
        (tmp_path / rel).write_bytes(b"x")
    os.symlink(tmp_path / "elsewhere", tmp_path / "b" / "link_to_dir")  # listed by neither, not followed
    os.symlink(tmp_path / "z.dcm", tmp_path / "a" / "link_to_file")  # listed
    os.symlink(tmp_path / "gone", tmp_path / "a" / "dangling")  # left out
    (tmp_path / "empty").mkdir()
    got = _walk(tmp_path)
    assert got == _reference(tmp_path)
    assert "a/link_to_file" in got and "a/dangling" not in got
    assert not any(r.startswith("b/link_to_dir") for r in got)
