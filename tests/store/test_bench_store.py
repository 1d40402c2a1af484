"""The store suite's patch-read rows do the same work: every row's patch equals the in-memory row's."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from fastmed.bench.peers.fastmed_aug import build
from fastmed.bench.suites import store as store_suite
from fastmed.bench.suites import store_read


@pytest.mark.parametrize("shape", [(48, 80, 80), (24, 40, 90)])  # the second is smaller than the patch along z, y
def test_footprint_window_replays_the_full_volume_patch(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    vol = rng.integers(-1000, 1000, shape).astype(np.int16)
    aug = build(store_read._spec("tiny"))
    reads: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def read(lo: tuple[int, ...], hi: tuple[int, ...]) -> np.ndarray:
        reads.append((lo, hi))
        return vol[tuple(map(slice, lo, hi))]

    call = store_read.windowed(aug, shape, read)
    for i in range(6):
        want = aug({"image": vol[None]}, seed=1, index=i)["image"]
        got = call(1, i)
        # Same map up to the rounding of the shifted source coordinates.
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    assert all(0 <= a <= b <= n for lo, hi in reads for a, b, n in zip(lo, hi, shape, strict=True))


@pytest.fixture(scope="module")
def cases() -> Iterator[list]:
    yield store_read.read_cases("tiny", (1,))
    store_suite.shutdown()


def test_every_row_gives_the_in_memory_patch(cases: list) -> None:
    (case,) = cases
    assert "compression" in case.name and not case.missing
    rows = {impl.name: impl for impl in case.impls}
    assert {"store", "in-memory", "memmap", "dicom", "nifti", "monai-persistent", "blosc2-nnunet"} <= set(rows)
    out = {name: [np.asarray(impl.fn()) for _ in range(3)] for name, impl in rows.items()}  # call i = patch i
    for name, patches in out.items():
        for got, want in zip(patches, out["in-memory"], strict=True):
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=0, err_msg=name)
