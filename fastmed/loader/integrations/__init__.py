"""Integrations of the loader with MONAI, TorchIO and Lightning.

- :mod:`~fastmed.loader.integrations.foreign`: MONAI and TorchIO transforms (and MONAI
  datasets with random transforms) get per-sample randomness keyed by ``(seed, epoch, index)``.
- :mod:`~fastmed.loader.integrations.lightning`: a ``LightningDataModule`` over ``fm.DataLoader``
  (imports ``lightning`` when used).
"""

from __future__ import annotations

from fastmed.loader.integrations.foreign import SeededTransform, adapt_transform, sample_seed

__all__ = ["SeededTransform", "adapt_transform", "sample_seed"]
