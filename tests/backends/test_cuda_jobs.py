"""The CUDA backend's host side, on a CPU: job layout, packing, launch shape, checks, errors.

The packed ``fm::DeviceJob`` table is run through ``augment_voxel`` on the CPU with
host addresses and must equal the ``cpu-reference`` backend bit for bit: the same
per-voxel code, so any packing mistake (offset, stride, enum, pointer) shows here.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmed.transforms as T
from fastmed._native import core
from fastmed.backends import get_backend
from fastmed.backends.cuda import CudaBackend
from fastmed.backends.cuda_batch import NumpyArrays, build_batch, check_batch, upload_layout
from fastmed.backends.cuda_jobs import (
    DEVICE_JOB_DTYPE,
    FIELDS,
    MAX_BLOCKS_X,
    MAX_JOBS_PER_LAUNCH,
    JobSpec,
    launch_plan,
    pack_jobs,
)
from fastmed.errors import TransformError
from fastmed.kernel_sources import include_dir
from tests.backends._pipelines import families, sample

# ---- layout -----------------------------------------------------------------------------


def test_numpy_dtype_matches_host_compiler_layout() -> None:
    native = core.device_job_layout()
    assert DEVICE_JOB_DTYPE.itemsize == native["size"]
    assert list(DEVICE_JOB_DTYPE.names) == list(native["offsets"])  # same fields, same order
    for name in DEVICE_JOB_DTYPE.names:
        assert DEVICE_JOB_DTYPE.fields[name][1] == native["offsets"][name], name
    assert native["align"] == 8


def _layout_check_source() -> str:
    """static_asserts of sizeof/alignof (both compilers) and offsetof (nvcc's host pass)."""
    lines = ['#include "fastmed/augment.h"']
    lines.append(f'static_assert(sizeof(fm::DeviceJob) == {DEVICE_JOB_DTYPE.itemsize}, "DeviceJob size");')
    lines.append('static_assert(alignof(fm::DeviceJob) == 8, "DeviceJob alignment");')
    lines.append("#if !defined(__CUDACC_RTC__)")  # NVRTC has no offsetof
    lines.append("#include <cstddef>")
    for name, _, _ in FIELDS:
        off = DEVICE_JOB_DTYPE.fields[name][1]
        lines.append(f'static_assert(offsetof(fm::DeviceJob, {name}) == {off}, "offset of {name}");')
    lines.append("#endif")
    lines.append('extern "C" __global__ void fm_layout_probe(fm::DeviceJob* j) { j->n_ops = sizeof(fm::DeviceJob); }')
    return "\n".join(lines) + "\n"


def test_layout_static_asserts_under_nvrtc() -> None:
    try:
        from cupy.cuda import nvrtc

        nvrtc.getVersion()
    except Exception as exc:  # ImportError, or libnvrtc missing
        pytest.skip(f"NVRTC unavailable: {exc}")
    prog = nvrtc.createProgram(_layout_check_source(), "layout.cu", [], [])
    try:
        try:
            nvrtc.compileProgram(prog, ["-std=c++17", f"-I{include_dir()}", "-arch=compute_80"])
        except nvrtc.NVRTCError:
            pytest.fail(nvrtc.getProgramLog(prog))
    finally:
        nvrtc.destroyProgram(prog)


def test_layout_static_asserts_under_nvcc(tmp_path: Path) -> None:
    nvcc = shutil.which("nvcc") or ("/usr/local/bin/nvcc" if Path("/usr/local/bin/nvcc").exists() else None)
    if nvcc is None:
        pytest.skip("nvcc not found")
    src = tmp_path / "layout.cu"
    src.write_text(_layout_check_source())
    cmd = [nvcc, "-std=c++17", "-arch=sm_80", f"-I{include_dir()}", "-c", str(src), "-o", str(tmp_path / "l.o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ---- packing, run on the CPU --------------------------------------------------------------


def _strip_passes(plan):  # type: ignore[no-untyped-def]
    arrays = tuple(dataclasses.replace(ap, passes=()) for ap in plan.arrays)
    return dataclasses.replace(plan, arrays=arrays)


def _packed_vs_reference(aug: T.Compose, samples: list[dict], indices: list[int]) -> None:
    plans = [aug.compile(s, aug.sample_params(s, 11, i)) for s, i in zip(samples, indices, strict=True)]
    plans = [_strip_passes(p) for p in plans]
    batch = build_batch(plans, samples, NumpyArrays())
    core._augment_packed_jobs(batch.table, 2)
    want = get_backend("cpu-reference").run(plans, samples, 2)
    for k, ap, out, _ in batch.outputs:
        got = out[:, 0] if plans[k].ndim == 2 else out
        ref = want[k][ap.key]
        assert got.dtype == ref.dtype, ap.key
        np.testing.assert_array_equal(got, ref, err_msg=f"sample {k} {ap.key}")


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("family", list(families(3)))
def test_packed_table_equals_reference_backend(ndim: int, family: str) -> None:
    aug = T.Compose(families(ndim)[family])
    _packed_vs_reference(aug, [sample(ndim)], [3])


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("src_dtype", [np.int16, np.uint8, np.uint16, np.int32, np.float32, np.bool_])
def test_packed_batch_dtypes_multichannel(dtype: str, src_dtype: type) -> None:
    ops = [
        T.RandomCrop((8, 9, 10)),
        T.RandomAffine(degrees=10),
        T.RandomElastic(grid_spacing=4.0),
        T.RandomGaussianNoise(),
    ]
    aug = T.Compose(ops, dtype=dtype)
    samples = [sample(3, src_dtype, channels=2, seed=s) for s in range(3)]
    _packed_vs_reference(aug, samples, [0, 5, 9])


def test_packed_table_strided_source() -> None:
    s = sample(3, np.int16)
    s = {"image": s["image"][:, ::-1, 1:, ::2], "label": s["label"][:, ::-1, 1:, ::2]}  # negative and step strides
    _packed_vs_reference(T.Compose([T.RandomCrop((5, 6, 7)), T.RandomAffine(degrees=30)]), [s], [1])


def _spec(**kw):  # type: ignore[no-untyped-def]
    base = dict(
        src=64,
        out=128,
        grid=0,
        ops=256,
        params=512,
        src_shape=(1, 2, 3, 4),
        src_stride=(24, 12, 4, 1),
        out_shape=(1, 2, 2, 2),
        src_dtype=1,
        out_kind="float32",
        matrix=np.eye(4),
        n_ops=1,
    )
    base.update(kw)
    return JobSpec(**base)


def test_pack_fields_land_where_the_struct_has_them() -> None:
    m = np.arange(16, dtype=np.float64).reshape(4, 4)
    t = pack_jobs([_spec(matrix=m, key=(2**32 + 5, 7), index=9, interp="nearest", pad_mode="reflect", cval=-3.0)])
    raw = t.tobytes()
    off = core.device_job_layout()["offsets"]
    assert np.frombuffer(raw, np.float32, 12, off["m"]).tolist() == m[:3].ravel().tolist()
    assert np.frombuffer(raw, np.uint32, 2, off["key"]).tolist() == [5, 7]
    assert np.frombuffer(raw, np.int32, 1, off["interp"])[0] == 0
    assert np.frombuffer(raw, np.int32, 1, off["pad_mode"])[0] == 2
    assert np.frombuffer(raw, np.float32, 1, off["cval"])[0] == -3.0
    assert np.frombuffer(raw, np.int64, 4, off["src_stride"]).tolist() == [24, 12, 4, 1]
    # The source is the whole volume unless a window is given.
    assert np.frombuffer(raw, np.int64, 3, off["vol_shape"]).tolist() == [2, 3, 4]
    assert np.frombuffer(raw, np.int64, 3, off["origin"]).tolist() == [0, 0, 0]
    raw = pack_jobs([_spec(vol_shape=(9, 8, 7), origin=(5, 1, 2))]).tobytes()
    assert np.frombuffer(raw, np.int64, 3, off["vol_shape"]).tolist() == [9, 8, 7]
    assert np.frombuffer(raw, np.int64, 3, off["origin"]).tolist() == [5, 1, 2]


def test_packed_windows_equal_the_whole_volume() -> None:
    """Lazy samples: the packed table reads windows (vol_shape, origin) and gives the whole-volume patch."""
    from fastmed.backends.cpu import CpuReferenceBackend

    rng = np.random.default_rng(3)
    image = rng.integers(-500, 500, (30, 34, 38)).astype(np.int16)
    label = rng.integers(0, 4, (30, 34, 38)).astype(np.uint8)

    class Lazy:
        def __init__(self, a: np.ndarray):
            self.data, self.shape, self.dtype, self.spacing = a, a.shape, a.dtype, (1.0, 1.0, 1.0)
            self.stats: dict[str, float] = {}

        def read_window(self, lo, hi):  # type: ignore[no-untyped-def]
            return self.data[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]

    aug = T.Compose([T.RandomCrop((8, 9, 10)), T.RandomAffine(degrees=20), T.RandomElastic(grid_spacing=4.0)])
    lazy = {"image": Lazy(image), "label": Lazy(label)}
    whole = {"image": image[None], "label": label[None]}
    for index in range(4):
        plan, read = aug._compile(lazy, aug.sample_params(lazy, 11, index))
        assert plan.windows
        windowed = {**lazy, **read}
        batch = build_batch([plan], [windowed], NumpyArrays())
        core._augment_packed_jobs(batch.table, 2)
        ref = CpuReferenceBackend().run([dataclasses.replace(plan, windows={})], [whole], 2)[0]
        for _, ap, out, _ in batch.outputs:
            np.testing.assert_array_equal(out, ref[ap.key], strict=True)


@pytest.mark.parametrize(
    "kw",
    [
        {"src": 0},
        {"ops": 0},
        {"interp": "cubic"},
        {"pad_mode": "wrap"},
        {"out_kind": "int8"},
        {"src_dtype": 9},
        {"out_shape": (2, 2, 2, 2)},
        {"src_shape": (1, 0, 3, 4)},
        {"matrix": np.eye(3)},
        {"grid": 1024, "gshape": (0, 4, 4)},
        {"vol_shape": (2, 3, 3)},
        {"vol_shape": (4, 4, 4), "origin": (3, 0, 0)},
        {"origin": (-1, 0, 0), "vol_shape": (4, 4, 4)},
    ],
)
def test_pack_rejects_bad_jobs(kw: dict) -> None:
    with pytest.raises(TransformError):
        pack_jobs([_spec(**kw)])


def test_packed_hook_rejects_bad_tables() -> None:
    with pytest.raises(ValueError):
        core._augment_packed_jobs(np.zeros(10, np.uint8), 1)
    with pytest.raises(ValueError, match="null"):
        core._augment_packed_jobs(np.zeros(1, DEVICE_JOB_DTYPE), 1)


# ---- launch shape and upload buffer ---------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=40), st.sampled_from([32, 128, 256, 1024]))
def test_launch_plan_covers_every_job(voxels: list[int], block: int) -> None:
    launches = launch_plan(voxels, block)
    assert len(launches) == 1
    (ln,) = launches
    assert ln.grid[2] == len(voxels) and ln.block == (block, 1, 1)
    assert 1 <= ln.grid[0] <= MAX_BLOCKS_X
    # Grid-stride loop: all voxels are visited when the x extent covers them or is capped.
    assert ln.grid[0] * block >= max(voxels) or ln.grid[0] == MAX_BLOCKS_X


def test_launch_plan_splits_huge_batches() -> None:
    n = 2 * MAX_JOBS_PER_LAUNCH + 7
    launches = launch_plan([1000] * n)
    assert [ln.count for ln in launches] == [MAX_JOBS_PER_LAUNCH, MAX_JOBS_PER_LAUNCH, 7]
    assert [ln.first for ln in launches] == [0, MAX_JOBS_PER_LAUNCH, 2 * MAX_JOBS_PER_LAUNCH]


@pytest.mark.parametrize(("voxels", "block"), [([0], 256), ([5], 100), ([5], 0), ([5], 2048)])
def test_launch_plan_rejects(voxels: list[int], block: int) -> None:
    with pytest.raises(TransformError):
        launch_plan(voxels, block)


@given(st.lists(st.integers(0, 5000), max_size=20))
def test_upload_layout_aligned_and_disjoint(sizes: list[int]) -> None:
    offsets, total = upload_layout(sizes)
    assert all(o % 256 == 0 for o in offsets)
    ends = [*offsets[1:], total] if offsets else []
    for o, n, nxt in zip(offsets, sizes, ends, strict=True):
        assert o + n <= nxt
    assert total >= sum(sizes)


# ---- checks and the no-device error -------------------------------------------------------------


def _plan(s: dict, ops=None):  # type: ignore[no-untyped-def]
    aug = T.Compose(ops or [T.RandomCrop((5, 5, 5))])
    return aug.compile(s, aug.sample_params(s, 0, 0))


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((1, 6, 6, 6), np.float64), "float64"),
        (np.zeros((1, 6, 6, 6), np.int8), "int8"),
        (np.zeros((1, 6, 6, 6), ">i2"), "big-endian"),
        (np.zeros((6, 6, 6), np.int16), "channel-first"),
    ],
)
def test_check_batch_rejects_inputs_before_the_device(image: np.ndarray, match: str) -> None:
    good = {"image": np.zeros((1, 6, 6, 6), np.int16)}
    with pytest.raises(TransformError, match=match):
        check_batch([_plan(good)], [{"image": image}])


def test_check_batch_reads_torch_metadata() -> None:
    torch = pytest.importorskip("torch")
    t = torch.zeros((1, 6, 6, 6), dtype=torch.int16)[:, :, ::2]
    ((info,),) = check_batch([_plan({"image": np.zeros((1, 6, 3, 6), np.int16)})], [{"image": t}])
    assert info.dtype == np.int16 and info.strides == (216, 36, 12, 1)
    with pytest.raises(TransformError, match="torch dtype"):
        check_batch(
            [_plan({"image": np.zeros((1, 6, 6, 6))})], [{"image": torch.zeros((1, 6, 6, 6), dtype=torch.complex64)}]
        )


def test_check_batch_counts_and_keys() -> None:
    s = {"image": np.zeros((1, 6, 6, 6), np.int16)}
    with pytest.raises(TransformError, match="plans for"):
        check_batch([_plan(s)], [s, s])
    with pytest.raises(TransformError, match="no 'image'"):
        check_batch([_plan(s)], [{"img": s["image"]}])


def _has_device() -> bool:
    from tests.conftest import cuda_device_available

    return cuda_device_available()


def test_no_device_is_a_transform_error() -> None:
    if _has_device():
        pytest.skip("a CUDA device is present")
    s = sample(3)
    aug = T.Compose([T.RandomCrop((5, 5, 5)), T.Window(-500, 500)], device="cuda")
    with pytest.raises(TransformError, match="no CUDA device"):
        aug(s, seed=0, index=0)
    with pytest.raises(TransformError, match="no CUDA device"):
        aug.batch([s, s], seed=0)


def test_bad_input_is_reported_before_the_missing_device() -> None:
    aug = T.Compose([T.RandomCrop((5, 5, 5))], device="cuda")
    with pytest.raises(TransformError, match="float64"):
        aug({"image": np.zeros((1, 6, 6, 6), np.float64)}, seed=0, index=0)


@pytest.mark.parametrize("kw", [{"output": "jax"}, {"block": 100}])
def test_backend_options_are_checked(kw: dict) -> None:
    with pytest.raises(TransformError):
        CudaBackend(**kw)


def test_blur_weights_are_scipys_kernel() -> None:
    for sigma, truncate in [(0.7, 4.0), (1.5, 3.0), (3.0, 2.0)]:
        r = int(truncate * sigma + 0.5)
        x = np.arange(-r, r + 1, dtype=np.float64)
        want = np.exp(-0.5 * x**2 / sigma**2)
        np.testing.assert_allclose(core.blur_weights(sigma, truncate), want / want.sum(), rtol=1e-6)
