"""Window reads narrowed by a plan's footprint (``read_window(touches=...)``).

Oracle: the voxels the footprint rules out are filled with NaN; the plan run on that window
must give the whole-volume output bit for bit (affines, elastic grids, every padding mode,
random chunk shapes), and the skipped parts must never be decoded.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed as fm
from fastmed.store.chunks import array_info
from fastmed.store.window import StoreVolume, chunks_in_box, read_window
from fastmed.transforms.plan import ArrayPlan, SamplePlan, SpatialMap, Window
from tests.store._arrays import count_decodes, write_array
from tests.transforms.test_window import EMPTY, _run, cases


def _windowed(plan: SamplePlan, shape: tuple[int, ...], lo: tuple[int, ...]) -> SamplePlan:
    win = Window(tuple(lo), shape)  # type: ignore[arg-type]
    return SamplePlan(plan.spatial, plan.arrays, plan.key, plan.index, plan.ndim, windows={"image": win, "label": win})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=cases(), seed=st.integers(0, 1000), chunks=st.tuples(*[st.integers(1, 6)] * 3), threads=st.sampled_from([1, 2])
)
def test_footprint_window_gives_the_whole_volume_output(case, seed: int, chunks: tuple[int, ...], threads: int) -> None:  # type: ignore[no-untyped-def]
    plan, shape = case
    rng = np.random.default_rng(seed)
    image = rng.normal(size=shape).astype(np.float32)
    label = rng.integers(0, 5, size=shape).astype(np.float32)
    whole = _run("cpu", plan, {"image": image[None], "label": label[None]})
    lo, hi = plan.source_bbox(shape)
    fp = plan.source_footprint(shape)
    with tempfile.TemporaryDirectory() as tmp:
        wins = {}
        for name, data in (("image", image), ("label", label)):
            info = array_info(write_array(Path(tmp) / name, data, chunks), name)
            wins[name] = read_window(info, lo, hi, threads, touches=fp, fill=np.nan)[None]
    got = _run("cpu", _windowed(plan, shape, lo), wins)
    for k in whole:
        np.testing.assert_array_equal(got[k], whole[k], strict=True)


def _rotated(shape: tuple[int, int, int], out: int, angle: float) -> SamplePlan:
    c, s = np.cos(angle), np.sin(angle)
    lin = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])
    m = np.eye(4)
    m[:3, :3] = lin
    m[:3, 3] = (np.asarray(shape) - 1) / 2 - lin @ np.full(3, (out - 1) / 2)
    sp = SpatialMap(m, (out, out, out), (1.0, 1.0, 1.0))
    return SamplePlan(sp, (ArrayPlan("image", "linear", "constant", 0.0, EMPTY),), (0, 0), 0)


def test_a_rotated_patch_decodes_fewer_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shape = (40, 64, 64)
    data = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    info = array_info(write_array(tmp_path / "a", data, (8, 8, 8)), "s")
    plan = _rotated(shape, 20, np.pi / 5)
    lo, hi = plan.source_bbox(shape)
    seen = count_decodes(monkeypatch)
    win = read_window(info, lo, hi, touches=plan.source_footprint(shape), fill=np.nan)
    assert len(seen) < 0.85 * len(chunks_in_box(info, lo, hi))
    assert np.isnan(win).any()
    box = data[tuple(map(slice, lo, hi))]
    read = ~np.isnan(win)
    np.testing.assert_array_equal(win[read], box[read])
    whole = _run("cpu", plan, {"image": data[None]})
    got = _run("cpu", _windowed(plan, shape, lo), {"image": win[None]})
    np.testing.assert_array_equal(got["image"], whole["image"], strict=True)


def test_compose_on_a_store_volume_reads_the_footprint(store: Path) -> None:
    """Compose hands the plan's footprint to a StoreVolume: same patch as from the in-memory array, fewer chunks."""
    from fastmed.transforms.presets import preset

    ds = fm.VolumeDataset(store)
    vol: StoreVolume = next(it for it in (ds[i] for i in range(len(ds))) if len(it["image"].shape) == 3)["image"]
    arr = vol.read()
    aug = preset("r3d", patch=tuple(min(12, n) for n in vol.shape))
    boxed = 0
    vol.chunks_read = 0
    for i in range(6):
        want = aug({"image": arr[None], "spacing": vol.spacing}, seed=2, index=i)["image"]
        got = aug({"image": vol, "spacing": vol.spacing}, seed=2, index=i)["image"]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        lo, hi = aug.plan({"image": vol, "spacing": vol.spacing}, seed=2, index=i).source_bbox(vol.shape)
        boxed += len(chunks_in_box(vol.info, lo, hi))
    assert 0 < vol.chunks_read <= boxed


def test_window_buffers_in_use_are_not_handed_out_again(tmp_path: Path) -> None:
    """Windows come from reused buffers (no page faults per read), never from one a live window holds."""
    data = np.random.default_rng(1).integers(-1000, 1000, size=(48, 128, 128)).astype(np.int16)
    info = array_info(write_array(tmp_path / "a", data, (16, 64, 64)), "s")
    boxes = [((0, 0, 0), (40, 120, 120)), ((8, 8, 8), (48, 128, 128)), ((4, 2, 6), (44, 122, 126))]
    held = [read_window(info, lo, hi) for lo, hi in boxes]
    for win, (lo, hi) in zip(held, boxes, strict=True):
        np.testing.assert_array_equal(win, data[tuple(map(slice, lo, hi))])
    view = held[0][None, 1:]
    del held
    again = [read_window(info, lo, hi) for lo, hi in boxes]
    np.testing.assert_array_equal(view[0], data[1:40, :120, :120])  # a view keeps its buffer
    assert not any(np.shares_memory(view, w) for w in again)
    for win, (lo, hi) in zip(again, boxes, strict=True):
        np.testing.assert_array_equal(win, data[tuple(map(slice, lo, hi))])


def test_compose_on_a_2d_store_volume(store: Path) -> None:
    """A radiograph (stored as one slice, shown as 2D): the footprint takes the array's 3-axis boxes."""
    ds = fm.VolumeDataset(store)
    flat = [it["image"] for it in (ds[i] for i in range(len(ds))) if len(it["image"].shape) == 2]
    if not flat:
        pytest.skip("no 2D series in the archive")
    vol: StoreVolume = flat[0]
    arr = vol.read()
    aug = fm.Compose([fm.RandomAffine(degrees=40.0), fm.RandomCrop(tuple(min(16, n) for n in vol.shape))])
    for i in range(4):
        want = aug({"image": arr[None], "spacing": vol.spacing}, seed=5, index=i)["image"]
        got = aug({"image": vol, "spacing": vol.spacing}, seed=5, index=i)["image"]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_window_pool_drops_a_buffer_when_full(tmp_path: Path) -> None:
    """More live windows of different sizes than the pool keeps: the smallest kept buffer is dropped (a regression:
    list.remove compared the buffers' voxels and raised)."""
    data = np.random.default_rng(2).integers(-1000, 1000, size=(96, 128, 128)).astype(np.int16)
    info = array_info(write_array(tmp_path / "a", data, (32, 64, 64)), "s")
    held = [read_window(info, (0, 0, 0), (z, 128, 128)) for z in (96, 80, 64, 48, 32, 40)]  # 3 .. 1 MB
    for win in held:
        np.testing.assert_array_equal(win, data[: len(win)])


def test_block_sized_slabs_keep_the_whole_volume_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The native read tests slabs of a blosc block's z-slices: it reads every voxel 4-slice slabs read, same output."""
    from fastmed.store import box_plan, native_read
    from fastmed.store.layout import Codec

    shape = (64, 48, 48)
    data = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    info = array_info(write_array(tmp_path / "a", data, (32, 16, 16), Codec("blosc", "lz4", 5, "shuffle", 8192)), "s")
    auto = array_info(write_array(tmp_path / "b", data, (32, 16, 16), Codec("blosc", "lz4", 5, "shuffle")), "s")
    if not native_read.usable(info):
        pytest.skip("no native reader")
    assert native_read.block_slices(info) == 8  # 8192 bytes: 8 z-slices of 16 x 16 float32
    assert native_read.block_slices(auto) == box_plan.SLAB
    plan = _rotated(shape, 24, np.pi / 5)
    lo, hi = plan.source_bbox(shape)
    fp = plan.source_footprint(shape)
    win = np.array(read_window(info, lo, hi, 2, touches=fp, fill=np.nan))
    monkeypatch.setattr(native_read, "block_slices", lambda info: box_plan.SLAB)
    fine = np.array(read_window(info, lo, hi, 2, touches=fp, fill=np.nan))
    read = ~np.isnan(win)
    assert (read | np.isnan(fine)).all() and np.isnan(win).any()
    np.testing.assert_array_equal(win[read], data[tuple(map(slice, lo, hi))][read])
    whole = _run("cpu", plan, {"image": data[None]})
    got = _run("cpu", _windowed(plan, shape, lo), {"image": win[None]})
    np.testing.assert_array_equal(got["image"], whole["image"], strict=True)
