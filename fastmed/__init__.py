"""fastmed: medical-imaging training that never waits for data.

The public face is the short list in ``__all__``; subpackages (``fastmed.dicom``,
``fastmed.synth``, ``fastmed.transforms`` ...) hold the rest.
"""

from __future__ import annotations

from fastmed import backends as _backends  # noqa: F401  (registers the executors Compose runs on)
from fastmed._native import get_num_threads, set_num_threads
from fastmed.annotations import AnnotatedManifest, AnnotationError, MaskGeometryError, annotate
from fastmed.dicom.index import index
from fastmed.dicom.manifest import Manifest, ManifestRow
from fastmed.dicom.series_assembly import read_series
from fastmed.errors import (
    CacheError,
    DicomError,
    FastmedError,
    LoaderError,
    SeriesError,
    TransformError,
)
from fastmed.rng import KeyedRNG
from fastmed.transforms import (
    CenterCrop,
    Clip,
    Compose,
    Letterbox,
    Normalize,
    RandomAffine,
    RandomBiasField,
    RandomBrightness,
    RandomContrast,
    RandomCrop,
    RandomElastic,
    RandomFlip,
    RandomGamma,
    RandomGaussianBlur,
    RandomGaussianNoise,
    RandomLowRes,
    RandomRot90,
    Resample,
    ScaleIntensity,
    Window,
    patch_op,
    voxel_op,
)
from fastmed.volume import Volume

__version__ = "0.1.0"

# Loaded on first use: the synthetic-archive writer needs the optional codec libraries.
_LAZY = {
    "ArchiveInfo": "fastmed.synth",
    "DataLoader": "fastmed.loader",
    "LabelPatchSampler": "fastmed.loader",
    "RandomPatchSampler": "fastmed.loader",
    "generate_archive": "fastmed.synth",
    "GridPatches": "fastmed.loader.grid",
    "PatchAggregator": "fastmed.loader.aggregate",
    "sliding_window_inference": "fastmed.loader.inference",
    "load_truth": "fastmed.synth",
    "inspect_pipeline": "fastmed.inspect",
    "preset": "fastmed.transforms.presets",
    "convert": "fastmed.store",
    "open_store": "fastmed.store",
    "verify": "fastmed.store",
    "VolumeDataset": "fastmed.store.dataset",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fastmed' has no attribute {name!r}")


__all__ = [
    "annotate",
    "AnnotatedManifest",
    "AnnotationError",
    "ArchiveInfo",
    "CacheError",
    "CenterCrop",
    "Clip",
    "Compose",
    "convert",
    "DataLoader",
    "DicomError",
    "FastmedError",
    "generate_archive",
    "get_num_threads",
    "GridPatches",
    "index",
    "inspect_pipeline",
    "KeyedRNG",
    "LabelPatchSampler",
    "Letterbox",
    "load_truth",
    "LoaderError",
    "Manifest",
    "ManifestRow",
    "MaskGeometryError",
    "Normalize",
    "open_store",
    "patch_op",
    "PatchAggregator",
    "preset",
    "RandomAffine",
    "RandomBiasField",
    "RandomBrightness",
    "RandomContrast",
    "RandomCrop",
    "RandomElastic",
    "RandomFlip",
    "RandomGamma",
    "RandomGaussianBlur",
    "RandomGaussianNoise",
    "RandomLowRes",
    "RandomPatchSampler",
    "RandomRot90",
    "read_series",
    "Resample",
    "ScaleIntensity",
    "SeriesError",
    "set_num_threads",
    "sliding_window_inference",
    "TransformError",
    "verify",
    "Volume",
    "VolumeDataset",
    "voxel_op",
    "Window",
    "__version__",
]
