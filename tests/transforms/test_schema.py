"""The op schema, the generated C++ header, the compiled kernel and the DALI table agree."""

from __future__ import annotations

import re

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed._native import core
from fastmed.backends import cuda_jobs, dali_support
from fastmed.errors import KernelArgumentError
from fastmed.kernel_sources import csrc_dir
from fastmed.transforms import _gen_opcodes, plan, schema
from fastmed.transforms.base import SpatialOp, registered_ops
from tests.transforms.test_replay_params import OPS as CASES

HEADER = _gen_opcodes.header_path()


def test_generated_header_is_up_to_date() -> None:
    assert HEADER.read_bytes() == _gen_opcodes.render().encode("utf-8"), (
        "csrc/include/fastmed/opcodes.h is stale: run python -m fastmed.transforms._gen_opcodes"
    )
    assert _gen_opcodes.main(["--check"]) == 0


def test_header_uses_no_standard_headers() -> None:
    includes = re.findall(r'#include\s+[<"]([^>"]+)[>"]', HEADER.read_text(encoding="utf-8"))
    assert includes == ["fastmed/common.h"]  # NVRTC has no standard library


def test_header_enum_is_the_schema() -> None:
    text = HEADER.read_text(encoding="utf-8")
    body = text[text.index("enum IntensityOpcode") : text.index("};")]
    parsed = {name: int(code) for name, code in re.findall(r"(kOp\w+) = (\d+),", body)}
    assert parsed == {ins.enumerator: ins.code for ins in schema.instructions()}
    intensity = (csrc_dir() / "include" / "fastmed" / "intensity.h").read_text(encoding="utf-8")
    assert "enum IntensityOpcode" not in intensity and '#include "fastmed/opcodes.h"' in intensity
    for ins in schema.instructions():  # every opcode reaches a case of the per-voxel interpreter
        assert f"case {ins.enumerator}:" in intensity


def _run(code: int, n_params: int, first: float) -> None:
    patch = np.ones((1, 2, 3, 4), np.float32)
    params = np.zeros(n_params, np.float32)
    params[:1] = first
    core.apply_program(patch, np.array([[code, -1, 0, 0]], np.int32), params, 1, 2, 0)


def _layouts() -> list[tuple[str, int, float]]:
    out = []
    for ins in schema.instructions():
        if ins.counted is None:
            out.append((ins.name, ins.param_count(), 0.0))
        else:
            for n in (ins.counted.n_min, ins.counted.n_max):
                out.append((ins.name, ins.param_count(n), float(n)))
    return out


@pytest.mark.parametrize(("name", "count", "first"), _layouts())
def test_compiled_kernel_reads_the_schema_layout(name: str, count: int, first: float) -> None:
    # The native validator (built from opcodes.h) accepts exactly the schema's float count.
    code = schema.opcode(name)
    _run(code, count, first)
    with pytest.raises(KernelArgumentError, match="too short|no count"):
        _run(code, count - 1, first)


def test_compiled_kernel_refuses_unknown_opcodes_and_counts_out_of_range() -> None:
    top = max(ins.code for ins in schema.instructions())
    with pytest.raises(KernelArgumentError, match="unknown intensity opcode"):
        _run(top + 1, 4, 0.0)
    for ins in schema.instructions():
        if ins.counted is not None:
            for n in (ins.counted.n_min - 1, ins.counted.n_max + 1, 2.5):
                with pytest.raises(KernelArgumentError, match="out of range"):
                    _run(ins.code, 200, float(n))


def test_schema_covers_every_registered_op_with_its_kind() -> None:
    ops = schema.ops_by_name()
    assert set(ops) == set(registered_ops())
    for name, cls in registered_ops().items():
        assert (ops[name].kind == "spatial") == issubclass(cls, SpatialOp), name
        assert set(ops[name].backends) <= set(schema.BACKENDS)
        assert ops[name].emits == () or ops[name].kind == "intensity"


@pytest.mark.parametrize("name", sorted(CASES))
def test_random_flag_says_whether_params_depend_on_the_seed(name: str) -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(-1000, 1000, size=(1, 12, 13, 14)).astype(np.int16)
    comp = T.Compose([CASES[name]()], threads=1)
    drawn = [repr(comp({"image": img, "spacing": (1.0, 1.0, 1.0)}, seed=s)["params"]["ops"]) for s in range(6)]
    assert (len(set(drawn)) > 1) == schema.ops_by_name()[name].random


def test_plan_constants_come_from_the_schema() -> None:
    assert plan.OPCODE_PARAMS == {i.code: len(i.params) for i in schema.instructions()}
    for ins in schema.instructions():
        assert getattr(plan, "OP_" + ins.name.upper(), ins.code) == ins.code


def test_dali_table_is_the_schema() -> None:
    assert dali_support.SUPPORT == schema.support()
    for name, template in dali_support.DALI_TEMPLATE.items():
        op = schema.ops_by_name()[name]
        assert "dali" in op.backends and template == tuple(i.code for i in op.emits)
        assert all(code in dali_support.SLOT_PARAMS for code in template)
    # docs/backends.md: every op has a row, and its columns say what the schema says.
    doc = (csrc_dir().parent / "docs" / "backends.md").read_text(encoding="utf-8")
    seen = set()
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            continue
        for name in (n for n in re.findall(r"`(\w+)`", cells[0]) if n in schema.ops_by_name()):
            marks = dict(zip(schema.BACKENDS, cells[1:5], strict=True))
            assert {b for b, v in marks.items() if v != "–"} == set(schema.ops_by_name()[name].backends), name
            seen.add(name)
    assert seen >= {op.name for op in schema.OPS if op.name not in ("VoxelOp", "PatchOp")}


def test_dtype_codes_come_from_the_schema() -> None:
    assert {str(k): v for k, v in cuda_jobs.SRC_DTYPES.items()} == {
        n: schema.DTYPE_CODES[n] for n in schema.DEVICE_SOURCE_DTYPES
    }
    assert cuda_jobs.OUT_KINDS == schema.OUT_KINDS
    text = HEADER.read_text(encoding="utf-8")
    for n in schema.DEVICE_SOURCE_DTYPES:
        assert f"= {schema.DTYPE_CODES[n]}" in text
    assert len(set(schema.DTYPE_CODES.values())) == len(schema.DTYPE_CODES)


def test_dali_refuses_plans_with_ops_the_schema_keeps_off_dali() -> None:
    img = np.linspace(-1.0, 1.0, 2 * 6 * 7 * 8, dtype=np.float32).reshape(2, 6, 7, 8)
    ops = [T.RandomBiasField(order=1), T.RandomHistogramShift(num_control_points=5), T.Window(-1, 1)]
    comp = T.Compose(ops)
    plan_ = comp.compile({"image": img}, comp({"image": img}, seed=1)["params"])
    assert dali_support.plan_unsupported_by_dali(plan_) == ["RandomBiasField", "RandomHistogramShift"]
    assert dali_support.ops_unsupported_by_dali(ops) == ["RandomBiasField", "RandomHistogramShift"]


@pytest.mark.parametrize("ins", schema.instructions(), ids=lambda i: i.name)
def test_skip_random_leaves_out_exactly_the_per_voxel_random_instructions(ins: schema.Instruction) -> None:
    n = ins.counted.n_max if ins.counted is not None else 0
    params = np.linspace(0.1, 0.9, ins.param_count(n)).astype(np.float32)
    params[0] = n if ins.counted is not None else params[0]
    ops = np.array([[ins.code, -1, 0, 0]], np.int32)
    patch = np.linspace(-2.0, 2.0, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = patch.copy()
    core.apply_program(out, ops, params, 1, 2, 0, skip_random=True)
    assert np.array_equal(out, patch) == ins.per_voxel_random
