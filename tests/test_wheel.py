"""The wheel: built with `python -m build`, carries the extension and kernel sources, and runs
from a fresh venv with no compiler on PATH."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ, FASTMED_BUILD_JOBS="2")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    wheels = list(out.glob("fastmed-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def test_wheel_contents(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("fastmed/_core") and n.endswith(".so") for n in names)
    assert "fastmed/py.typed" in names
    cuda = {Path(n).name for n in names if n.startswith("fastmed/_csrc/cuda/")}
    assert cuda == {p.name for p in (ROOT / "csrc" / "cuda").glob("*.cu")}
    headers = {Path(n).name for n in names if n.startswith("fastmed/_csrc/include/fastmed/")}
    assert headers == {p.name for p in (ROOT / "csrc" / "include" / "fastmed").glob("*.h")}
    # No test data, build trees or sources of the bindings leak into the wheel.
    assert not any(n.startswith(("tests/", "build/", "csrc/")) for n in names)


def test_wheel_runs_in_fresh_venv_without_compiler(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    vpy = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(vpy), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(vpy), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    # Dependencies come from the test environment, appended after the fresh venv's own site-packages,
    # so `fastmed` itself resolves to the installed wheel.
    deps = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (purelib / "zz_test_deps.pth").write_text("\n".join(deps) + "\n")
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    for compiler in ("gcc", "g++", "cc", "c++", "nvcc"):
        assert not (venv / "bin" / compiler).exists()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=tmp_path)

    where = run(str(vpy), "-c", "import fastmed, fastmed._native as n; print(fastmed.__file__); print(n.core.__file__)")
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(venv)) for line in where.stdout.split()), where.stdout
    helped = run(str(venv / "bin" / "fastmed"), "--help")
    assert helped.returncode == 0, helped.stderr
    assert "demo" in helped.stdout
    src = run(str(vpy), "-c", "from fastmed.kernel_sources import cuda_sources; print(len(cuda_sources()))")
    assert src.returncode == 0 and int(src.stdout) >= 1, src.stderr
    archive = tmp_path / "archive"
    synth = run(str(venv / "bin" / "fastmed"), "synth", str(archive), "--studies", "1", "--seed", "3")
    assert synth.returncode == 0, synth.stderr
    check = run(
        str(vpy),
        "-c",
        "import sys, pydicom, pathlib; fs = sorted(pathlib.Path(sys.argv[1]).rglob('*.dcm')); "
        "assert fs; [pydicom.dcmread(f).pixel_array for f in fs]; print(len(fs))",
        str(archive),
    )
    assert check.returncode == 0, check.stderr
    assert int(check.stdout) > 0
