"""Bad arguments for the native augmentation entry points, run as a script.

``python -m tests.transforms._boundary_cases`` calls ``fastmed._core`` directly with
every case of :data:`CASES` and prints one line per case: ``<name>\\tOK`` or
``<name>\\tREFUSED\\t<exception class>\\t<message>``. The test runs it in a
subprocess, so a case that crashes the process fails the test instead of killing
pytest (the last printed line tells which case was running).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from fastmed._native import core

Job = dict[str, Any]


def base_job(out_dtype: str = "float32", src_dtype: type = np.float32) -> Job:
    """A valid job: a (1, 6, 7, 8) source resampled to a (1, 4, 5, 6) patch with a small grid."""
    src = np.arange(6 * 7 * 8, dtype=np.float64).reshape(1, 6, 7, 8).astype(src_dtype)
    out = np.empty((1, 4, 5, 6), dtype=src_dtype if out_dtype == "same" else np.float32)
    m = np.zeros((3, 4), dtype=np.float32)
    m[0, 0] = m[1, 1] = m[2, 2] = 1.0
    return {
        "src": src,
        "out": out,
        "out_dtype": out_dtype,
        "matrix": m,
        "grid": np.zeros((3, 6, 6, 7), dtype=np.float32),
        "grid_inv": [0.5, 0.5, 0.5],
        "interp": 1 if out_dtype != "same" else 0,
        "pad_mode": 0,
        "cval": 0.0,
        "ops": np.zeros((0, 4), dtype=np.int32),
        "params": np.zeros(1, dtype=np.float32),
        "key": [1, 2],
        "index": 0,
    }


def _with(**kw: Any) -> Callable[[], Job]:
    def make() -> Job:
        j = base_job()
        j.update(kw)
        return j

    return make


def _matrix(k: int, v: float) -> Callable[[], Job]:
    def make() -> Job:
        j = base_job()
        j["matrix"] = j["matrix"].copy()
        j["matrix"].flat[k] = v
        return j

    return make


def _label(cval: float, program: bool = False) -> Callable[[], Job]:
    def make() -> Job:
        j = base_job("same", np.uint8)
        j["grid"] = None
        j["cval"] = cval
        if program:
            j["ops"] = np.array([[2, -1, 0, 0]], dtype=np.int32)
            j["params"] = np.array([2.0, 1.0], dtype=np.float32)
        return j

    return make


def _program(ops: list[list[int]], params: list[float]) -> Callable[[], Job]:
    return _with(ops=np.array(ops, dtype=np.int32), params=np.array(params, dtype=np.float32))


def _grid_value(v: float) -> Callable[[], Job]:
    def make() -> Job:
        j = base_job()
        j["grid"] = j["grid"].copy()
        j["grid"][1, 2, 3, 4] = v
        return j

    return make


def _same_array() -> Job:
    j = base_job()
    j["src"] = j["out"]
    return j


def _overlap() -> Job:
    j = base_job()
    buf = np.zeros(240, np.float32)
    j["src"] = buf[:120].reshape(1, 4, 5, 6)
    j["out"] = buf[60:180].reshape(1, 4, 5, 6)
    return j


def _readonly_out() -> Job:
    j = base_job()
    j["out"].flags.writeable = False
    return j


def _strided_out() -> Job:
    j = base_job()
    j["out"] = np.empty((1, 4, 5, 12), np.float32)[..., ::2]
    return j


def _missing(name: str) -> Callable[[], Job]:
    def make() -> Job:
        j = base_job()
        del j[name]
        return j

    return make


def _big_endian() -> Job:
    j = base_job()
    j["src"] = j["src"].astype(">f4")
    return j


def _negative_strides() -> Job:
    j = base_job()
    j["src"] = j["src"][:, ::-1, :, ::-1]
    return j


# name -> (job maker, expected: "ok" or "refused")
CASES: dict[str, tuple[Callable[[], Job], str]] = {
    "valid job": (base_job, "ok"),
    "valid label job, pad 255": (_label(255.0), "ok"),
    "valid negative-stride source": (_negative_strides, "ok"),
    "grid axis of 0": (_with(grid=np.zeros((3, 0, 6, 7), np.float32)), "refused"),
    "grid all axes 0": (_with(grid=np.zeros((3, 0, 0, 0), np.float32)), "refused"),
    "grid 3-D": (_with(grid=np.zeros((3, 6, 6), np.float32)), "refused"),
    "grid with 2 components": (_with(grid=np.zeros((2, 6, 6, 7), np.float32)), "refused"),
    "grid too small for the output": (_with(grid=np.zeros((3, 1, 1, 1), np.float32)), "refused"),
    "grid NaN": (_grid_value(float("nan")), "refused"),
    "grid inf": (_grid_value(float("inf")), "refused"),
    "grid float64 overflowing float32": (_with(grid=np.full((3, 6, 6, 7), 1e300)), "refused"),
    "grid huge displacement": (_grid_value(3e9), "refused"),
    "grid_inv NaN": (_with(grid_inv=[float("nan"), 0.5, 0.5]), "refused"),
    "grid_inv negative": (_with(grid_inv=[0.5, -0.5, 0.5]), "refused"),
    "grid_inv huge": (_with(grid_inv=[1e30, 0.5, 0.5]), "refused"),
    "grid_inv 2 values": (_with(grid_inv=[0.5, 0.5]), "refused"),
    "matrix NaN": (_matrix(5, float("nan")), "refused"),
    "matrix inf": (_matrix(3, float("inf")), "refused"),
    "matrix -inf scale": (_matrix(0, float("-inf")), "refused"),
    "matrix huge translation": (_matrix(11, 1e20), "refused"),
    "matrix huge scale": (_matrix(10, 1e12), "refused"),
    "matrix 2x4": (_with(matrix=np.eye(2, 4, dtype=np.float32)), "refused"),
    "label pad 300 into uint8": (_label(300.0), "refused"),
    "label pad -1 into uint8": (_label(-1.0), "refused"),
    "label pad 0.5 into uint8": (_label(0.5), "refused"),
    "label pad NaN into uint8": (_label(float("nan")), "refused"),
    "label pad inf into uint8": (_label(float("inf")), "refused"),
    "integer output with a program": (_label(0.0, program=True), "refused"),
    "gamma NaN": (_program([[3, -1, 0, 0]], [0.0, 1.0, float("nan"), 0.0]), "refused"),
    "gamma inf": (_program([[3, -1, 0, 0]], [0.0, 1.0, float("inf"), 0.0]), "refused"),
    "affine NaN": (_program([[2, -1, 0, 0]], [float("nan"), 0.0]), "refused"),
    "noise inf": (_program([[4, -1, 0, 3]], [float("inf")]), "refused"),
    "clip NaN": (_program([[1, -1, 0, 0]], [float("nan"), 1.0]), "refused"),
    "valid clip open side": (_program([[1, -1, 0, 0]], [0.0, float("inf")]), "ok"),
    "bias order NaN": (_program([[5, -1, 0, 0]], [float("nan")] + [0.0] * 20), "refused"),
    "bias order inf": (_program([[5, -1, 0, 0]], [float("inf")] + [0.0] * 20), "refused"),
    "bias order 1e30": (_program([[5, -1, 0, 0]], [1e30] + [0.0] * 20), "refused"),
    "bias order 9": (_program([[5, -1, 0, 0]], [9.0] + [0.0] * 400), "refused"),
    "bias order 1.5": (_program([[5, -1, 0, 0]], [1.5] + [0.0] * 20), "refused"),
    "bias coefficients too few": (_program([[5, -1, 0, 0]], [3.0, 0.0]), "refused"),
    "program offset past params": (_program([[2, -1, 7, 0]], [1.0, 0.0]), "refused"),
    "program offset negative": (_program([[2, -1, -4, 0]], [1.0, 0.0]), "refused"),
    "program unknown opcode": (_program([[99, -1, 0, 0]], [1.0, 0.0]), "refused"),
    "program negative stream": (_program([[4, -1, 0, -1]], [0.1]), "refused"),
    "program channel -2": (_program([[2, -2, 0, 0]], [1.0, 0.0]), "refused"),
    "program ops shape (1, 3)": (_program([[2, -1, 0]], [1.0, 0.0]), "refused"),
    "output overlaps source": (_overlap, "refused"),
    "output is the source": (_same_array, "refused"),
    "output read-only": (_readonly_out, "refused"),
    "output not contiguous": (_strided_out, "refused"),
    "output channels differ": (_with(out=np.empty((2, 4, 5, 6), np.float32)), "refused"),
    "output empty axis": (_with(out=np.empty((1, 0, 5, 6), np.float32)), "refused"),
    "output 3-D": (_with(out=np.empty((4, 5, 6), np.float32)), "refused"),
    "output dtype float64": (_with(out=np.empty((1, 4, 5, 6), np.float64)), "refused"),
    "out_dtype float16 on a float32 array": (_with(out_dtype="float16"), "refused"),
    "out_dtype unknown": (_with(out_dtype="int8"), "refused"),
    "out_dtype same, other dtype": (_with(out_dtype="same", src=np.zeros((1, 6, 7, 8), np.int16)), "refused"),
    "source object dtype": (_with(src=np.empty((1, 6, 7, 8), dtype=object)), "refused"),
    "source float64": (_with(src=np.zeros((1, 6, 7, 8))), "refused"),
    "source big-endian": (_big_endian, "refused"),
    "source empty axis": (_with(src=np.zeros((1, 6, 0, 8), np.float32)), "refused"),
    "source a list": (_with(src=[[[[1.0]]]]), "refused"),
    "interp 7": (_with(interp=7), "refused"),
    "pad_mode -1": (_with(pad_mode=-1), "refused"),
    "interp huge": (_with(interp=2**40), "refused"),
    "key 3 words": (_with(key=[1, 2, 3]), "refused"),
    "key negative": (_with(key=[-1, 2]), "refused"),
    "index negative": (_with(index=-1), "refused"),
    "matrix a string": (_with(matrix="not a matrix"), "refused"),
    "missing matrix": (_missing("matrix"), "refused"),
    "missing src": (_missing("src"), "refused"),
    "missing cval": (_missing("cval"), "refused"),
}


def _patch_calls() -> dict[str, tuple[Callable[[], None], str]]:
    patch = np.zeros((1, 4, 5, 6), np.float32)
    ops = np.array([[5, -1, 0, 0]], dtype=np.int32)
    return {
        "apply_program valid": (lambda: core.apply_program(patch, ops, np.zeros(21, np.float32), 1, 2, 0), "ok"),
        "apply_program bias order NaN": (
            lambda: core.apply_program(patch, ops, np.array([np.nan] + [0.0] * 20, np.float32), 1, 2, 0),
            "refused",
        ),
        "apply_program gamma NaN": (
            lambda: core.apply_program(
                patch, np.array([[3, -1, 0, 0]], np.int32), np.array([0, 1, np.nan, 0], np.float32), 1, 2, 0
            ),
            "refused",
        ),
        "apply_program empty patch": (
            lambda: core.apply_program(np.zeros((1, 0, 5, 6), np.float32), ops, np.zeros(21, np.float32), 1, 2, 0),
            "refused",
        ),
        "gaussian_blur sigma NaN": (lambda: core.gaussian_blur(patch, [np.nan, 1.0, 1.0]), "refused"),
        "gaussian_blur float64 patch": (
            lambda: core.gaussian_blur(patch.astype(np.float64), [1.0, 1.0, 1.0]),
            "refused",
        ),
    }


def run_all() -> list[tuple[str, str, str]]:
    """Run every case; returns (name, expected, outcome line) and prints as it goes."""
    rows: list[tuple[str, str, str]] = []
    calls: dict[str, tuple[Callable[[], None], str]] = {}
    for name, (make, expected) in CASES.items():
        for fn_name in ("augment", "augment_reference"):
            fn = getattr(core, fn_name)
            calls[f"{fn_name}: {name}"] = ((lambda fn=fn, make=make: fn([make()], 2)), expected)
    calls.update(_patch_calls())
    calls["augment: a job that is not a dict"] = (lambda: core.augment([[1, 2]], 1), "refused")
    for name, (call, expected) in calls.items():
        print(f"{name}\tRUNNING", flush=True)
        try:
            call()
            line = f"{name}\tOK"
        except Exception as exc:  # every refusal is reported with its class
            msg = str(exc).replace("\n", " ")
            line = f"{name}\tREFUSED\t{type(exc).__module__}.{type(exc).__name__}\t{msg}"
        print(line, flush=True)
        rows.append((name, expected, line))
    return rows


if __name__ == "__main__":
    run_all()
    sys.exit(0)
