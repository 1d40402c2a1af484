"""RNG and thread-pool floor: filling a large float32 array with random numbers.

This is the floor later kernels are compared against: memory-bound work done by the
native pool (1 and 2 threads), next to numpy's (one thread) and torch's own generators.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fastmed._native import core
from fastmed.bench.harness import Case, Impl
from fastmed.bench.registry import register_suite

SIZES = {"tiny": 1 << 16, "small": 1 << 22, "full": 1 << 25}


def _torch_impls(out: np.ndarray, threads: int) -> tuple[Impl, Impl] | None:
    try:
        import torch
    except ImportError:
        return None
    tt = torch.from_numpy(out)
    g = torch.Generator().manual_seed(1)

    def with_threads(fn: Callable[[], object]) -> Callable[[], None]:
        def call() -> None:
            torch.set_num_threads(threads)
            fn()

        return call

    return (
        Impl("torch", with_threads(lambda: tt.uniform_(generator=g))),
        Impl("torch", with_threads(lambda: tt.normal_(generator=g))),
    )


def _cases_for(out: np.ndarray, threads: int) -> list[Case]:
    n = out.size
    gen = np.random.Generator(np.random.Philox(1))
    uni = [
        Impl("fastmed", lambda: core.fill_uniform(out, 1, threads=threads), is_fastmed=True),
        Impl("numpy-philox", lambda: gen.random(out=out, dtype=np.float32)),
    ]
    nor = [
        Impl("fastmed", lambda: core.fill_normal(out, 1, threads=threads), is_fastmed=True),
        Impl("numpy-philox", lambda: gen.standard_normal(out=out, dtype=np.float32)),
    ]
    missing: dict[str, str] = {}
    torch_impls = _torch_impls(out, threads)
    if torch_impls is None:
        missing["torch"] = "not installed"
    else:
        uni.append(torch_impls[0])
        nor.append(torch_impls[1])
    return [
        Case(f"uniform_{n}", uni, items=n, unit="value", threads=threads, missing=dict(missing)),
        Case(f"normal_{n}", nor, items=n, unit="value", threads=threads, missing=dict(missing)),
    ]


@register_suite("rng")
def rng_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """Uniform and normal fills of ``SIZES[size]`` float32 values (Philox floor)."""
    out = np.empty(SIZES[size], np.float32)
    return [case for t in threads for case in _cases_for(out, t)]
