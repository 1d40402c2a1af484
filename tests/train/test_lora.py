"""LoRA on the encoder's attention projections: zero-init keeps outputs, only adapters train, merge is exact."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.heads import full_finetune  # noqa: E402
from fastmed.train.models.lora import LoRALinear, apply_lora, merge_lora  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return full_finetune(ViTEncoder(get_config("vit2d_tiny")), n_labels=2).eval()


def test_zero_init_lora_leaves_outputs_unchanged() -> None:
    model = _model()
    x = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        ref = model(x)
    names = apply_lora(model.encoder, r=4)
    assert len(names) == 2 * 4  # qkv and out_proj of 4 blocks
    with torch.no_grad():
        assert torch.equal(model(x), ref)


def test_only_lora_parameters_train() -> None:
    model = _model()
    apply_lora(model, r=2, trainable=("head.",))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n or n.startswith("head.") for n in trainable)
    assert any(n.startswith("head.") for n in trainable)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if "lora_" not in k and not k.startswith("head.")}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    x = torch.randn(3, 1, 64, 64)
    for _ in range(2):
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in frozen.items())
    assert any(m.lora_b.abs().sum() > 0 for m in model.modules() if isinstance(m, LoRALinear))


def test_merge_matches_adapted_model() -> None:
    model = _model()
    apply_lora(model.encoder, r=4)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, LoRALinear):
                m.lora_b.normal_(0, 0.1)
        x = torch.randn(2, 1, 64, 64)
        adapted = model(x)
        assert merge_lora(model) == 8
        assert not any(isinstance(m, LoRALinear) for m in model.modules())
        assert torch.allclose(model(x), adapted, atol=1e-5)


def test_apply_lora_without_targets_fails() -> None:
    with pytest.raises(ValueError, match="no nn.Linear"):
        apply_lora(torch.nn.Sequential(torch.nn.Conv1d(1, 1, 1)))


def test_lora_on_a_linear_probe_trains_the_adapters() -> None:
    from fastmed.train.models.heads import linear_probe

    torch.manual_seed(0)
    model = linear_probe(ViTEncoder(get_config("vit2d_tiny")), n_labels=2)
    apply_lora(model.encoder, r=2)
    model(torch.randn(2, 1, 64, 64)).sum().backward()
    grads = [m.lora_a.grad for m in model.modules() if isinstance(m, LoRALinear)]
    assert grads and all(g is not None for g in grads)
    assert model.head.weight.grad is not None
