"""Every CUDA source compiles: with nvcc for sm_80 and sm_90, and with NVRTC (what CuPy loads).

Neither needs a GPU. Each check skips, saying why, where its compiler is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fastmed.cuda_modules import nvrtc_options
from fastmed.kernel_sources import cuda_sources, include_dir

SOURCES = cuda_sources()
# csrc/include/fastmed holds only headers shared with the GPU build; host-only ones (the
# DICOM parser) live in csrc/cpu. Each shared header must compile alone under NVRTC.
HEADERS = sorted((include_dir() / "fastmed").glob("*.h"))


def _nvcc() -> str | None:
    return shutil.which("nvcc") or next(
        (str(p) for p in sorted(Path("/usr/local").glob("cuda*/bin/nvcc")) if p.exists()), None
    )


def test_there_are_cuda_sources() -> None:
    assert SOURCES, "csrc/cuda has no .cu files"


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_nvcc_compiles(source: Path, arch: str, tmp_path: Path) -> None:
    nvcc = _nvcc()
    if nvcc is None:
        pytest.skip("nvcc not found on PATH or under /usr/local/cuda*")
    out = tmp_path / f"{source.stem}.{arch}.cubin"
    cmd = [nvcc, "-std=c++17", f"-arch={arch}", "-cubin", f"-I{include_dir()}", str(source), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


def _nvrtc():  # type: ignore[no-untyped-def]
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # ImportError, or libnvrtc missing
        pytest.skip(f"NVRTC unavailable ({type(exc).__name__}: {exc}); install the [cuda] extra")
    return nvrtc


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("source", SOURCES, ids=[p.name for p in SOURCES])
def test_nvrtc_compiles(source: Path, arch: str) -> None:
    nvrtc = _nvrtc()
    prog = nvrtc.createProgram(source.read_text(), source.name, [], [])
    try:
        try:
            nvrtc.compileProgram(prog, nvrtc_options(arch))
        except nvrtc.NVRTCError as exc:
            log = nvrtc.getProgramLog(prog)
            pytest.fail(f"NVRTC failed on {source.name}: {exc}\n{log}")
        ptx = nvrtc.getPTX(prog)
        assert b".entry" in ptx if isinstance(ptx, bytes) else ".entry" in ptx
    finally:
        nvrtc.destroyProgram(prog)


@pytest.mark.parametrize("header", HEADERS, ids=[p.name for p in HEADERS])
def test_every_shared_header_compiles_with_nvrtc(header: Path) -> None:
    nvrtc = _nvrtc()
    src = f'#include "fastmed/{header.name}"\nextern "C" __global__ void fm_header_probe(int* p) {{ *p = 1; }}\n'
    prog = nvrtc.createProgram(src, f"probe_{header.stem}.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, nvrtc_options("compute_80"))
        except nvrtc.NVRTCError as exc:
            pytest.fail(
                f"{header.name} is not GPU-shareable (NVRTC: {exc}); host-only headers go in csrc/cpu\n"
                f"{nvrtc.getProgramLog(prog)}"
            )
    finally:
        nvrtc.destroyProgram(prog)
