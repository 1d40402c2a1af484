"""ONNX export of a (fine-tuned) model, checked against onnxruntime."""

from __future__ import annotations

import copy
import warnings
from os import PathLike
from pathlib import Path

import numpy as np
import torch


def fold_feature_norm(model: torch.nn.Module) -> int:
    """Fold a linear probe's feature BatchNorm (running statistics) into its linear head, in place.

    In eval mode the probe's parameter-free BatchNorm is the affine map ``(f - mean) / sqrt(var + eps)``, so
    ``head(norm(f))`` equals one linear layer with ``W' = W / sqrt(var + eps)`` (per input feature) and
    ``b' = b - W' @ mean``. The TorchScript ONNX exporter cannot export the functional batch norm on pooled
    features (it does not know the channel count), while the folded head is a plain ``Gemm``.

    Returns
    -------
    int
        How many classifiers were folded.
    """
    from fastmed.train.models.heads import Classifier

    count = 0
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, Classifier) and m.feature_norm is not None:
                norm = m.feature_norm
                assert norm.running_mean is not None and norm.running_var is not None
                scale = torch.rsqrt(norm.running_var.double() + norm.eps)
                w = m.head.weight.double() * scale[None, :]
                b = m.head.bias.double() - w @ norm.running_mean.double()
                m.head.weight.copy_(w.to(m.head.weight.dtype))
                m.head.bias.copy_(b.to(m.head.bias.dtype))
                m.feature_norm = None
                count += 1
    return count


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
        for a plain graph; unmerged ones export too). A linear probe's feature normalisation is folded into
        its head in the exported copy (:func:`fold_feature_norm`); ``model`` itself is left as it is.
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
    from fastmed.train.models.heads import Classifier

    if any(isinstance(m, Classifier) and m.feature_norm is not None for m in model.modules()):
        model = copy.deepcopy(model)
        fold_feature_norm(model)
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
