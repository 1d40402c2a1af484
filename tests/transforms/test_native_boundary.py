"""The native augmentation entry points check what they receive, whatever Python did.

Direct ``fastmed._core`` calls with bad arguments run in a subprocess (a crash fails
the test rather than killing pytest) and must be refused with
``fastmed.errors.KernelArgumentError`` (a TransformError and a ValueError); the same
faults through the public API surface as TransformError with the reason.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed.backends import get_backend
from fastmed.backends.cpu import resample
from fastmed.errors import KernelArgumentError, TransformError
from fastmed.transforms.plan import ArrayPlan, IntensityProgram

from ._boundary_cases import CASES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def boundary_run() -> dict[str, str]:
    """Outcome line per case of tests/transforms/_boundary_cases.py, run in a child process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.transforms._boundary_cases"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, f"the process died (rc {proc.returncode}) after: {lines[-1:]}\n{proc.stderr[-2000:]}"
    return {ln.split("\t")[0]: ln for ln in lines if ln.split("\t")[1] != "RUNNING"}


def _cases() -> list[tuple[str, str]]:
    names = [(f"{fn}: {name}", exp) for name, (_, exp) in CASES.items() for fn in ("augment", "augment_reference")]
    names += [
        ("apply_program valid", "ok"),
        ("apply_program bias order NaN", "refused"),
        ("apply_program gamma NaN", "refused"),
        ("apply_program empty patch", "refused"),
        ("gaussian_blur sigma NaN", "refused"),
        ("gaussian_blur float64 patch", "refused"),
        ("augment: a job that is not a dict", "refused"),
    ]
    return names


@pytest.mark.parametrize(("name", "expected"), _cases(), ids=[n for n, _ in _cases()])
def test_core_called_directly(boundary_run: dict[str, str], name: str, expected: str) -> None:
    line = boundary_run[name]
    if expected == "ok":
        assert line.endswith("\tOK"), line
        return
    _, outcome, cls, msg = line.split("\t", 3)
    assert outcome == "REFUSED", line
    assert cls == "fastmed.errors.KernelArgumentError", line
    assert msg.strip(), line


def test_kernel_argument_error_is_a_transform_error_and_a_value_error() -> None:
    assert issubclass(KernelArgumentError, TransformError)
    assert issubclass(KernelArgumentError, ValueError)


def test_messages_name_the_field() -> None:
    from fastmed._native import core

    from ._boundary_cases import base_job

    j = base_job()
    j["grid"] = np.zeros((3, 0, 6, 7), np.float32)
    with pytest.raises(KernelArgumentError, match=r"job 0: elastic grid axis 0 has length 0"):
        core.augment([j], 1)
    j = base_job("same", np.uint8)
    j["grid"], j["cval"] = None, 300.0
    with pytest.raises(KernelArgumentError, match=r"padding value 300 does not fit the uint8 output \[0, 255\]"):
        core.augment([j], 1)
    j = base_job()
    j["matrix"] = j["matrix"].copy()
    j["matrix"][1, 1] = np.nan
    with pytest.raises(KernelArgumentError, match="matrix has a non-finite value"):
        core.augment_reference([j], 1)


# ---- through the public API ----------------------------------------------------------


def _sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(-1000, 1000, size=(1, 10, 12, 14)).astype(np.int16),
        "label": rng.integers(0, 4, size=(1, 10, 12, 14)).astype(np.uint8),
    }


@pytest.mark.parametrize(("dtype", "bad"), [(np.uint8, 300), (np.uint8, -1), (np.uint8, 0.5), (np.int16, 40000)])
def test_label_pad_value_outside_the_label_dtype_is_refused(dtype: type, bad: float) -> None:
    s = _sample()
    s["label"] = s["label"].astype(dtype)
    aug = T.Compose([T.CenterCrop((14, 16, 18))], label_pad_value=bad)
    with pytest.raises(TransformError, match="label_pad_value"):
        aug(s)


def test_bool_label_pads_with_0_or_1_only() -> None:
    s = _sample()
    s["label"] = s["label"] > 1
    with pytest.raises(TransformError, match="label_pad_value"):
        T.Compose([T.CenterCrop((14, 16, 18))], label_pad_value=2)(s)
    out = T.Compose([T.CenterCrop((14, 16, 18))], label_pad_value=1)(s)
    want = np.pad(s["label"], ((0, 0), (2, 2), (2, 2), (2, 2)), constant_values=True)
    np.testing.assert_array_equal(out["label"].astype(bool), want)
    assert set(np.unique(out["label"]).tolist()) <= {0, 1}


def test_label_pad_value_at_the_dtype_edge_pads_exactly() -> None:
    s = _sample()
    out = T.Compose([T.CenterCrop((14, 16, 18))], label_pad_value=255)(s)
    want = np.pad(s["label"], ((0, 0), (2, 2), (2, 2), (2, 2)), constant_values=255)
    np.testing.assert_array_equal(out["label"], want)


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
def test_backend_refuses_a_bad_label_pad_in_a_hand_made_plan(backend: str) -> None:
    """Python's check bypassed: the native layer still refuses (no wrap to 44)."""
    s = _sample()
    aug = T.Compose([T.CenterCrop((14, 16, 18))])
    plan = aug.compile(s, aug.sample_params(s))
    arrays = tuple(
        ArrayPlan(a.key, "nearest", "constant", 300.0, IntensityProgram.build([]), (), "same")
        if a.key == "label"
        else a
        for a in plan.arrays
    )
    with pytest.raises(TransformError, match="padding value 300"):
        get_backend(backend).run([dataclasses.replace(plan, arrays=arrays)], [s])


@pytest.mark.parametrize("backend", ["cpu", "cpu-reference"])
@pytest.mark.parametrize(
    ("grid", "inv", "match"),
    [
        (np.zeros((3, 0, 4, 4), np.float32), (0.5, 0.5, 0.5), "grid axis 0 has length 0"),
        (np.zeros((3, 4, 4, 0), np.float32), (0.5, 0.5, 0.5), "grid axis 2 has length 0"),
        (np.full((3, 8, 9, 10), np.nan, np.float32), (0.5, 0.5, 0.5), "non-finite"),
        (np.zeros((3, 8, 9, 10), np.float32), (np.inf, 0.5, 0.5), "grid_inv"),
        (np.zeros((3, 2, 2, 2), np.float32), (0.5, 0.5, 0.5), "nodes, the output needs"),
    ],
)
def test_backend_refuses_a_bad_elastic_grid(backend: str, grid: np.ndarray, inv: tuple[float, ...], match: str) -> None:
    s = _sample()
    aug = T.Compose([T.CenterCrop((8, 8, 8)), T.RandomElastic(magnitude=2.0, grid_spacing=2.0)])
    plan = aug.compile(s, aug.sample_params(s))
    spatial = dataclasses.replace(plan.spatial, grid=grid, grid_inv=inv)
    with pytest.raises(TransformError, match=match):
        get_backend(backend).run([dataclasses.replace(plan, spatial=spatial)], [s])


@pytest.mark.parametrize(
    ("matrix", "match"),
    [
        (np.where(np.eye(4) == 1, np.nan, 0.0), "non-finite"),
        (np.diag([1.0, np.inf, 1.0, 1.0]), "non-finite"),
        (np.array([[1, 0, 0, 1e15], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), "limit 2\\^30"),
        (np.diag([1e38, 1.0, 1.0, 1.0]), "limit 2\\^30"),
    ],
)
def test_resample_refuses_a_bad_matrix(matrix: np.ndarray, match: str) -> None:
    src = np.zeros((1, 5, 6, 7), np.float32)
    with pytest.raises(TransformError, match=match):
        resample(src, matrix, (4, 4, 4))


def test_resample_refuses_a_zero_axis_grid_and_an_empty_output() -> None:
    src = np.zeros((1, 5, 6, 7), np.float32)
    with pytest.raises(TransformError, match="length 0"):
        resample(src, np.eye(4), (4, 4, 4), grid=np.zeros((3, 5, 0, 5), np.float32), grid_inv=(0.5, 0.5, 0.5))
    with pytest.raises(TransformError, match="empty axis"):
        resample(src, np.eye(4), (4, 0, 4))


def test_nan_intensity_param_through_a_plan_is_refused() -> None:
    s = _sample()
    aug = T.Compose([T.CenterCrop((8, 8, 8)), T.RandomGamma(gamma=(1.2, 1.2), value_range=(0.0, 1.0))])
    plan = aug.compile(s, aug.sample_params(s))
    image = plan.arrays[0]
    params = image.program.params.copy()
    params[2] = np.nan  # the gamma exponent: the float-to-int step of fast_exp2 would be undefined
    bad = dataclasses.replace(image, program=IntensityProgram(image.program.ops, params))
    with pytest.raises(TransformError, match="must be finite"):
        get_backend("cpu").run([dataclasses.replace(plan, arrays=(bad, *plan.arrays[1:]))], [s])


# ---- the pointer-taking test hook ------------------------------------------------------


@pytest.mark.parametrize(("flag", "bound"), [(None, False), ("0", False), ("1", True)])
def test_packed_jobs_hook_only_exists_under_the_test_flag(flag: str | None, bound: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "FASTMED_TESTING"}
    if flag is not None:
        env["FASTMED_TESTING"] = flag
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    code = "from fastmed._native import core; print(hasattr(core, '_augment_packed_jobs'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(bound)
