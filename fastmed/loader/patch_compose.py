"""The pipeline the loader runs with a patch sampler or ``samples_per_volume``: the user's Compose behind a patch step.

:class:`PatchCompose` is the user's :class:`~fastmed.transforms.Compose` (or an empty one)
with one :class:`PatchCrop` in front: a translation to the sampler's patch, so the fused
plan maps output voxels straight into the volume, reads only the patch's footprint, and
pads at borders exactly as RandomCrop does (the translation is a crop). The user's ops
see a volume of the patch's size; their RNG streams are their positions in this pipeline
(one more than in the user's). Sample ``s`` is patch ``s % k`` of volume ``s // k``;
its location comes from the sampler keyed by ``(seed, epoch, s)`` and its batch position
(from :class:`~fastmed.loader.patch_order.PatchOrder`), and is returned as ``location``
(``[start..., stop...]`` in volume voxels, before augmentation).

With ``k > 1`` and lazy volumes, the first patch of a volume met in an epoch plans all
``k``, and every patch gets a :class:`~fastmed.loader.region.RegionVolume` on the union
of their footprints: one read serves the ``k`` patches (per process; the fast path's
threads share it).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Subset

from fastmed.loader.patch_order import PatchOrder
from fastmed.loader.patch_samplers import PatchSampler, PatchSource
from fastmed.loader.region import RegionVolume
from fastmed.rng import KeyedRNG
from fastmed.transforms._geometry import translation
from fastmed.transforms.base import Context, Params, SpatialOp, SpatialStep
from fastmed.transforms.compose import Compose
from fastmed.transforms.sample_access import array_shape, is_lazy

START_KEY = "_fastmed_patch_start"
"""Sample key carrying a patch's first voxel from the group into the draw (removed from outputs)."""


@dataclass(frozen=True)
class PatchCrop(SpatialOp):
    """A crop at a position the loader's patch sampler chose (its ``start`` param is set per sample).

    Parameters
    ----------
    size
        Patch size per spatial axis.
    pad_mode, pad_value
        Padding where the patch leaves the volume (``None``: keep the pipeline's).
    """

    size: tuple[int, ...]
    pad_mode: str | None = "constant"
    pad_value: float = 0.0

    def sample_params(self, rng: KeyedRNG, ctx: Context) -> Params:
        """A placeholder start (the pipeline puts the sampler's in; the output shape does not depend on it)."""
        self._check(ctx)
        return {"start": [0] * ctx.ndim}

    def _check(self, ctx: Context) -> None:
        if len(self.size) != ctx.ndim:
            from fastmed.errors import TransformError

            raise TransformError(f"patch size {self.size} has {len(self.size)} axes for a {ctx.ndim}-D sample")

    def step(self, params: Params, ctx: Context) -> SpatialStep:
        """A translation by the start voxel, to a grid of ``size``."""
        self._check(ctx)
        return SpatialStep(translation(params["start"]), self.size, ctx.spacing)

    def padding(self) -> tuple[str, float] | None:
        """The sampler's padding."""
        return None if self.pad_mode is None else (self.pad_mode, float(self.pad_value))


class Foreground:
    """The dataset's foreground summary of volume ``v`` (through ``Subset``), or ``None`` where it keeps none.

    A store :class:`~fastmed.VolumeDataset` keeps one per series (``foreground(index)``); any
    dataset with such a method is asked.
    """

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __call__(self, volume: int) -> Mapping[str, Any] | None:
        """The summary, ``None`` when the dataset keeps none."""
        ds: Any = self.dataset
        i = int(volume)
        while isinstance(ds, Subset):
            ds, i = ds.dataset, int(ds.indices[i])
        get = getattr(ds, "foreground", None)
        if not callable(get):
            return None
        summary = get(i)
        return summary if isinstance(summary, Mapping) else None


class PatchItems:
    """The dataset seen by sample index: item ``s`` is volume ``s // k``'s item (the handles, not a copy)."""

    def __init__(self, dataset: Any, k: int):
        self.dataset = dataset
        self.k = int(k)

    def __len__(self) -> int:
        return len(self.dataset) * self.k

    def __getitem__(self, index: int) -> Any:
        if not 0 <= int(index) < len(self):
            raise IndexError(f"sample {index} out of range for {len(self.dataset)} volumes x {self.k} patches")
        return self.dataset[int(index) // self.k]


class _Group:
    """One volume's patches in one epoch: their starts, the shared region views, and uses so far."""

    __slots__ = ("starts", "uses", "views")

    def __init__(self) -> None:
        self.starts: dict[int, tuple[int, ...]] = {}
        self.views: dict[str, RegionVolume] = {}
        self.uses = 0


class PatchCompose(Compose):
    """The user's pipeline behind a :class:`PatchCrop` at the sampler's location (see the module doc).

    Parameters
    ----------
    base
        The user's Compose (``None``: no other op).
    sampler
        The patch sampler, or ``None`` (``samples_per_volume`` alone: ``k`` draws of the pipeline).
    k
        Patches per volume.
    order
        The loader's order (batch positions of the forced samples).
    foreground
        The dataset's foreground summaries.
    """

    def __init__(
        self,
        base: Compose | None,
        sampler: PatchSampler | None,
        k: int,
        order: PatchOrder,
        foreground: Foreground,
    ):
        base = base if base is not None else Compose([])
        config = {key: value for key, value in base.to_dict().items() if key != "ops"}
        head: tuple[PatchCrop, ...] = ()
        if sampler is not None:
            head = (PatchCrop(tuple(sampler.size), sampler.pad_mode, float(sampler.pad_value)),)
        super().__init__((*head, *base.ops), **config)
        self.base = base
        self.sampler = sampler
        self.k = int(k)
        self.order = order
        self.foreground = foreground
        self._setup()

    def _setup(self) -> None:
        self._lock = threading.RLock()
        self._groups: OrderedDict[tuple[int, int, int], _Group] = OrderedDict()
        self._summaries: OrderedDict[int, Mapping[str, Any] | None] = OrderedDict()
        self._limit = 4 * self.order.group + 8

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_groups", "_summaries", "_limit")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._setup()

    def __repr__(self) -> str:
        return f"PatchCompose({self.sampler!r}, samples_per_volume={self.k}, {self.base!r})"

    # ---- patch locations ---------------------------------------------------------

    def _summary(self, volume: int, sample: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The dataset's summary of ``volume``; else one computed from the whole label (once per process)."""
        summary = self.foreground(volume)
        if summary is not None:
            return summary
        with self._lock:
            if volume in self._summaries:
                return self._summaries[volume]
        label = sample.get(self.label_keys[0]) if self.label_keys else None
        if label is not None:
            from fastmed.store.stats import foreground_summary

            if is_lazy(label):
                arr = np.asarray(label.read_window((0,) * len(label.shape), label.shape))
            else:
                arr = np.asarray(label)
                arr = arr[0] if arr.ndim == len(array_shape(sample[self.image_keys[0]])) else arr
            summary = foreground_summary(arr)
        with self._lock:
            self._summaries[volume] = summary
            while len(self._summaries) > 64:
                self._summaries.popitem(last=False)
        return summary

    def _locate(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> tuple[int, ...]:
        assert self.sampler is not None
        volume = index // self.k
        pos = self.order.position(epoch, index)
        forced = pos is not None and pos[0] >= pos[1] - self.sampler.forced_count(pos[1])
        shape = array_shape(sample[self.image_keys[0]])[1:]
        label = sample.get(self.label_keys[0]) if self.label_keys else None
        fg = self._summary(volume, sample) if forced and self.sampler.needs_foreground else None
        source = PatchSource(shape, fg, label, f"volume {volume} (patch {index % self.k})")
        return tuple(self.sampler.locate(seed, epoch, index, source, forced))

    def _group(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> _Group:
        """The group of ``index``'s volume (built on first use: starts of its k patches, region views)."""
        volume = index // self.k
        key = (int(seed), int(epoch), volume)
        with self._lock:
            group = self._groups.get(key)
            if group is not None:
                return group
            group = _Group()
            members = [volume * self.k + j for j in range(self.k)]
            if self.sampler is not None:
                for s in members:
                    group.starts[s] = self._locate(sample, seed, s, epoch)
            lazy = [n for n in (*self.image_keys, *self.label_keys) if n in sample and is_lazy(sample[n])]
            if lazy and self.k > 1:
                shape = array_shape(sample[self.image_keys[0]])[1:]
                lo, hi = list(shape), [0] * len(shape)
                for s in members:
                    plan = self.plan(self._with_start(sample, group, s), seed, s, epoch)  # planned, not run
                    a, b = plan.source_bbox(shape)
                    lo = [min(x, y) for x, y in zip(lo, a, strict=True)]
                    hi = [max(x, y) for x, y in zip(hi, b, strict=True)]
                group.views = {n: RegionVolume(sample[n], lo, hi) for n in lazy}
            self._groups[key] = group  # only once complete: a failing group is tried again by each patch
            while len(self._groups) > self._limit:
                self._groups.popitem(last=False)
            return group

    @staticmethod
    def _with_start(sample: Mapping[str, Any], group: _Group, index: int) -> dict[str, Any]:
        out = dict(sample)
        if index in group.starts:
            out[START_KEY] = group.starts[index]
        return out

    def _prepare(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        """``sample`` with its patch start and its region views (one use of its group)."""
        key = (int(seed), int(epoch), index // self.k)
        group = self._group(sample, seed, index, epoch)
        with self._lock:
            group.uses += 1
            if group.uses >= self.k and self._groups.get(key) is group:
                del self._groups[key]  # every patch has its views: the region lives as long as they do
        out = self._with_start(sample, group, index)
        out.update(group.views)
        return out

    # ---- Compose hooks -----------------------------------------------------------

    def _draw(self, sample: Mapping[str, Any], seed: int, index: int, epoch: int) -> dict[str, Any]:
        drawn = super()._draw(sample, seed, index, epoch)
        if self.sampler is not None:
            start = sample.get(START_KEY)
            if start is None:
                start = self._group(sample, seed, index, epoch).starts[index]
            drawn["ops"][0]["params"] = {"start": [int(v) for v in start]}
        return drawn

    def _finish(
        self, sample: Mapping[str, Any], arrays: Mapping[str, Any], plan: Any, params: Mapping[str, Any]
    ) -> dict[str, Any]:
        out = super()._finish(sample, arrays, plan, params)
        out.pop(START_KEY, None)
        if self.sampler is not None:
            start = [int(v) for v in params["ops"][0]["params"]["start"]]
            stop = [a + s for a, s in zip(start, self.sampler.size, strict=True)]
            out["location"] = np.asarray(start + stop, dtype=np.int64)
        return out

    def __call__(self, sample: Mapping[str, Any], seed: int = 0, index: int = 0, epoch: int = 0) -> dict[str, Any]:
        """Patch ``index`` of its volume, augmented (one sample)."""
        return super().__call__(self._prepare(sample, seed, index, epoch), seed, index, epoch)

    def batch(
        self,
        samples: Sequence[Mapping[str, Any]],
        seed: int = 0,
        indices: Sequence[int] | None = None,
        epoch: int = 0,
        stack: bool = False,
        out: Any = None,
    ) -> list[dict[str, Any]] | dict[str, Any]:
        """Patches of many samples with one native call (see :meth:`Compose.batch`)."""
        idx = list(range(len(samples))) if indices is None else [int(i) for i in indices]
        prepared = [self._prepare(s, seed, i, epoch) for s, i in zip(samples, idx, strict=True)]
        return super().batch(prepared, seed, idx, epoch, stack, out)
