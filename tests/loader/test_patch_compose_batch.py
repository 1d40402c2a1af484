"""PatchCompose plans a batch with one vectorized draw: each plan equals the sample's own plan.

Oracle: the one-by-one draw (the plain planner on one sample, then the sampler's start put into
the crop's params, as PatchCompose drew before it had a batch draw), compiled sample by sample.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastmed.transforms as T
from fastmed.loader.patch_compose import START_KEY, Foreground, PatchCompose
from fastmed.loader.patch_order import PatchOrder
from fastmed.loader.patch_samplers import LabelPatchSampler, RandomPatchSampler
from fastmed.transforms import planner
from fastmed.transforms.compose import Compose
from tests.loader._patch_data import LazyVolumes
from tests.transforms.test_batch_plan import _same, _same_plan

SHAPES = [(20, 24, 28), (24, 20, 22), (18, 26, 24), (22, 22, 22), (26, 18, 20)]


def _base() -> Compose:
    return T.Compose(
        [
            T.RandomFlip(p=0.5),
            T.RandomAffine(degrees=10.0, scale=(0.9, 1.1), p=0.7),
            T.RandomElastic(magnitude=(0.0, 2.0), grid_spacing=6.0, p=0.5),
            T.Window(0.0, 600.0),
            T.RandomGamma(p=0.5),
            T.RandomGaussianNoise(p=0.5),
        ]
    )


def _patch_compose(sampler: Any, k: int, ds: LazyVolumes) -> PatchCompose:
    order = PatchOrder(len(ds), k, seed=5, shuffle=True, batch_size=4)
    return PatchCompose(_base(), sampler, k, order, Foreground(ds))


def _one_by_one(pc: PatchCompose, sample: dict[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
    """The per-sample draw: every op from its own stream, the crop's start from the sampler."""
    drawn = planner.draw(pc, [sample], seed, [index], epoch)[0][0]
    if pc.sampler is not None:
        start = sample.get(START_KEY)
        if start is None:
            start = pc._group(sample, seed, index, epoch).starts[index]
        drawn["ops"][0]["params"] = {"start": [int(v) for v in start]}
    return drawn


@pytest.mark.parametrize("which", ["random", "label", "none"])
@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32), epoch=st.integers(0, 3), k=st.integers(1, 3), data=st.data())
def test_patch_compose_batch_plan_equals_per_sample_plans(which: str, seed: int, epoch: int, k: int, data: Any) -> None:
    ds = LazyVolumes(SHAPES, blobs=1)
    sampler = {
        "random": RandomPatchSampler((12, 10, 14)),
        "label": LabelPatchSampler((12, 10, 14), foreground_prob=0.5),
        "none": None,
    }[which]
    pc = _patch_compose(sampler, k, ds)
    indices = data.draw(st.lists(st.integers(0, len(ds) * k - 1), min_size=1, max_size=5))
    samples = [pc._prepare(ds[i // k], seed, i, epoch) for i in indices]
    params, plans, _ = pc._plan_batch(samples, seed, indices, epoch, read=False)
    for s, i, p, plan in zip(samples, indices, params, plans, strict=True):
        want = _one_by_one(pc, s, seed, i, epoch)
        assert _same(p, want)
        _same_plan(plan, pc.compile(s, want))
        _same_plan(plan, pc.plan(s, seed, i, epoch))
        assert _same(pc._draw(s, seed, i, epoch), want)
