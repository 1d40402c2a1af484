"""Bundled training: metrics, ViT MAE / CLIP models, fine-tuning heads, training machinery and recipes.

Importing :mod:`fastmed.train` imports neither torch nor the optional training extras; the
model modules (``fastmed.train.models``) and machinery import torch when they are imported.
Install the ``train`` extra for the tokenizer, safetensors checkpoints and ONNX export.
"""
