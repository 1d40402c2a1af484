"""Window reads: equal to numpy slicing of fm.read_series and of the array zarr-python reads; corrupt chunks
inside the box raise, outside are never opened; a patch reads only the chunks under it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmed as fm
from fastmed.store.chunks import array_info
from fastmed.store.window import StoreVolume, chunks_in_box, read_window
from tests.store._arrays import count_decodes, write_array

pytestmark = pytest.mark.usefixtures("reader")  # every test with the native and the Python chunk loop

CHUNKS = (8, 8, 8)
SHAPE = (40, 64, 64)  # 320x512x512 with 64^3 chunks, scaled by 1/8: 5 x 8 x 8 chunks
PATCH = 16  # 128^3 scaled the same way: 2 chunks per axis


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(0)
    data = rng.integers(-1024, 3000, size=SHAPE, dtype=np.int16)
    return write_array(tmp_path_factory.mktemp("win") / "a", data, CHUNKS), data


@pytest.fixture(scope="module")
def decoded(manifest: fm.Manifest) -> dict[str, np.ndarray[Any, Any]]:
    """Every valid series decoded by fm.read_series (the oracle)."""
    return {r.series_id: fm.read_series(r.paths, series=r.series_id).array for r in manifest.valid}


def box_strategy(shape: tuple[int, ...], chunks: tuple[int, ...]) -> st.SearchStrategy[tuple[list[int], list[int]]]:
    """Random boxes, half of the bounds on chunk edges (and one voxel either side)."""

    def bound(n: int, c: int) -> st.SearchStrategy[int]:
        edges = sorted({min(max(e + d, 0), n) for e in range(0, n + 1, c) for d in (-1, 0, 1)})
        return st.one_of(st.integers(0, n), st.sampled_from(edges))

    pairs = [st.tuples(bound(n, c), bound(n, c)).map(sorted) for n, c in zip(shape, chunks, strict=True)]
    return st.tuples(*pairs).map(lambda ps: ([p[0] for p in ps], [p[1] for p in ps]))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_window_equals_numpy_slice(synthetic: tuple[Path, np.ndarray[Any, Any]], data: st.DataObject) -> None:
    path, arr = synthetic
    info = array_info(path, "synthetic")
    lo, hi = data.draw(box_strategy(SHAPE, CHUNKS))
    threads = data.draw(st.sampled_from([1, 2, None]))
    win = read_window(info, lo, hi, threads)
    want = arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    assert win.flags.c_contiguous and win.dtype == arr.dtype
    np.testing.assert_array_equal(win, want)


def test_window_equals_zarr_python(synthetic: tuple[Path, np.ndarray[Any, Any]]) -> None:
    import zarr

    path, _ = synthetic
    z = zarr.open_array(str(path), mode="r")
    lo, hi = (3, 7, 60), (37, 41, 64)
    np.testing.assert_array_equal(read_window(array_info(path, "s"), lo, hi), z[3:37, 7:41, 60:64])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_store_windows_equal_read_series(store: Path, decoded: dict[str, Any], data: st.DataObject) -> None:
    sid = data.draw(st.sampled_from(sorted(decoded)))
    want_full = decoded[sid]
    h = StoreVolume(store, sid)
    if want_full.shape[0] == 1:  # radiographs: the handle is 2D
        want_full = want_full[0]
    assert h.shape == want_full.shape and h.dtype == want_full.dtype
    lo, hi = data.draw(box_strategy(h.shape, h.info.chunks[-h.ndim :]))
    got = h.read_window(lo, hi)
    np.testing.assert_array_equal(got, want_full[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])


def test_2d_images_are_2d(store: Path, decoded: dict[str, Any]) -> None:
    flat = [sid for sid, a in decoded.items() if a.shape[0] == 1]
    assert flat, "the archive has radiographs"
    for sid in flat:
        h = StoreVolume(store, sid)
        assert h.ndim == 2 and len(h.spacing) == 2
        np.testing.assert_array_equal(h.read(), decoded[sid][0])


def test_bad_boxes_are_refused(synthetic: tuple[Path, np.ndarray[Any, Any]]) -> None:
    info = array_info(synthetic[0], "s")
    for lo, hi in [((0, 0), (1, 1)), ((0, 0, 0), (41, 1, 1)), ((2, 0, 0), (1, 1, 1)), ((-1, 0, 0), (1, 1, 1))]:
        with pytest.raises(ValueError):
            read_window(info, lo, hi)
    assert read_window(info, (3, 3, 3), (3, 9, 9)).shape == (0, 6, 6)


def test_corrupt_chunk_inside_box_raises_outside_is_not_read(
    tmp_path: Path, synthetic: tuple[Path, np.ndarray[Any, Any]]
) -> None:
    import shutil

    path = Path(shutil.copytree(synthetic[0], tmp_path / "a"))
    chunk = path / "c" / "2" / "3" / "4"  # voxels [16:24, 24:32, 32:40)
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))
    info = array_info(path, "series abc image")
    with pytest.raises(fm.CacheError, match=r"series abc image chunk \(2, 3, 4\).*crc32c"):
        read_window(info, (10, 20, 30), (20, 30, 36), threads=2)
    ok = read_window(info, (0, 0, 0), (16, 64, 64))  # ends at the corrupt chunk's first voxel: not read
    np.testing.assert_array_equal(ok, synthetic[1][:16])


def test_patch_never_reads_the_whole_volume(
    synthetic: tuple[Path, np.ndarray[Any, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, arr = synthetic
    info = array_info(path, "s")
    total = int(np.prod(info.grid))
    seen = count_decodes(monkeypatch)
    rng = np.random.default_rng(1)
    for _ in range(20):
        lo = [int(rng.integers(0, n - PATCH + 1)) for n in SHAPE]
        hi = [a + PATCH for a in lo]
        seen.clear()
        win = read_window(info, lo, hi, threads=2)
        np.testing.assert_array_equal(win, arr[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))])
        assert sorted(seen) == chunks_in_box(info, lo, hi)
        assert len(seen) <= 27 < total  # at most 3 chunks per axis for a 2-chunk patch, of 320
        for idx in seen:
            assert all(i * c < b and (i + 1) * c > a for i, c, a, b in zip(idx, CHUNKS, lo, hi, strict=True))
