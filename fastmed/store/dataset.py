"""``fm.VolumeDataset``: a map-style dataset of lazy volumes, from a store or straight from a manifest.

Items are dicts (see :class:`VolumeDataset`) whose ``image`` and ``label`` are
:class:`~fastmed.volume_source.LazyVolume` handles, not arrays: a pipeline that knows its
source footprint reads one window (:meth:`~fastmed.volume_source.LazyVolume.read_window`), and
from a store only the chunks under it are decoded. Handles pickle as a path and an id, so items
cross to DataLoader worker processes for a few hundred bytes.

torch is optional: the class implements ``__len__`` / ``__getitem__`` (all torch's map-style
protocol asks for) instead of subclassing ``torch.utils.data.Dataset``, which adds nothing but
an ``__add__``; ``torch.utils.data.DataLoader`` and ``fm.DataLoader`` take it as it is.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.dicom.manifest import ManifestRow
from fastmed.store import layout
from fastmed.store.annotations import Annotations, annotation_for, from_annotated
from fastmed.store.dicom_volume import MaskVolume, SeriesVolume
from fastmed.store.window import StoreVolume


def _label_value(v: Any) -> float:
    """A class label as a float (NaN for empty or non-numeric values)."""
    if isinstance(v, bool | int | float) and v is not None:
        return float(v)
    return math.nan


class VolumeDataset:
    """Series of a fastmed store (or of a manifest, decoded on the fly) as lazy dataset items.

    Parameters
    ----------
    source
        A store folder (written by :func:`fastmed.convert`) or :class:`~fastmed.store.Store`;
        or a :class:`~fastmed.Manifest` / :class:`~fastmed.AnnotatedManifest`, a manifest
        Parquet file or an archive folder (its valid series; each handle decodes its DICOM
        series with :func:`fastmed.read_series` on first read and keeps it, see
        :mod:`fastmed.store.dicom_volume` for the memory this takes).
    annotations
        Manifest sources only: class labels, reports and masks, in any form
        :func:`fastmed.convert` takes (an ``AnnotatedManifest`` source carries its own).
    transform
        Applied to every item in ``__getitem__``: a fastmed ``Compose`` (or any callable with
        ``seed=``, ``index=``, ``epoch=`` keywords) is called with ``(seed, index, epoch)``;
        another callable with the item only. A pipeline whose ``accepts_lazy`` attribute is
        true gets the handles; otherwise the whole image (and label) is read first and handed
        over channel-first ``(1, *shape)`` (the interim path until Compose reads footprints).
    seed
        Augmentation seed for ``transform``.
    threads
        Native threads per window read / DICOM decode (``None``: the pool's size).

    Notes
    -----
    An item is ``{"image": LazyVolume, "label": LazyVolume (only when the series has a mask),
    "spacing": tuple, "id": keyed series id, "study_id": keyed study id, "modality": str,
    "classes": {name: value} (as stored; JSON values, ``None`` when empty), "labels": float32
    vector of the numeric class labels in :attr:`label_names` order (NaN when missing or not a
    number), "report": str}``. A store item and the manifest item of the same series agree.

    Examples
    --------
    >>> ds = VolumeDataset("cache.zarr")  # doctest: +SKIP
    >>> item = ds[0]  # doctest: +SKIP
    >>> patch = item["image"].read_window((0, 0, 0), (64, 64, 64))  # doctest: +SKIP
    """

    def __init__(
        self,
        source: Any,
        *,
        annotations: Annotations = None,
        transform: Callable[..., Any] | None = None,
        seed: int = 0,
        threads: int | None = None,
    ):
        from fastmed.store.reader import Store

        self.transform = transform
        self.seed = int(seed)
        self.epoch = 0
        self.threads = threads
        self.store: Path | None = None
        self._rows: list[dict[str, Any]] = []
        self._series: list[ManifestRow] = []
        if isinstance(source, Store) or (
            isinstance(source, str | os.PathLike) and (Path(source) / "zarr.json").is_file()
        ):
            store = source if isinstance(source, Store) else Store(source)
            self.store = store.path
            self._rows = list(store.rows)
            self._meta = [(r["classes"] or {}, r["report"] or "", r["study_id"], r["modality"]) for r in self._rows]
            self._masks: list[str | None] = [None] * len(self._rows)
        else:
            from fastmed.store.convert import load_manifest

            man = load_manifest(source)
            if annotations is None and hasattr(man, "annotations") and hasattr(man, "label_names"):
                annotations = from_annotated(man)
            self._series = list(man.valid)
            notes = [annotation_for(annotations, r) for r in self._series]
            self._meta = [
                (n.classes, n.report, r.study_id, r.modality) for n, r in zip(notes, self._series, strict=True)
            ]
            self._masks = [n.mask for n in notes]
        names = sorted({k for m in self._meta for k in m[0]})
        self.label_names: tuple[str, ...] = tuple(names)
        """Names of the ``labels`` vector (every class-label name of the source, sorted)."""

    def __len__(self) -> int:
        return len(self._meta)

    @property
    def ids(self) -> list[str]:
        """Keyed series ids, in item order."""
        if self.store is not None:
            return [r["series_id"] for r in self._rows]
        return [r.series_id for r in self._series]

    def set_epoch(self, epoch: int) -> None:
        """The epoch ``transform`` is keyed with from now on."""
        self.epoch = int(epoch)

    def foreground(self, index: int) -> dict[str, Any] | None:
        """The foreground summary the store keeps for item ``index`` (``None`` without a mask or from a manifest).

        See :func:`fastmed.store.stats.foreground_summary`; label-aware patch samplers
        (:class:`fastmed.LabelPatchSampler`) pick foreground voxels from it without reading the label.
        """
        if self.store is None:
            return None
        summary = self._rows[index].get("foreground")
        return summary if isinstance(summary, dict) else None

    def handles(self, index: int) -> tuple[Any, Any | None]:
        """The image handle and the label handle (``None`` without a mask) of item ``index``."""
        if self.store is not None:
            row = self._rows[index]
            image = StoreVolume(self.store, row["series_id"], layout.IMAGE, row, self.threads)
            label = StoreVolume(self.store, row["series_id"], layout.LABEL, row, self.threads) if row["label"] else None
            return image, label
        img = SeriesVolume(self._series[index], self.threads)
        mask = self._masks[index]
        return img, (MaskVolume(img, mask) if mask else None)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} series")
        index = index % len(self)
        image, label = self.handles(index)
        classes, report, study_id, modality = self._meta[index]
        item: dict[str, Any] = {"image": image}
        if label is not None:
            item["label"] = label
        item.update(
            spacing=image.spacing,
            id=image.series_id,
            study_id=study_id,
            modality=modality,
            classes=dict(classes),
            labels=np.array([_label_value(classes.get(k)) for k in self.label_names], dtype=np.float32),
            report=report,
        )
        if self.transform is None:
            return item
        return self._augment(item, index)

    def _augment(self, item: dict[str, Any], index: int) -> Any:
        assert self.transform is not None
        sample = item
        if not getattr(self.transform, "accepts_lazy", False):
            sample = dict(item)
            for key in ("image", "label"):
                if key in sample:
                    sample[key] = sample[key].read()[None]
        if _keyed(self.transform):
            return self.transform(sample, seed=self.seed, index=index, epoch=self.epoch)
        return self.transform(sample)


def _keyed(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return all(k in params for k in ("seed", "index", "epoch"))


class WindowCollate:
    """A ``collate_fn`` that reads one window per item and stacks them (picklable, for worker processes).

    Parameters
    ----------
    size
        Window size per axis (clipped to each volume); items of one batch must give equal shapes.
    where
        ``"center"`` (the centred box) or ``"origin"`` (the box at voxel 0).

    Returns
    -------
    dict
        ``image`` (and ``label`` when every item has one): ``torch`` tensors ``(B, 1, *size)``
        when torch is installed, else NumPy; ``labels`` stacked ``(B, n)``; ``id``, ``report``,
        ``classes`` and ``spacing`` as lists.
    """

    def __init__(self, size: Sequence[int], where: str = "center"):
        if where not in ("center", "origin"):
            raise ValueError(f"where must be 'center' or 'origin', got {where!r}")
        self.size = tuple(int(s) for s in size)
        self.where = where

    def box(self, shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The window ``(lo, hi)`` read from a volume of ``shape``."""
        if len(shape) != len(self.size):
            raise ValueError(f"window of {len(self.size)} axes for a volume of shape {tuple(shape)}")
        size = [min(s, n) for s, n in zip(self.size, shape, strict=True)]
        lo = [(n - s) // 2 if self.where == "center" else 0 for s, n in zip(size, shape, strict=True)]
        return tuple(lo), tuple(a + s for a, s in zip(lo, size, strict=True))

    def __call__(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Read each item's window and stack the batch."""
        out: dict[str, Any] = {k: [it[k] for it in items] for k in ("id", "report", "classes", "spacing")}
        out["labels"] = _stack([np.asarray(it["labels"]) for it in items])
        keys = ["image"] + (["label"] if all("label" in it for it in items) else [])
        for key in keys:
            wins = []
            for it in items:
                lo, hi = self.box(it[key].shape)
                wins.append(it[key].read_window(lo, hi)[None])
            out[key] = _stack(wins)
        return out


def _stack(arrays: list[npt.NDArray[Any]]) -> Any:
    stacked = np.stack(arrays)
    try:
        import torch
    except ImportError:
        return stacked
    return torch.from_numpy(stacked)
