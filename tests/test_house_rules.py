"""The house rules the review enforces, run as tests: ruff and mypy clean, one import site for _core."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> list[str]:
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} not installed (install the [test] extra)")
    return [found]


def test_ruff_clean() -> None:
    proc = subprocess.run(
        [*_tool("ruff"), "check", "fastmed", "tests", "bench"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_clean() -> None:
    proc = subprocess.run([*_tool("mypy"), "fastmed"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_extension_imported_in_one_place() -> None:
    offenders = []
    for path in (ROOT / "fastmed").rglob("*.py"):
        if path.name == "_native.py":
            continue
        text = path.read_text()
        if re.search(r"from fastmed import _core|import fastmed\._core|from \. import _core|\"fastmed\._core\"", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_no_global_rng_in_package_code() -> None:
    pattern = re.compile(
        r"np\.random\.(seed|rand|randn|randint|normal|uniform|choice|shuffle)\(|^\s*import random$|torch\.manual_seed",
        re.M,
    )
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "fastmed").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_no_host_specific_arch_in_build() -> None:
    assert "-march=native" not in (ROOT / "setup.py").read_text()


def _imported_modules(path: Path) -> list[str]:
    """Absolute module names a file imports (relative imports resolved; ``import_module("...")`` strings too)."""
    import ast

    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names.extend(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names.extend(a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str))
    return names


def test_transforms_never_import_backends() -> None:
    """Planning (fastmed.transforms) only sees the executor registry; backends register into it."""
    offenders = []
    for path in sorted((ROOT / "fastmed" / "transforms").rglob("*.py")):
        bad = [m for m in _imported_modules(path) if m == "fastmed.backends" or m.startswith("fastmed.backends.")]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(set(bad))}")
    assert offenders == []


def test_backends_do_not_import_each_other() -> None:
    """A backend imports the package, ``common`` and its own family's modules (cuda_*, dali_*), no other backend."""
    offenders = []
    for path in sorted((ROOT / "fastmed" / "backends").glob("*.py")):
        family = path.stem.split("_")[0]
        for m in _imported_modules(path):
            if not m.startswith("fastmed.backends."):
                continue
            other = m.split(".")[2]
            if not (path.parent / f"{other}.py").exists():  # a name from the package (register_backend)
                continue
            if path.stem != "__init__" and other not in ("common",) and other.split("_")[0] != family:
                offenders.append(f"{path.relative_to(ROOT)} imports {m}")
    assert offenders == []
