"""GPU vs CPU parity of the CUDA backend (every op family, 2D/3D, output dtypes, batches).

Runs only with a CUDA device (conftest skips ``gpu`` tests elsewhere). The GPU runs the
per-voxel code the CPU tests check; differences come from FMA contraction and the
device's libm, so values agree within a small tolerance and labels almost everywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import fastmed.transforms as T
from fastmed._native import core
from fastmed.backends.cuda_jobs import DEVICE_JOB_DTYPE, FIELDS
from tests.backends._pipelines import families, sample

pytestmark = pytest.mark.gpu


def _host(a: Any) -> np.ndarray:
    import cupy as cp

    if isinstance(a, cp.ndarray):
        return cp.asnumpy(a)
    if hasattr(a, "detach"):
        t = a.detach().cpu()
        return t.float().numpy() if str(t.dtype) == "torch.bfloat16" else t.numpy()
    return np.asarray(a)


def _compare(got: dict, want: dict, ndim: int) -> None:
    g, w = _host(got["image"]).astype(np.float32), _host(want["image"]).astype(np.float32)
    assert g.shape == w.shape
    span = float(np.abs(w).max()) + 1.0
    tol = 1e-2 if got["image"].dtype != np.float32 else 1e-4
    np.testing.assert_allclose(g, w, rtol=tol, atol=tol * span)
    gl, wl = _host(got["label"]), _host(want["label"])
    assert gl.dtype == wl.dtype
    assert np.mean(gl != wl) < 0.01  # nearest picks may flip where a coordinate sits on a tie


def test_device_layout_matches_numpy_dtype() -> None:
    import cupy as cp

    from fastmed.cuda_modules import load_module

    out = cp.zeros(len(FIELDS) + 1, dtype=cp.int64)
    load_module("augment_kernels").get_function("fm_device_job_layout")((1,), (1,), (out,))
    got = cp.asnumpy(out).tolist()
    assert got[0] == DEVICE_JOB_DTYPE.itemsize == core.device_job_layout()["size"]
    assert got[1:] == [DEVICE_JOB_DTYPE.fields[name][1] for name, _, _ in FIELDS]


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("family", list(families(3)))
def test_family_matches_cpu(ndim: int, family: str) -> None:
    s = sample(ndim)
    ops = families(ndim)[family]
    want = T.Compose(ops, device="cpu")(s, seed=4, index=2)
    got = T.Compose(ops, device="cuda")(s, seed=4, index=2)
    _compare(got, want, ndim)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("ndim", [2, 3])
def test_output_dtypes_batch_multichannel(dtype: str, ndim: int) -> None:
    import cupy as cp

    c = (8, 9, 10) if ndim == 3 else (20, 21)
    ops = [
        T.RandomCrop(c),
        T.RandomFlip(),
        T.RandomAffine(degrees=15),
        T.Window(-500, 500),
        T.RandomGamma(),
        T.RandomGaussianNoise(),
        T.RandomGaussianBlur(p=0.5),
    ]
    samples = [sample(ndim, np.int16, channels=2, seed=k) for k in range(4)]
    want = T.Compose(ops, dtype=dtype).batch(samples, seed=9)
    dev = [{k: cp.asarray(v) for k, v in s.items()} for s in samples]  # already on the device: no copy
    got = T.Compose(ops, dtype=dtype, device="cuda").batch(dev, seed=9)
    for g, w in zip(got, want, strict=True):  # type: ignore[arg-type]
        _compare(g, w, ndim)


def test_torch_cuda_in_torch_out_zero_copy() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA")
    s = sample(3)
    ts = {k: torch.from_numpy(v).cuda() for k, v in s.items()}
    ops = families(3)["noise"]
    got = T.Compose(ops, device="cuda")(ts, seed=1, index=1)
    assert isinstance(got["image"], torch.Tensor) and got["image"].is_cuda
    _compare(got, T.Compose(ops)(s, seed=1, index=1), 3)


def test_same_key_same_gpu_output() -> None:
    s = sample(3)
    ops = families(3)["elastic"] + [T.RandomGaussianNoise()]
    a = T.Compose(ops, device="cuda")(s, seed=2, index=7)["image"]
    b = T.Compose(ops, device="cuda")(s, seed=2, index=7)["image"]
    np.testing.assert_array_equal(_host(a), _host(b))


def test_custom_voxel_op_on_device_matches_cpu() -> None:
    from tests.transforms._custom_fns import signed_power

    rng = np.random.Generator(np.random.PCG64(3))
    s = {"image": rng.normal(size=(2, 20, 24, 28)).astype(np.float32)}
    ops = [T.RandomCrop((16, 16, 16)), T.Window(-2, 2), signed_power(p=1.0)]
    got = T.Compose(ops, device="cuda")(s, seed=1, index=4)
    want = T.Compose(ops, device="cpu")(s, seed=1, index=4)
    np.testing.assert_allclose(_host(got["image"]), want["image"], rtol=1e-5, atol=1e-5)
