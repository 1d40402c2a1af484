"""ONNX export of a (fine-tuned) model, checked against onnxruntime."""

from __future__ import annotations

import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import torch


def export_onnx(
    model: torch.nn.Module,
    example: torch.Tensor,
    path: str | PathLike[str],
    input_name: str = "image",
    output_name: str = "logits",
    opset: int = 17,
) -> Path:
    """Export ``model(example)`` to ONNX with a dynamic batch axis (TorchScript-based exporter).

    Parameters
    ----------
    model
        Model in eval mode (merge LoRA adapters first with :func:`~fastmed.train.models.lora.merge_lora`
        for a plain graph; unmerged ones export too).
    example
        One input batch of the expected shape.
    path
        Output ``.onnx`` file.
    input_name, output_name
        Graph input and output names.
    opset
        ONNX opset.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The torch.export-based exporter needs onnxscript; the TorchScript one is deprecated but complete.
        warnings.simplefilter("ignore", DeprecationWarning)
        # instance norm always normalises with the input's own statistics: "train=True" in the graph is right
        warnings.filterwarnings("ignore", message=".*instance_norm.*", category=UserWarning)
        torch.onnx.export(
            model,
            (example,),
            str(out),
            dynamo=False,
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}},
            opset_version=opset,
        )
    return out


def onnx_max_abs_diff(path: str | PathLike[str], model: torch.nn.Module, inputs: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime's and torch's outputs on ``inputs``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    got = sess.run(None, {name: inputs.detach().cpu().numpy()})[0]
    model.eval()
    with torch.no_grad():
        ref = model(inputs).detach().cpu().numpy()
    return float(np.max(np.abs(got - ref)))
