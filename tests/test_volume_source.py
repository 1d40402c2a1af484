"""``isinstance(x, LazyVolume)`` and ``is_lazy_volume`` read no member (no property runs, nothing decodes).

Oracle: a counting object whose every member records being read, and a manifest
``SeriesVolume`` whose decode raises; ``typing``'s own protocol check on Python 3.12+
(``inspect.getattr_static``) decides the same membership.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from fastmed.volume_source import MEMBERS, LazyVolume, is_lazy_volume


class Counting:
    """A lazy volume whose members count their reads."""

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.spacing = (1.0, 1.0, 1.0)

    @property
    def shape(self) -> tuple[int, ...]:
        self.reads.append("shape")
        return (2, 3, 4)

    @property
    def dtype(self) -> np.dtype[Any]:
        self.reads.append("dtype")
        return np.dtype(np.int16)

    @property
    def stats(self) -> Mapping[str, float]:
        self.reads.append("stats")
        return {}

    def read_window(self, lo: Sequence[int], hi: Sequence[int]) -> np.ndarray:
        self.reads.append("read_window")
        return np.zeros([b - a for a, b in zip(lo, hi, strict=True)], np.int16)

    def __getattr__(self, name: str) -> Any:  # a dynamic lookup would count too
        self.reads.append(name)
        raise AttributeError(name)


def test_members_are_the_protocols() -> None:
    assert set(MEMBERS) == set(LazyVolume.__annotations__) | {"read_window"}


def test_isinstance_reads_no_member() -> None:
    v = Counting()
    assert isinstance(v, LazyVolume)
    assert is_lazy_volume(v)
    assert v.reads == []


@pytest.mark.parametrize("missing", MEMBERS)
def test_an_object_without_a_member_is_not_lazy(missing: str) -> None:
    attrs = {m: property(lambda self: 0) for m in MEMBERS if m != missing}
    obj = type("Partial", (), attrs)()
    assert not isinstance(obj, LazyVolume)
    assert not is_lazy_volume(obj)


def test_arrays_and_plain_objects_are_not_lazy() -> None:
    assert not isinstance(np.zeros((2, 2)), LazyVolume)
    assert not isinstance(object(), LazyVolume)
    assert not isinstance({"shape": (1,)}, LazyVolume)


def test_a_manifest_series_is_not_decoded_by_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastmed.dicom.series_assembly as assembly
    from fastmed.dicom.manifest import ManifestRow
    from fastmed.store.dicom_volume import SeriesVolume
    from fastmed.transforms.sample_access import array_shape, is_lazy

    def no_decode(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the series was decoded")

    monkeypatch.setattr(assembly, "read_series", no_decode)
    row = ManifestRow("s0", "/nonexistent", ("a.dcm", "b.dcm"), (2, 8, 8), (1.0, 1.0, 1.0), "CT", ("1.2",), True)
    vol = SeriesVolume(row)
    assert isinstance(vol, LazyVolume)
    assert is_lazy(vol)
    assert array_shape(vol) == (1, 2, 8, 8)
    with pytest.raises(AssertionError, match="decoded"):
        vol.stats  # noqa: B018  (the oracle: reading a member does decode)
