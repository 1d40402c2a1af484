"""What ``fastmed inspect`` reads: the volume (DICOM series or ``.npy``), labels, the pipeline."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import FastmedError, TransformError
from fastmed.transforms import Compose, op_from_dict
from fastmed.transforms.presets import PRESETS, preset, preset_names

# Dtypes the kernels read directly; anything else is converted once here (inspection is not a hot path).
_KERNEL_DTYPES = (np.uint8, np.int16, np.uint16, np.int32, np.float32)


@dataclass(frozen=True, eq=False)
class InspectInput:
    """A channel-first image with its spacing, optional label and a display name.

    Parameters
    ----------
    image
        ``(C, H, W)`` or ``(C, D, H, W)``.
    spacing
        Spatial spacing in mm (same axis order).
    label
        ``(1, ...)`` on the image's grid, or None.
    name
        What the caption calls it (the file or folder name, never patient data).
    """

    image: npt.NDArray[Any]
    spacing: tuple[float, ...]
    label: npt.NDArray[Any] | None
    name: str

    @property
    def ndim(self) -> int:
        """Spatial dimensions."""
        return int(self.image.ndim - 1)

    def sample(self) -> dict[str, Any]:
        """The sample dict a :class:`Compose` takes."""
        s: dict[str, Any] = {"image": self.image, "spacing": self.spacing}
        if self.label is not None:
            s["label"] = self.label
        return s


def _kernel_dtype(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if a.dtype == np.bool_:
        return a.view(np.uint8)
    if a.dtype.type in _KERNEL_DTYPES and a.dtype.isnative:
        return a
    if np.issubdtype(a.dtype, np.integer) and a.size and -(2**31) <= a.min() and a.max() < 2**31:
        return a.astype(np.int32)
    return a.astype(np.float32)


def _read_array(path: Path) -> tuple[npt.NDArray[Any], tuple[float, ...] | None]:
    if path.is_dir() or path.suffix.lower() not in (".npy",):
        from fastmed.dicom.series_assembly import read_series

        vol = read_series(path, on_irregular="allow")
        return np.asarray(vol.array), tuple(float(s) for s in vol.spacing)
    try:
        return np.load(path, allow_pickle=False), None
    except (OSError, ValueError) as exc:
        raise FastmedError(f"{path}: cannot read as a .npy array: {exc}") from exc


def load_input(
    path: str | os.PathLike[str],
    *,
    label: str | os.PathLike[str] | None = None,
    spacing: Sequence[float] | None = None,
) -> InspectInput:
    """Read a DICOM series folder (or file) or a ``.npy`` volume, and an optional label ``.npy``.

    Array conventions: 2-D is one image; 3-D is a volume ``(D, H, W)`` unless its first
    axis is 1 (a radiograph read as a one-slice series: then it is 2-D); 4-D is
    ``(C, D, H, W)``. Labels use the same rule and must match the image grid.

    Parameters
    ----------
    path
        Series folder, DICOM file or ``.npy``.
    label
        Label array file (``.npy``, e.g. a synthetic archive's ``labels_YYY.npy``).
    spacing
        Spacing in mm overriding the file's (``.npy`` has none: default 1 mm).
    """
    p = Path(path)
    if not p.exists():
        raise FastmedError(f"{p}: no such file or folder")
    arr, sp = _read_array(p)
    if arr.ndim == 2:
        img = arr[None]
    elif arr.ndim == 3:
        img = arr if arr.shape[0] == 1 else arr[None]
        if arr.shape[0] == 1 and sp is not None:
            sp = sp[1:]
    elif arr.ndim == 4:
        img = arr
    else:
        raise FastmedError(f"{p}: expected a 2-D image, a 3-D volume or (C, D, H, W), got shape {arr.shape}")
    nd = img.ndim - 1
    if spacing is not None:
        sp = tuple(float(s) for s in spacing)
    sp = sp if sp is not None else (1.0,) * nd
    if len(sp) != nd or any(s <= 0 for s in sp):
        raise FastmedError(f"{p}: spacing {sp} does not fit a {nd}-D image")
    lab = None
    if label is not None:
        lp = Path(label)
        try:
            la = np.load(lp, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise FastmedError(f"{lp}: cannot read the label as a .npy array: {exc}") from exc
        la = la.reshape(la.shape[-nd:]) if la.ndim > nd and int(np.prod(la.shape[:-nd])) == 1 else la
        if tuple(la.shape) != tuple(img.shape[1:]):
            raise FastmedError(f"{lp}: label shape {la.shape} does not match the image grid {img.shape[1:]}")
        lab = _kernel_dtype(np.ascontiguousarray(la))[None]
    return InspectInput(_kernel_dtype(np.ascontiguousarray(img)), sp, lab, p.name)


def load_pipeline(
    spec: str | os.PathLike[str],
    *,
    fit_shape: Sequence[int] | None = None,
    fit_spacing: Sequence[float] | None = None,
    patch: Sequence[int] | None = None,
) -> Compose:
    """A preset name or a JSON/YAML file of :meth:`Compose.to_dict` (or a bare list of op dicts).

    Parameters
    ----------
    spec
        ``"r3d"``, ``"xray2d"``, ``"ct-default"`` or a path.
    fit_shape, fit_spacing
        For presets: cut the patch to this spatial shape (at this spacing).
    patch
        For presets: the patch size.
    """
    if isinstance(spec, str) and spec in PRESETS:
        return preset(spec, patch=patch, fit_shape=fit_shape, fit_spacing=fit_spacing)
    p = Path(spec)
    if not p.is_file():
        raise TransformError(f"pipeline {str(spec)!r} is neither a preset ({preset_names()}) nor a file")
    text = p.read_text(encoding="utf-8")
    data: Any
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise TransformError(f"{p}: reading YAML needs PyYAML (pip install pyyaml)") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TransformError(f"{p}: not valid YAML: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise TransformError(f"{p}: not valid JSON: {exc}") from exc
    try:
        if isinstance(data, list):
            return Compose([op_from_dict(d) for d in data])
        if isinstance(data, dict) and "ops" in data:
            return Compose.from_dict(data)
    except (TypeError, KeyError) as exc:
        raise TransformError(f"{p}: bad pipeline: {exc}") from exc
    raise TransformError(f"{p}: expected Compose.to_dict() output (a mapping with 'ops') or a list of ops")
