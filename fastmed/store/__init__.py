"""The zarr v3 store: conversion on Dask distributed, checksummed chunk reads, verification.

See ``docs/store_format.md`` for the layout (format version :data:`FORMAT_VERSION`).
"""

from __future__ import annotations

from fastmed.store.convert import ConvertResult, convert
from fastmed.store.dataset import VolumeDataset, WindowCollate
from fastmed.store.layout import FORMAT_VERSION, Codec
from fastmed.store.reader import Store, open_store
from fastmed.store.verify import VerifyReport, verify

__all__ = [
    "Codec",
    "ConvertResult",
    "FORMAT_VERSION",
    "Store",
    "VerifyReport",
    "convert",
    "open_store",
    "verify",
    "VolumeDataset",
    "WindowCollate",
]
