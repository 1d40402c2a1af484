"""How Compose reads a sample: array shapes, spacing, lazy volumes and their windows, label padding.

A sample's image and label entries are in-memory arrays (numpy, torch, CuPy) or
:class:`~fastmed.volume_source.LazyVolume` handles that are read only over the box a plan's
source footprint needs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from fastmed.errors import TransformError
from fastmed.transforms.batch_out import namespace
from fastmed.volume_source import is_lazy_volume


def check_label_pad(value: float, name: str, arr: Any) -> None:
    """An integer label is padded with one of its own values (no wrap-around: 300 never becomes 44)."""
    raw = getattr(arr, "dtype", None)
    try:  # numpy and CuPy dtypes, torch dtypes by name ("torch.uint8"), lists through numpy
        dt = np.asarray(arr).dtype if raw is None else np.dtype(str(raw).removeprefix("torch."))
    except TypeError:
        return
    if dt.kind == "b":
        ok, lo, hi = value in (0.0, 1.0), 0, 1
    elif dt.kind in "iu":
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
        ok = float(value).is_integer() and lo <= value <= hi
    else:
        return
    if not ok:
        raise TransformError(
            f"Compose: label_pad_value {value} does not fit sample[{name!r}] of dtype {dt} (an integer in [{lo}, {hi}])"
        )


_LAZY_TYPES: dict[tuple[type, tuple[str, ...]], bool] = {}


def is_lazy(v: Any) -> bool:
    """Whether ``v`` is a :class:`~fastmed.volume_source.LazyVolume` (read box by box, no channel axis).

    The protocol check (slow: it looks up every protocol member) runs once per type and set
    of instance attributes.
    """
    if isinstance(v, np.ndarray) or not hasattr(v, "read_window"):  # the common case, cheaply
        return False
    kind = (type(v), tuple(getattr(v, "__dict__", ())))
    known = _LAZY_TYPES.get(kind)
    if known is None:
        known = is_lazy_volume(v) and not hasattr(type(v), "__array__")  # static: reads no property
        if len(_LAZY_TYPES) < 256:
            _LAZY_TYPES[kind] = known
    return known


def array_shape(v: Any) -> tuple[int, ...]:
    """Channel-first shape of a sample array; a lazy volume is one channel."""
    if is_lazy(v):
        return (1, *(int(n) for n in v.shape))
    return tuple(int(n) for n in np.shape(v))


def sample_spacing(sample: Mapping[str, Any], ndim: int, image: Any = None) -> tuple[float, ...]:
    """Voxel spacing of a sample: ``spacing``, ``meta["spacing"]``, a lazy image's own, else ones."""
    sp = sample.get("spacing")
    if sp is None and isinstance(sample.get("meta"), Mapping):
        sp = sample["meta"].get("spacing")
    if sp is None and is_lazy(image):
        sp = image.spacing
    if sp is None:
        return (1.0,) * ndim
    sp = tuple(float(v) for v in sp)
    if len(sp) != ndim or any(v <= 0 for v in sp):
        raise TransformError(f"sample spacing {sp} does not fit a {ndim}-D sample")
    return sp


def stack_outputs(vals: Sequence[Any]) -> Any:
    """Stack per-sample outputs with their own library: numpy / CuPy by ``__array_namespace__``, else torch."""
    ns = namespace(vals[0])
    if ns is not None:
        return ns.stack(vals)
    import torch  # the one output type without an array namespace (CPU bfloat16, torch CUDA)

    return torch.stack(list(vals))


_TAKES_FOOTPRINT: dict[Any, bool] = {}


def takes_footprint(vol: Any) -> bool:
    """Whether ``vol.read_window`` takes ``touches=`` (a footprint narrowing the read), looked up once per method."""
    import inspect

    fn = inspect.getattr_static(vol, "read_window", None)
    known = _TAKES_FOOTPRINT.get(fn) if isinstance(fn, Callable) else None  # type: ignore[arg-type]
    if known is None:
        try:
            known = "touches" in inspect.signature(vol.read_window).parameters
        except (TypeError, ValueError):
            known = False
        if isinstance(fn, Callable) and len(_TAKES_FOOTPRINT) < 256:  # type: ignore[arg-type]
            _TAKES_FOOTPRINT[fn] = known
    return known


class WindowReader:
    """Sources of a sample's arrays for planning.

    In-memory arrays as they are; lazy volumes read once each over the box ``[lo, hi)``
    (channel-first: a channel axis added). With a ``footprint`` (the plan's
    :meth:`~fastmed.transforms.plan.SamplePlan.source_footprint`) a volume whose
    ``read_window`` takes ``touches=`` reads only the parts of the box the kernel samples;
    statistics (:meth:`source`) always see the whole box. ``footprint`` may also be a
    zero-argument function making it: it is then made only when such a volume is read.
    """

    def __init__(self, sample: Mapping[str, Any], lo: Sequence[int], hi: Sequence[int], footprint: Any = None):
        self.sample, self.lo, self.hi = sample, tuple(lo), tuple(hi)
        self._footprint = footprint
        self.cache: dict[str, Any] = {}
        self.partial: set[str] = set()

    @property
    def footprint(self) -> Any:
        """The plan's footprint (made on first use when a maker was given), or ``None``."""
        if callable(self._footprint) and not hasattr(self._footprint, "touches_boxes"):
            self._footprint = self._footprint()
        return self._footprint

    def read(self, name: str, whole: bool = False) -> Any:
        """The window of lazy ``sample[name]``, read once, channel-first (``whole``: every voxel of the box)."""
        if name in self.partial and whole:
            del self.cache[name]
            self.partial.discard(name)
        if name not in self.cache:
            vol = self.sample[name]
            if not self.lo:
                raise TransformError(f"Compose: sample[{name!r}] is lazy but no window was planned")
            if self._footprint is not None and not whole and takes_footprint(vol):
                win = np.asarray(vol.read_window(self.lo, self.hi, touches=self.footprint))
                self.partial.add(name)
            else:
                win = np.asarray(vol.read_window(self.lo, self.hi))
            want = tuple(b - a for a, b in zip(self.lo, self.hi, strict=True))
            if win.shape != want:
                raise TransformError(
                    f"Compose: sample[{name!r}].read_window({self.lo}, {self.hi}) returned shape {win.shape}, "
                    f"expected {want}"
                )
            self.cache[name] = win[None]
        return self.cache[name]

    def source(self, name: str) -> Any:
        """The array statistics are taken from: the whole in-memory array, or a lazy volume's window."""
        v = self.sample[name]
        if is_lazy(v):
            return self.read(name, whole=True)
        return v if hasattr(v, "ndim") else np.asarray(v)
