"""ONNX export of a fine-tuned classifier, outputs checked against onnxruntime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("onnx", reason="needs the train extra (onnx)")
pytest.importorskip("onnxruntime", reason="needs the train extra (onnxruntime)")

from fastmed.train.engine.export import export_onnx, onnx_max_abs_diff  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.heads import full_finetune  # noqa: E402
from fastmed.train.models.lora import LoRALinear, apply_lora, merge_lora  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402


@pytest.mark.parametrize("name", ["vit2d_tiny", "vit3d_tiny"])
def test_onnx_matches_torch(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    cfg = get_config(name)
    model = full_finetune(ViTEncoder(cfg), n_labels=3).eval()
    path = export_onnx(model, torch.randn(2, 1, *cfg.img_size), tmp_path / "m.onnx")
    diff = onnx_max_abs_diff(path, model, torch.randn(5, 1, *cfg.img_size))  # another batch size
    assert diff < 1e-4


def test_onnx_of_a_lora_model_after_merge(tmp_path) -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    model = full_finetune(ViTEncoder(cfg), n_labels=2)
    apply_lora(model.encoder, r=2)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_b.normal_(0, 0.1)
    merge_lora(model)
    path = export_onnx(model, torch.randn(1, 1, *cfg.img_size), tmp_path / "lora.onnx")
    assert onnx_max_abs_diff(path, model, torch.randn(3, 1, *cfg.img_size)) < 1e-4


def _probe_with_running_stats(name: str) -> Any:
    """A linear probe whose feature BatchNorm has non-trivial running statistics (a few train-mode batches)."""
    from fastmed.train.models.heads import linear_probe

    torch.manual_seed(1)
    cfg = get_config(name)
    model = linear_probe(ViTEncoder(cfg), n_labels=2, pool="max")
    model.train()
    with torch.no_grad():
        for k in range(3):
            model(torch.randn(4, 1, *cfg.img_size) * (1 + k) + k)
    return model.eval()


def test_fold_feature_norm_equals_the_probe_in_eval_mode() -> None:
    from fastmed.train.engine.export import fold_feature_norm

    model = _probe_with_running_stats("vit2d_tiny")
    assert float(model.feature_norm.running_var.std()) > 0  # the statistics moved
    x = torch.randn(3, 1, *get_config("vit2d_tiny").img_size)
    with torch.no_grad():
        want = model(x)
        feats = model.features(x)
        normed = torch.nn.functional.batch_norm(
            feats, model.feature_norm.running_mean, model.feature_norm.running_var, training=False, eps=1e-5
        )
        assert torch.allclose(want, model.head(normed))  # torch's own batch norm is the reference
        assert fold_feature_norm(model) == 1 and model.feature_norm is None
        torch.testing.assert_close(model(x), want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["vit2d_tiny", "vit3d_tiny"])
def test_onnx_of_a_linear_probe(name: str, tmp_path: Path) -> None:
    model = _probe_with_running_stats(name)
    cfg = get_config(name)
    path = export_onnx(model, torch.randn(2, 1, *cfg.img_size), tmp_path / "probe.onnx")
    assert model.feature_norm is not None  # the caller's model is left as it was
    assert onnx_max_abs_diff(path, model, torch.randn(3, 1, *cfg.img_size)) < 1e-4
