"""Worker batches: small tensors travel inside the pickle and arrive equal to torch's.

Oracles: the tensors themselves (dtype, shape, values) after a round trip through
multiprocessing's ForkingPickler (what torch's worker queues use), and fm.DataLoader's
batches with 0 workers (no transport) against 2 worker processes.
"""

from __future__ import annotations

import pickle
from collections import namedtuple
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch

import fastmed as fm
from fastmed.loader.keyed import Batch
from fastmed.loader.transport import INLINE_BYTES, _Inline, pack
from tests.loader._volumes import VolumeDicts

P = namedtuple("P", ["a", "b"])


def _roundtrip(batch: Batch) -> Batch:
    out = pickle.loads(bytes(ForkingPickler.dumps(batch)))
    assert isinstance(out, Batch)
    return out


def test_small_tensors_round_trip_equal_with_dtype_and_shape() -> None:
    data = {
        "f64": torch.tensor([1.5, -2.25], dtype=torch.float64),
        "i64": torch.arange(6).reshape(2, 3),
        "bool": torch.tensor([True, False]),
        "scalar": torch.tensor(3.0),
        "strided": torch.arange(12.0).reshape(3, 4).t(),
        "nested": [P(torch.tensor([1, 2], dtype=torch.int16), "text"), (torch.ones(2, dtype=torch.uint8), 7)],
        "big": torch.arange(INLINE_BYTES // 4 + 1, dtype=torch.float32),
        "bf16": torch.ones(3, dtype=torch.bfloat16),
    }
    got = _roundtrip(Batch(3, data, [], 2))
    assert got.bid == 3 and got.size == 2

    def check(a: object, b: object) -> None:
        if isinstance(a, torch.Tensor):
            assert isinstance(b, torch.Tensor) and type(b) is type(a)
            assert a.dtype == b.dtype and a.shape == b.shape
            assert torch.equal(a, b)
        elif isinstance(a, dict):
            assert isinstance(b, dict) and a.keys() == b.keys()
            for k in a:
                check(a[k], b[k])
        elif isinstance(a, tuple | list):
            assert type(a) is type(b) and len(a) == len(b)
            for x, y in zip(a, b, strict=True):
                check(x, y)
        else:
            assert a == b

    check(data, got.data)


def test_pack_inlines_small_plain_tensors_only() -> None:
    packed = pack(
        {"small": torch.zeros(4), "big": torch.zeros(INLINE_BYTES), "grad": torch.zeros(2, requires_grad=True)}
    )
    assert isinstance(packed["small"], _Inline)
    assert isinstance(packed["big"], torch.Tensor)
    assert isinstance(packed["grad"], torch.Tensor)


@pytest.mark.parametrize("num_workers", [2])
def test_compose_params_from_workers_equal_in_process(num_workers: int) -> None:
    aug = fm.Compose([fm.RandomCrop((16, 16, 16)), fm.RandomFlip(), fm.RandomAffine(degrees=10)])
    kwargs = {"batch_size": 3, "shuffle": True, "seed": 2, "transform": aug}
    ref = list(fm.DataLoader(VolumeDicts(6), **kwargs))
    got = list(fm.DataLoader(VolumeDicts(6), num_workers=num_workers, **kwargs))
    flat_ref, spec_ref = torch.utils._pytree.tree_flatten(ref)
    flat_got, spec_got = torch.utils._pytree.tree_flatten(got)
    assert spec_ref == spec_got
    for a, b in zip(flat_ref, flat_got, strict=True):
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        else:
            assert a == b
