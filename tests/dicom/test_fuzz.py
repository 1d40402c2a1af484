"""Short fixed-budget atheris run over the native parser, regression inputs, and seeded mutations.

Every input is either refused with a fastmed DicomError subclass or decodes to exactly what
pydicom decodes from the same bytes (tests/dicom/_oracle.py): a silent acceptance fails.
New crash inputs found by a run stay in the test's tmp_path, or go to $FASTMED_FUZZ_CRASH_DIR
when set (CI keeps them as artifacts); the source tree is never written. To keep one as a
regression case, copy it into tests/dicom/fuzz/crashes/ by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from . import _craft as c
from ._oracle import refused_or_same_as_pydicom
from ._realworld import seeds as realworld_seeds
from ._testdata import data_dirs

HERE = Path(__file__).parent
CRASHES = HERE / "fuzz" / "crashes"
RUNS = int(os.environ.get("FASTMED_FUZZ_RUNS", "3000"))


def _seed_corpus(dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    picks = [
        "CT_small.dcm",
        "MR_small_RLE.dcm",
        "JPEG2000.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "image_dfl.dcm",
        "ExplVR_BigEnd.dcm",
        "MR_small_implicit.dcm",
        "nested_priv_SQ.dcm",
        "UN_sequence.dcm",
    ]
    for d in data_dirs():
        for name in picks:
            p = d / name
            if p.is_file() and p.stat().st_size < 200_000:
                (dst / name).write_bytes(p.read_bytes())
    (dst / "generated_pydicom.dcm").write_bytes(c.pydicom_file())
    for name, data in realworld_seeds().items():  # vendor structures (tests/dicom/_realworld.py)
        (dst / name).write_bytes(data)
    (dst / "generated_encaps.dcm").write_bytes(
        c.meta("1.2.840.10008.1.2.4.50") + c.image_module(frames=2) + c.encapsulated([b"\xff\xd8\xff\xd9"] * 2)
    )


def _rss_limit_mb(budget: int = 2048) -> int:
    """libFuzzer's RSS limit: its default 2048 MB above the peak RSS this process has reached.

    libFuzzer reads its RSS as ``getrusage``'s ``ru_maxrss``, which Linux carries from a parent into a forked and
    exec'd child: run from a test process that has trained a model (pytest-xdist workers run other test files
    first), the fuzzer would start "over" a 2048 MB limit and report an out-of-memory on its first input.
    """
    import resource

    return budget + int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


@pytest.mark.slow
def test_fuzz_short_budget(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    corpus = tmp_path / "corpus"
    _seed_corpus(corpus)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    cmd = [
        sys.executable,
        str(HERE / "fuzz" / "fuzz_header.py"),
        str(corpus),
        f"-runs={RUNS}",
        "-max_len=65536",
        f"-artifact_prefix={artifacts}/",
        "-max_total_time=40",
        f"-rss_limit_mb={_rss_limit_mb()}",
    ]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent.parent))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    found = sorted(artifacts.iterdir())
    keep = os.environ.get("FASTMED_FUZZ_CRASH_DIR")
    if found and keep:  # CI: an artifact directory outside the source tree
        Path(keep).mkdir(parents=True, exist_ok=True)
        for f in found:
            (Path(keep) / f.name).write_bytes(f.read_bytes())
    where = keep or str(artifacts)
    assert proc.returncode == 0 and not found, (
        f"rc {proc.returncode}, crash inputs {[f.name for f in found]} in {where}\n{proc.stderr[-3000:]}"
    )


def _crash_inputs() -> list[Path]:
    return sorted(p for p in CRASHES.glob("*") if p.is_file() and p.name != ".gitkeep") if CRASHES.exists() else []


@pytest.mark.parametrize("path", _crash_inputs(), ids=lambda p: p.name)
def test_crash_regressions(path: Path) -> None:
    refused_or_same_as_pydicom(path.read_bytes())


def _mutation_seeds() -> dict[str, bytes]:
    seeds = {"crafted": c.pydicom_file()}
    for d in data_dirs():
        for name in ("CT_small.dcm", "MR_small_RLE.dcm", "MR_small_implicit.dcm", "ExplVR_BigEnd.dcm", "JPEG2000.dcm"):
            if (d / name).is_file():
                seeds.setdefault(name, (d / name).read_bytes())
    return seeds


def _mutate(data: bytes, rng: np.random.Generator, k: int) -> bytes:
    b = bytearray(data)
    how = k % 3
    if how == 0:  # truncate anywhere
        return bytes(b[: int(rng.integers(0, len(b)))])
    if how == 1:  # a few random bytes
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        return bytes(b)
    at = int(rng.integers(132, len(b) - 4))  # a random 32-bit word (often a length or a tag)
    b[at : at + 4] = rng.integers(0, 256, 4).astype(np.uint8).tobytes()
    return bytes(b)


@pytest.mark.parametrize("seed", sorted(_mutation_seeds()))
def test_seeded_mutations_are_refused_or_decode_like_pydicom(seed: str) -> None:
    """A deterministic, atheris-free fuzz pass: each mutated seed is refused with a DicomError
    subclass or decodes to pydicom's pixels for the same bytes."""
    data = _mutation_seeds()[seed]
    rng = np.random.default_rng(len(data))
    outcomes: dict[str, int] = {}
    for k in range(60):
        mutated = _mutate(data, rng, k)
        try:
            outcome = refused_or_same_as_pydicom(mutated)
        except AssertionError as exc:
            raise AssertionError(f"mutation {k} of {seed}: {exc}") from None
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    assert sum(v for k, v in outcomes.items() if k.startswith("refused")) > 0, outcomes
