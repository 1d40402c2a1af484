"""The data loader: a drop-in for torch's DataLoader.

Seeded order, keyed augmentation, mid-epoch resume, fault handling and telemetry
(see :mod:`fastmed.loader.dataloader` for the design).
"""

from __future__ import annotations

from fastmed.errors import LoaderError, LoaderUnsupportedError
from fastmed.loader.dataloader import DataLoader
from fastmed.loader.order import EpochOrder
from fastmed.loader.patch_samplers import LabelPatchSampler, PatchSampler, PatchSource, RandomPatchSampler
from fastmed.loader.state import SkippedSample
from fastmed.loader.stats import LoaderStats

__all__ = [
    "DataLoader",
    "EpochOrder",
    "LabelPatchSampler",
    "LoaderError",
    "LoaderStats",
    "LoaderUnsupportedError",
    "PatchSampler",
    "PatchSource",
    "RandomPatchSampler",
    "SkippedSample",
]
