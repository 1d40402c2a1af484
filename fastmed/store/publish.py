"""Atomic publication of a written series group, and reading a published group's record."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from fastmed.store import layout


def publish(tmp: Path, final: Path) -> None:
    """Move the complete group ``tmp`` to ``final`` with a directory rename (atomic on one file system).

    A stale group already at ``final`` (its sources changed) is first renamed aside, then removed:
    at every instant ``final`` is either absent or a complete group.
    """
    trash = None
    if final.exists():
        trash = tmp.parent / f"{final.name}.old.{uuid.uuid4().hex[:12]}"
        os.rename(final, trash)
    os.rename(tmp, final)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def read_record(group: Path) -> dict[str, Any] | None:
    """The ``fastmed`` record in a published group's attributes, or ``None`` if absent/unreadable."""
    try:
        meta = json.loads((group / "zarr.json").read_text())
    except (OSError, ValueError):
        return None
    rec = meta.get("attributes", {}).get(layout.ATTR) if isinstance(meta, dict) else None
    return rec if isinstance(rec, dict) else None
