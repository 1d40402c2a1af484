"""Batch outputs: ``out=`` writes each sample into its slot, bit for bit the list path; collation of the rest."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import default_collate

import fastmed.transforms as T
from fastmed._native import core
from fastmed.backends import get_backend
from fastmed.backends.cuda import split_out
from fastmed.backends.cuda_batch import NumpyArrays, build_batch
from fastmed.errors import TransformError
from fastmed.transforms.batch_out import DL_CUDA, describe_out
from fastmed.transforms.collate import collate
from tests.backends._pipelines import crop, families, sample

FAMILIES = ["crop", "elastic", "window", "blur", "low_res", "patch_normalize", "noise"]
TORCH_DT = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _samples(ndim: int, n: int = 3) -> list[dict[str, Any]]:
    return [sample(ndim, seed=s) for s in range(n)]


def _bits(a: Any) -> np.ndarray:
    """Comparable bits of a numpy array or torch tensor (bfloat16 through int16)."""
    if isinstance(a, torch.Tensor):
        return (a.view(torch.int16) if a.dtype == torch.bfloat16 else a).numpy()
    return np.asarray(a)


def _alloc(lib: str, n: int, ndim: int, dtype: str) -> dict[str, Any]:
    shape = (n, 1, *crop(ndim))
    if lib == "numpy":
        return {"image": np.full(shape, 7, dtype=dtype), "label": np.full(shape, 9, dtype=np.uint8)}
    return {"image": torch.full(shape, 7, dtype=TORCH_DT[dtype]), "label": torch.full(shape, 9, dtype=torch.uint8)}


@pytest.mark.parametrize("device", ["cpu", "cpu-reference"])
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(
    ("lib", "dtype"),
    [("numpy", "float32"), ("numpy", "float16"), ("torch", "float32"), ("torch", "float16"), ("torch", "bfloat16")],
)
def test_out_equals_list_path(device: str, ndim: int, family: str, lib: str, dtype: str) -> None:
    aug = T.Compose(families(ndim)[family], label_keys=("label",), dtype=dtype, device=device)
    samples = _samples(ndim)
    want = aug.batch(samples, seed=5, indices=[4, 1, 9])
    out = _alloc(lib, len(samples), ndim, dtype)
    got = aug.batch(samples, seed=5, indices=[4, 1, 9], out=out, stack=True)
    assert isinstance(got, dict) and isinstance(want, list)
    assert got["image"] is out["image"] and got["label"] is out["label"]  # the caller's arrays, no stacked copy
    for k, w in enumerate(want):
        for key in ("image", "label"):
            np.testing.assert_array_equal(_bits(out[key][k]), _bits(w[key]), err_msg=f"{key} sample {k}")
    assert got["params"] == [w["params"] for w in want]


@pytest.mark.parametrize("device", ["cpu", "cpu-reference"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("family", ["affine", "blur"])
def test_stack_without_out_equals_stacking_the_list(device: str, dtype: str, family: str) -> None:
    aug = T.Compose(families(2)[family], label_keys=("label",), dtype=dtype, device=device)
    samples = _samples(2)
    outs = aug.batch(samples, seed=2)
    got = aug.batch(samples, seed=2, stack=True)
    assert isinstance(got, dict) and isinstance(outs, list)
    assert isinstance(got["image"], torch.Tensor if dtype == "bfloat16" else np.ndarray)
    assert got["label"].dtype == outs[0]["label"].dtype
    for key in ("image", "label"):
        want = np.stack([_bits(o[key]) for o in outs])
        np.testing.assert_array_equal(_bits(got[key]), want, err_msg=key)


@pytest.mark.parametrize("src_dtype", [np.uint8, np.uint16, np.int32, np.float32])
def test_multichannel_out_equals_list_path(src_dtype: type) -> None:
    aug = T.Compose(families(3)["bias_field"], label_keys=("label",), dtype="float16")
    samples = [sample(3, dtype=src_dtype, channels=3, seed=k) for k in range(2)]
    want = aug.batch(samples, seed=4)
    out = {"image": np.zeros((2, 3, *crop(3)), np.float16), "label": np.zeros((2, 1, *crop(3)), np.uint8)}
    aug.batch(samples, seed=4, out=out)
    for k, w in enumerate(want):
        for key in ("image", "label"):
            np.testing.assert_array_equal(out[key][k], w[key])


def test_out_without_stack_gives_slots_of_the_callers_array() -> None:
    aug = T.Compose(families(3)["affine"], dtype="bfloat16")
    out = torch.zeros((2, 1, *crop(3)), dtype=torch.bfloat16)
    got = aug.batch(_samples(3, 2), out=out)
    assert isinstance(got, list)
    for k, o in enumerate(got):
        assert isinstance(o["image"], torch.Tensor) and o["image"].data_ptr() == out[k].data_ptr()
        assert "label" in o and isinstance(o["label"], np.ndarray)  # not in out: the list path's array


def test_backend_run_out_writes_in_place() -> None:
    aug = T.Compose(families(3)["affine"], label_keys=("label",))
    samples = _samples(3, 2)
    plans = [aug.compile(s, aug.sample_params(s, 3, i)) for i, s in enumerate(samples)]
    want = get_backend("cpu").run(plans, samples, 1)
    img = np.zeros((2, 1, *crop(3)), np.float32)
    res = get_backend("cpu").run(plans, samples, 1, out={"image": img})
    for k in range(2):
        assert np.shares_memory(res[k]["image"], img)
        np.testing.assert_array_equal(img[k], want[k]["image"])
        np.testing.assert_array_equal(res[k]["label"], want[k]["label"])


def test_non_contiguous_out_is_filled_by_copy() -> None:
    aug = T.Compose(families(3)["affine"])
    samples = _samples(3, 2)
    want = aug.batch(samples)
    big = np.zeros((2, 1, *crop(3)[:2], 2 * crop(3)[2]), np.float32)
    view = big[..., ::2]
    aug.batch(samples, out=view)
    for k in range(2):
        np.testing.assert_array_equal(view[k], want[k]["image"])


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda n, c: np.zeros((n + 1, 1, *c), np.float32), "shape"),
        (lambda n, c: np.zeros((n, 2, *c), np.float32), "shape"),
        (lambda n, c: np.zeros((n, 1, *c[:-1], c[-1] + 1), np.float32), "shape"),
        (lambda n, c: np.zeros((n, 1, *c), np.float64), "dtype"),
        (lambda n, c: torch.zeros((n, 1, *c), dtype=torch.bfloat16), "dtype"),
        (lambda n, c: np.zeros((n, 1, *c), np.float32).tolist(), "DLPack"),
    ],
)
def test_bad_out_refused(make: Any, match: str) -> None:
    aug = T.Compose(families(3)["crop"])
    with pytest.raises(TransformError, match=match):
        aug.batch(_samples(3, 2), out=make(2, crop(3)))


def test_bad_out_keys_and_label_dtype_refused() -> None:
    aug = T.Compose(families(3)["crop"], label_keys=("label",))
    n, c = 2, crop(3)
    with pytest.raises(TransformError, match="no such array"):
        aug.batch(_samples(3, n), out={"mask": np.zeros((n, 1, *c), np.uint8)})
    with pytest.raises(TransformError, match="dtype"):
        aug.batch(_samples(3, n), out={"label": np.zeros((n, 1, *c), np.int16)})
    partial = [s if k else {"image": s["image"]} for k, s in enumerate(_samples(3, n))]  # sample 0 has no label
    with pytest.raises(TransformError, match="every sample"):
        aug.batch(partial, out={"label": np.zeros((n, 1, *c), np.uint8)})
    ro = np.zeros((n, 1, *c), np.float32)
    ro.flags.writeable = False
    with pytest.raises(TransformError, match="read-only"):
        aug.batch(_samples(3, n), out=ro)


def test_samples_with_different_patch_shapes_refuse_one_out() -> None:
    aug = T.Compose([T.Resample((1.5, 1.5, 1.5))])
    samples = [sample(3, seed=0), {"image": np.zeros((1, 20, 20, 20), np.int16)}]
    with pytest.raises(TransformError, match="one shape"):
        aug.batch(samples, out=np.zeros((2, 1, 10, 12, 13), np.float32))


def test_bfloat16_needs_the_batch_dtype() -> None:
    aug = T.Compose(families(2)["crop"], dtype="bfloat16")
    with pytest.raises(TransformError, match="dtype float16"):
        aug.batch(_samples(2, 2), out=torch.zeros((2, 1, *crop(2)), dtype=torch.float16))


# ---- the CUDA backend's non-device logic ----------------------------------------------------


class _FakeCudaArray:
    """Only the protocols: a CUDA DLPack array the checks must send to the device path."""

    def __init__(self, shape: tuple[int, ...], dtype: str) -> None:
        self.shape, self.dtype = shape, dtype

    def __dlpack__(self, stream: Any = None) -> Any:  # pragma: no cover - never consumed on the CPU
        raise AssertionError("not read on the CPU")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (DL_CUDA, 0)


def test_cuda_split_out_sorts_by_dlpack_device() -> None:
    aug = T.Compose(families(3)["crop"], label_keys=("label",))
    samples = _samples(3, 2)
    plans = [aug.compile(s, aug.sample_params(s, 0, i)) for i, s in enumerate(samples)]
    dev_img = _FakeCudaArray((2, 1, *crop(3)), "float32")
    host_lab = torch.zeros((2, 1, *crop(3)), dtype=torch.uint8)
    dev, host = split_out(plans, samples, {"image": dev_img, "label": host_lab})
    assert dev == {"image": dev_img}
    assert set(host) == {"label"} and np.shares_memory(host["label"], host_lab.numpy())
    assert describe_out(dev_img, "image").on_host is False
    with pytest.raises(TransformError, match="shape"):
        split_out(plans, samples, {"image": _FakeCudaArray((3, 1, *crop(3)), "float32")})
    with pytest.raises(TransformError, match="GPU"):  # the CPU backend cannot write device memory
        get_backend("cpu").run(plans, samples, 1, out={"image": dev_img})


@pytest.mark.parametrize("family", ["affine", "elastic", "window"])
def test_packed_batch_writes_into_slots(family: str) -> None:
    aug = T.Compose(families(3)[family], label_keys=("label",), dtype="float16")
    samples = _samples(3)
    plans = [aug.compile(s, aug.sample_params(s, 2, i)) for i, s in enumerate(samples)]
    slots = {"image": np.zeros((3, 1, *crop(3)), np.float16), "label": np.zeros((3, 1, *crop(3)), np.uint8)}
    batch = build_batch(plans, samples, NumpyArrays(), slots)
    for k, ap, o, _ in batch.outputs:
        assert np.shares_memory(o, slots[ap.key][k]), (k, ap.key)
    core._augment_packed_jobs(batch.table, 2)
    want = get_backend("cpu-reference").run(plans, samples, 2)
    for k in range(3):
        for key in ("image", "label"):
            np.testing.assert_array_equal(slots[key][k], want[k][key])


# ---- collation of the other keys -----------------------------------------------------------


def _extra(k: int) -> dict[str, Any]:
    return {
        "class_id": k,
        "flag": k % 2 == 0,
        "score": 0.5 * k,
        "id": f"case{k}",
        "report": f"no finding {k}",
        "np_scalar": np.float32(k) / 3,
        "vector": np.arange(3, dtype=np.int32) + k,
        "tensor": torch.full((2,), float(k)),
        "meta": {"site": "a" if k else "b", "age": 40 + k, "pair": (k, 2.0 * k)},
        "tags": ["x", f"t{k}"],
    }


def _assert_same(got: Any, want: Any, path: str = "") -> None:
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), path
        assert got.dtype == want.dtype and torch.equal(got, want), path
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            _assert_same(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list | tuple):
        assert type(got) is type(want) and len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _assert_same(g, w, f"{path}[{i}]")
    else:
        assert got == want, path


def test_stack_collates_other_keys_like_default_collate() -> None:
    aug = T.Compose(families(3)["crop"], label_keys=("label",))
    samples = [{**s, **_extra(k)} for k, s in enumerate(_samples(3))]
    outs = aug.batch(samples, seed=1)
    got = aug.batch(samples, seed=1, stack=True)
    assert isinstance(got, dict) and isinstance(outs, list)
    for key in [*_extra(0), "spacing"]:
        _assert_same(got[key], default_collate([o[key] for o in outs]), key)
    assert got["params"] == [o["params"] for o in outs]


def test_collate_without_torch_gives_numpy() -> None:
    batch = [_extra(k) for k in range(3)]
    got = collate([{k: v for k, v in b.items() if k != "tensor"} for b in batch], use_torch=False)
    want = default_collate([{k: v for k, v in b.items() if k != "tensor"} for b in batch])
    for key in ("class_id", "flag", "score", "np_scalar", "vector"):
        assert isinstance(got[key], np.ndarray), key
        np.testing.assert_array_equal(got[key], want[key].numpy())
        assert str(got[key].dtype) == str(want[key].dtype).removeprefix("torch."), key
    assert got["id"] == want["id"] and got["meta"]["site"] == want["meta"]["site"]


def test_collate_keeps_what_default_collate_refuses_as_a_list() -> None:
    assert collate([None, None]) == [None, None]
    ragged = [np.zeros(2), np.zeros(3)]
    assert collate(ragged) is not None and len(collate(ragged)) == 2


# ---- GPU ------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_pinned_torch_out_on_cpu(dtype: str) -> None:
    aug = T.Compose(families(3)["blur"], label_keys=("label",), dtype=dtype)
    samples = _samples(3)
    want = aug.batch(samples)
    out = torch.empty((3, 1, *crop(3)), dtype=TORCH_DT[dtype], pin_memory=True)
    aug.batch(samples, out=out)
    for k, w in enumerate(want):
        np.testing.assert_array_equal(_bits(out[k]), _bits(w["image"]))


@pytest.mark.gpu
@pytest.mark.parametrize("lib", ["cupy", "torch"])
@pytest.mark.parametrize("family", ["affine", "blur"])
@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_cuda_out_equals_list_path(lib: str, family: str, dtype: str) -> None:
    if lib == "cupy" and dtype == "bfloat16":
        pytest.skip("CuPy has no bfloat16; a torch CUDA tensor carries it")
    aug = T.Compose(families(3)[family], label_keys=("label",), dtype=dtype, device="cuda")
    samples = _samples(3)
    want = aug.batch(samples)
    shape = (3, 1, *crop(3))
    if lib == "cupy":
        import cupy

        out = {"image": cupy.zeros(shape, dtype=dtype), "label": cupy.zeros(shape, dtype=cupy.uint8)}
    else:
        out = {
            "image": torch.zeros(shape, dtype=TORCH_DT[dtype], device="cuda"),
            "label": torch.zeros(shape, dtype=torch.uint8, device="cuda"),
        }
    got = aug.batch(samples, out=out, stack=True)
    assert isinstance(got, dict) and got["image"] is out["image"]
    for k, w in enumerate(want):
        for key in ("image", "label"):
            g, r = torch.from_dlpack(_int_view(out[key][k])).cpu(), torch.from_dlpack(_int_view(w[key])).cpu()
            assert torch.equal(g, r), (key, k)


def _int_view(a: Any) -> Any:
    return a.view(torch.int16) if isinstance(a, torch.Tensor) and a.dtype == torch.bfloat16 else a
