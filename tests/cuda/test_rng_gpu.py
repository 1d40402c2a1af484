"""The GPU Philox fill gives exactly the CPU's words (runs only with a CUDA device)."""

from __future__ import annotations

import numpy as np
import pytest

from fastmed._native import core

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize(
    ("kernel", "cpu_fill"), [("fm_fill_uniform", "fill_uniform"), ("fm_fill_normal", "fill_normal")]
)
def test_gpu_fill_matches_cpu(kernel: str, cpu_fill: str) -> None:
    import cupy as cp

    from fastmed.cuda_modules import load_module

    n = 1_000_003
    seed, lo, hi = 77, 5, 6
    ref = np.empty(n, np.float32)
    getattr(core, cpu_fill)(ref, seed, lo, hi)
    k0, k1 = core.derive_key(seed, 0)
    out = cp.empty(n, cp.float32)
    fn = load_module("rng_kernels").get_function(kernel)
    fn(((n // 4 + 255) // 256,), (256,), (out, np.int64(n), np.uint32(k0), np.uint32(k1), np.uint32(lo), np.uint32(hi)))
    got = cp.asnumpy(out)
    if kernel == "fm_fill_uniform":
        np.testing.assert_array_equal(got, ref)
    else:  # transcendental functions may differ in the last ulp between host libm and CUDA
        np.testing.assert_allclose(got, ref, rtol=2e-6, atol=2e-6)
