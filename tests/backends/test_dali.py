"""The DALI backend on DALI's CPU operators vs the fastmed CPU backend (same sampled params).

One backend instance (its pipelines cached per graph) serves the whole module. Geometry
and deterministic intensity ops agree within float tolerance; DALI's noise comes from
its own generator, so noise is compared by its statistics.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("nvidia.dali")

import fastmed.transforms as T  # noqa: E402
from fastmed.backends import get_backend  # noqa: E402
from fastmed.backends.dali import dali_matrix, dali_pipeline  # noqa: E402
from fastmed.backends.dali_support import (  # noqa: E402
    OP_AFFINE,
    OP_CLIP,
    OP_GAMMA,
    OP_NOISE,
    SUPPORT,
    embed,
    merge_template,
)
from fastmed.errors import TransformError  # noqa: E402
from fastmed.transforms.base import registered_ops  # noqa: E402
from tests.backends._pipelines import crop, families, sample  # noqa: E402

DALI_FAMILIES = [
    "crop", "center_crop_pad", "flip", "rot90", "affine", "resample",
    "window", "normalize", "scale", "gamma", "contrast", "brightness",
]  # fmt: skip


def _both(ops: list[T.Op], samples: list[dict], seed: int = 4, **kw: Any) -> tuple[list[dict], list[dict]]:
    want = T.Compose(ops, **kw).batch(samples, seed=seed, indices=list(range(2, 2 + len(samples))))
    got = T.Compose(ops, device="dali", **kw).batch(samples, seed=seed, indices=list(range(2, 2 + len(samples))))
    return got, want  # type: ignore[return-value]


def _close(got: dict, want: dict, rtol: float = 1e-4) -> None:
    g, w = np.asarray(got["image"], np.float32), np.asarray(want["image"], np.float32)
    assert g.shape == w.shape
    np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * (float(np.abs(w).max()) + 1.0))
    if "label" in want:
        assert got["label"].dtype == want["label"].dtype
        assert np.mean(got["label"] != want["label"]) < 0.01  # nearest ties may round apart


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("family", DALI_FAMILIES)
def test_family_matches_cpu(ndim: int, family: str) -> None:
    got, want = _both(families(ndim)[family], [sample(ndim)])
    _close(got[0], want[0])


@pytest.mark.parametrize("ndim", [2, 3])
def test_batch_with_skipped_ops_multichannel(ndim: int) -> None:
    """Ops with p < 1 make programs differ per sample: one graph (template) runs them all."""
    ops = [
        T.RandomCrop(crop(ndim)), T.RandomFlip(), T.RandomRot90(p=0.5), T.RandomAffine(degrees=15, scale=(0.9, 1.1)),
        T.Window(-500, 500), T.RandomGamma(p=0.5), T.RandomContrast(p=0.5), T.RandomBrightness(p=0.5),
        T.ScaleIntensity(),
    ]  # fmt: skip
    samples = [sample(ndim, np.int16, channels=2, seed=k) for k in range(5)]
    got, want = _both(ops, samples, seed=13)
    for g, w in zip(got, want, strict=True):
        _close(g, w, rtol=1e-4)


@pytest.mark.parametrize("src", [np.uint8, np.uint16, np.int32, np.float32])
def test_source_dtypes(src: type) -> None:
    got, want = _both(families(3)["affine"] + [T.ScaleIntensity()], [sample(3, src)])
    _close(got[0], want[0], rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_outputs(dtype: str) -> None:
    got, want = _both(families(3)["gamma"], [sample(3)], dtype=dtype)
    if dtype == "bfloat16":
        g, w = got[0]["image"].float().numpy(), want[0]["image"].float().numpy()
    else:
        assert got[0]["image"].dtype == np.float16
        g, w = got[0]["image"].astype(np.float32), want[0]["image"].astype(np.float32)
    np.testing.assert_allclose(g, w, atol=1e-2)


def test_edge_padding() -> None:
    ops = [T.CenterCrop((20, 22, 24)), T.RandomAffine(degrees=10)]
    got, want = _both(ops, [sample(3)], pad_mode="edge")
    _close(got[0], want[0], rtol=1e-4)


@pytest.mark.parametrize("ndim", [2, 3])
def test_noise_matches_in_distribution(ndim: int) -> None:
    """DALI's noise is not Philox: compare the residual's mean and std with the drawn std."""
    base = [T.RandomCrop(crop(ndim)), T.Window(-500, 500)]
    noisy = [*base, T.RandomGaussianNoise(std=(0.2, 0.2))]
    s = sample(ndim)
    clean = T.Compose(base)(s, seed=1, index=0)["image"]
    for device in ("cpu", "dali"):
        out = T.Compose(noisy, device=device)(s, seed=1, index=0)
        resid = (out["image"] - clean).ravel()
        assert out["params"]["ops"][2]["params"]["std"] == pytest.approx(0.2)
        n = resid.size
        assert abs(resid.mean()) < 5 * 0.2 / np.sqrt(n), device
        assert abs(resid.std() - 0.2) < 5 * 0.2 / np.sqrt(2 * n), device


@pytest.mark.parametrize(
    ("ops", "kw", "names"),
    [
        ([T.RandomCrop((5, 5, 5)), T.RandomElastic()], {}, ["RandomElastic"]),
        ([T.RandomGaussianBlur(), T.RandomBiasField()], {}, ["RandomBiasField", "RandomGaussianBlur"]),
        ([T.RandomLowRes(zoom=0.5), T.Normalize(stats="patch")], {}, ["RandomLowRes", "Normalize(stats='patch')"]),
        ([T.RandomAffine(degrees=10)], {"pad_mode": "reflect"}, ["pad_mode='reflect'"]),
    ],
)
def test_unsupported_ops_are_named(ops: list[T.Op], kw: dict, names: list[str]) -> None:
    with pytest.raises(TransformError) as err:
        T.Compose(ops, device="dali", **kw)(sample(3), seed=0, index=0)
    for name in names:
        assert name in str(err.value)
    assert "supported:" in str(err.value)


def test_support_table_covers_every_registered_op() -> None:
    assert set(registered_ops()) <= set(SUPPORT)
    for where in SUPPORT.values():
        assert {"cpu", "cpu-reference", "cuda"} <= set(where)


def test_matrix_convention_against_scipy() -> None:
    """A translation by +1 voxel along x in fastmed's map is DALI's +1 with half-voxel centres."""
    m = np.eye(4)
    m[2, 3] = 1.0  # source x = output x + 1
    d = dali_matrix(m, 3)
    np.testing.assert_allclose(d, [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]])
    s = np.diag([2.0, 1.0, 1.0, 1.0])  # source z = 2 * output z
    np.testing.assert_allclose(dali_matrix(s, 3)[2], [0, 0, 2, -0.5])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from([OP_CLIP, OP_AFFINE, OP_GAMMA, OP_NOISE]), max_size=6), max_size=5))
def test_merged_template_embeds_every_program(seqs: list[list[int]]) -> None:
    t: tuple[int, ...] = ()
    for s in seqs:
        t = merge_template(t, s)
    for s in seqs:
        where = embed(s, t)
        assert [t[k] for k in where] == s and where == sorted(set(where))
    assert len(t) <= sum(len(s) for s in seqs)


def test_embed_rejects_a_program_that_does_not_fit() -> None:
    with pytest.raises(TransformError, match="template"):
        embed([OP_GAMMA, OP_CLIP], (OP_CLIP, OP_GAMMA))


def test_generic_iterator_over_a_dataset() -> None:
    from nvidia.dali.plugin.pytorch import DALIGenericIterator

    ops = [T.RandomCrop(crop(3)), T.RandomFlip(), T.Window(-500, 500), T.RandomGamma(p=0.5), T.RandomBrightness()]
    aug = T.Compose(ops)
    data = [sample(3, seed=k) for k in range(5)]
    pipe, names = dali_pipeline(aug, data, batch_size=2, seed=3)
    assert names == ["image", "label"]
    it = DALIGenericIterator(pipe, names, auto_reset=True)
    seen = 0
    for batch in it:
        img = batch[0]["image"].numpy()
        for k in range(img.shape[0]):
            want = aug(data[seen], seed=3, index=seen)
            np.testing.assert_allclose(img[k], want["image"], rtol=1e-5, atol=1e-5)
            np.testing.assert_array_equal(batch[0]["label"].numpy()[k], want["label"])
            seen += 1
    assert seen == len(data)


def test_dali_pipeline_rejects_unsupported_ops() -> None:
    with pytest.raises(TransformError, match="RandomElastic"):
        dali_pipeline(T.Compose([T.RandomElastic()]), [sample(3)], batch_size=1)


@pytest.mark.gpu
@pytest.mark.parametrize("ndim", [2, 3])
def test_gpu_pipeline_matches_cpu(ndim: int) -> None:
    ops = families(ndim)["gamma"] + [T.RandomAffine(degrees=10)]
    s = [sample(ndim)]
    want = T.Compose(ops).batch(s, seed=2)
    got = T.Compose(ops, device="dali-gpu").batch(s, seed=2)
    _close(got[0], want[0], rtol=1e-4)  # type: ignore[index]


def test_backend_is_cached_and_reuses_pipelines() -> None:
    b = get_backend("dali")
    assert b is get_backend("dali")
