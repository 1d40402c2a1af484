"""The oracle corpus: every file of pydicom's and pydicom-data's test data, by globbing.

(pydicom.data.get_testdata_files() tries the network for every name: not used.)
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path


def data_dirs() -> list[Path]:
    dirs = []
    try:
        import pydicom.data

        dirs.append(Path(pydicom.data.__file__).parent / "test_files")
    except ImportError:
        pass
    try:
        import data_store

        dirs.append(Path(data_store.__file__).parent / "data")
    except ImportError:
        pass
    return dirs


def all_files() -> list[Path]:
    out = []
    for d in data_dirs():
        out += sorted(p for p in d.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc"))
    return out


def label(p: Path) -> str:
    for d in data_dirs():
        if d in p.parents:
            return f"{d.parent.name}/{p.relative_to(d)}"
    return p.name


@cache
def pydicom_read(path: str, force: bool):  # type: ignore[no-untyped-def]
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=force)


def has_pixels(ds) -> bool:  # type: ignore[no-untyped-def]
    return any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"))


@cache
def pixel_bearing() -> tuple[Path, ...]:
    out = []
    for p in all_files():
        try:
            ds = pydicom_read(str(p), True)
        except Exception:
            continue
        if has_pixels(ds):
            out.append(p)
    return tuple(out)
