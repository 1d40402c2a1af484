"""ViT models for pretraining and fine-tuning (torch is imported by the submodules, not here).

- :mod:`~fastmed.train.models.masking`: MAE masks from the keyed Philox RNG (numpy only, data side).
- :mod:`~fastmed.train.models.config`: named model sizes (``vit3d_tiny``, ``vit2d_tiny``, ...).
- :mod:`~fastmed.train.models.vit`: patch embedding + transformer encoder (MONAI blocks).
- :mod:`~fastmed.train.models.mae`: masked autoencoder with a light decoder.
"""
