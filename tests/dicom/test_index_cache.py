"""The index's columnar file cache: what is written is read back unchanged."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed.dicom import index_cache
from fastmed.dicom.slice_info import SliceInfo

FLOATS = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.characters(blacklist_categories=("Cs",))  # values and paths the cache can hold (UTF-8)
OPT_INT = st.none() | st.integers(-(2**62), 2**62)


def _vec(n: int) -> st.SearchStrategy[tuple[float, ...] | None]:
    return st.none() | st.tuples(*([FLOATS] * n))


SLICES = st.builds(
    SliceInfo,
    path=st.just(""),
    series_uid=st.text(TEXT, max_size=20),
    rows=st.integers(0, 2**31),
    columns=st.integers(0, 2**31),
    pixel_spacing=_vec(2),
    orientation=_vec(6),
    position=_vec(3),
    frame=st.integers(0, 1000),
    frames=st.integers(1, 1000),
    rescale_slope=FLOATS,
    rescale_intercept=FLOATS,
    instance_number=OPT_INT,
    acquisition_number=OPT_INT,
    image_type=st.lists(
        st.text(alphabet=st.characters(blacklist_characters="\\", blacklist_categories=("Cs",)), max_size=8), max_size=4
    ).map(tuple),
    modality=st.text(TEXT, max_size=4),
    transfer_syntax=st.text(TEXT, max_size=30),
    slice_thickness=st.none() | FLOATS,
    gantry_tilt=st.none() | FLOATS,
    samples_per_pixel=st.integers(1, 4),
)
PARSED = st.text(TEXT, max_size=30) | st.lists(SLICES, max_size=3)


def _norm(v: object) -> object:
    """NaN compares unequal to itself: compare through a marker."""
    if isinstance(v, float) and math.isnan(v):
        return "nan"
    if isinstance(v, tuple):
        return tuple(_norm(x) for x in v)
    return v


def _fields(s: SliceInfo) -> tuple[object, ...]:
    return tuple(_norm(getattr(s, f)) for f in SliceInfo.__dataclass_fields__)


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(alphabet="abc/._", min_size=1, max_size=10),
        st.tuples(st.integers(0, 2**40), st.integers(0, 2**62), PARSED),
        max_size=6,
    )
)
def test_cache_round_trip(
    tmp_path_factory: pytest.TempPathFactory, entries: dict[str, tuple[int, int, object]]
) -> None:
    base = "/archive/"
    fixed = {}
    for rel, (size, mtime, parsed) in entries.items():
        if isinstance(parsed, list):
            parsed = [_with_path(s, base + rel) for s in parsed]
        fixed[rel] = (size, mtime, parsed)
    path = tmp_path_factory.mktemp("cache") / "c.parquet"
    index_cache.save(path, fixed)  # type: ignore[arg-type]
    back = index_cache.load(path, base)
    assert set(back) == set(fixed)
    for rel, (size, mtime, parsed) in fixed.items():
        bsize, bmtime, bparsed = back[rel]
        assert (bsize, bmtime) == (size, mtime)
        if isinstance(parsed, str):
            assert bparsed == parsed
        else:
            assert isinstance(bparsed, list)
            assert [_fields(s) for s in bparsed] == [_fields(s) for s in parsed]


def _with_path(s: SliceInfo, path: str) -> SliceInfo:
    import dataclasses

    return dataclasses.replace(s, path=path)


def test_damaged_or_foreign_cache_is_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    assert index_cache.load(bad, "/x/") == {}
    assert index_cache.load(tmp_path / "missing.parquet", "/x/") == {}
    import pyarrow as pa
    import pyarrow.parquet as pq

    old = tmp_path / "v1.parquet"  # the JSON-record layout of version 1
    pq.write_table(pa.table({"relpath": ["a"], "size": [1], "mtime_ns": [2], "record": ["{}"]}), str(old))
    assert index_cache.load(old, "/x/") == {}


@pytest.mark.parametrize("rel", ["a", "bad-\udcff-name"])
def test_values_beyond_the_columns_skip_the_cache(tmp_path: Path, rel: str) -> None:
    s = SliceInfo("/x/" + rel, "id", 10**30 if rel == "a" else 4, 4, None, None, None)
    path = tmp_path / "c.parquet"
    index_cache.save(path, {rel: (1, 2, [s])})
    assert not path.exists()
