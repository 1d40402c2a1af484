"""CLIP: symmetric InfoNCE against a numpy formula, learnable temperature, loss falls on a toy paired set."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("tokenizers", reason="needs the train extra (tokenizers)")

from fastmed.train.metrics import retrieval_recalls  # noqa: E402
from fastmed.train.models.clip import CLIP, clip_loss  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402
from fastmed.train.text.encoder import TextEncoder  # noqa: E402
from fastmed.train.text.tokenizer import train_report_tokenizer  # noqa: E402

from ._data import blob_images  # noqa: E402
from ._reports import synthetic_reports  # noqa: E402


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def test_clip_loss_matches_numpy_formula() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    scale = math.log(1 / 0.07)
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = np.exp(scale) * an @ bn.T
    diag = np.diag(logits)
    ref = 0.5 * (np.mean(_logsumexp(logits, 1) - diag) + np.mean(_logsumexp(logits, 0) - diag))
    got = clip_loss(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(scale))
    assert got.item() == pytest.approx(ref, rel=1e-5)
    # symmetric in its two sides
    assert clip_loss(torch.from_numpy(b), torch.from_numpy(a), torch.tensor(scale)).item() == pytest.approx(
        ref, rel=1e-5
    )


def test_temperature_is_learnable_and_clamped() -> None:
    s = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    emb = torch.randn(4, 8)
    clip_loss(emb, emb + 0.1 * torch.randn(4, 8), s).backward()
    assert s.grad is not None and s.grad.abs().item() > 0
    big = clip_loss(emb, emb, torch.tensor(50.0))
    assert big.item() == pytest.approx(clip_loss(emb, emb, torch.tensor(math.log(100.0))).item())


def test_clip_loss_falls_on_a_toy_paired_set() -> None:
    # Temperature starts at 0.3, not CLIP's 0.07: on a batch of 8 near-identical random embeddings a sharp
    # softmax makes collapsing every embedding (loss = log n) the quickest descent.
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    n = 8
    reports = list(dict.fromkeys(synthetic_reports(4 * n, seed=7)))[:n]  # n distinct reports
    assert len(reports) == n
    tok = train_report_tokenizer(synthetic_reports(100, seed=0), vocab_size=300)
    ids, mask = tok.encode_batch(reports, 96)
    images = torch.from_numpy(blob_images(n, cfg.img_size, seed=3))
    model = CLIP(
        ViTEncoder(cfg), TextEncoder(tok.vocab_size, 96, width=64, depth=1), embed_dim=32, init_temperature=0.3
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    ids_t, mask_t = torch.from_numpy(ids), torch.from_numpy(mask)
    losses = []
    for _ in range(100):
        out = model(images, ids_t, mask_t)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    start, end = losses[0], float(np.mean(losses[-3:]))
    with torch.no_grad():
        rec = retrieval_recalls(model(images, ids_t, mask_t)["similarity"].numpy(), ks=(1,))
    print(f"CLIP loss {start:.3f} -> {end:.3f} (chance {math.log(n):.3f}); train recalls {rec}")
    assert end < 0.5 * start
    assert min(rec.values()) >= 0.5  # chance is 1/8 on the pairs it was fit to
