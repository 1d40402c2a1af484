"""CLIP: symmetric InfoNCE against a numpy formula, learnable temperature, loss falls on a toy paired set."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")
pytest.importorskip("tokenizers", reason="needs the train extra (tokenizers)")

from fastmed.train.metrics import retrieval_recalls  # noqa: E402
from fastmed.train.models.clip import CLIP, clip_loss, same_report  # noqa: E402
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


def test_shared_positives_loss_matches_numpy_soft_target_formula() -> None:
    # reports 0 and 2 identical: each row's target is spread over its positives (soft cross-entropy)
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 8)), rng.normal(size=(4, 8))
    scale = math.log(1 / 0.3)
    pos = np.eye(4, dtype=bool)
    pos[0, 2] = pos[2, 0] = True
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    bn = b / np.linalg.norm(b, axis=1, keepdims=True)
    logits = np.exp(scale) * an @ bn.T
    t = pos / pos.sum(axis=1, keepdims=True)
    i2t = np.mean(-(t * (logits - _logsumexp(logits, 1)[:, None])).sum(axis=1))
    t2i = np.mean(-(t * (logits.T - _logsumexp(logits.T, 1)[:, None])).sum(axis=1))
    got = clip_loss(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(scale), torch.from_numpy(pos))
    assert got.item() == pytest.approx(0.5 * (i2t + t2i), rel=1e-5)
    # the identity as positives is CLIP's loss
    eye = clip_loss(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(scale), torch.eye(4, dtype=torch.bool))
    assert eye.item() == pytest.approx(clip_loss(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(scale)).item())
    with pytest.raises(ValueError, match="True diagonal"):
        clip_loss(torch.from_numpy(a), torch.from_numpy(b), torch.tensor(scale), torch.zeros(4, 4, dtype=torch.bool))


def test_same_report_compares_token_sequences_without_padding() -> None:
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 7, 9], [5, 6, 7, 3], [5, 6, 8, 0]])
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 0]])
    want = np.array([[r == c for c in "aaba"] for r in "aaba"])
    want[3, :], want[:, 3] = False, False
    want[3, 3] = True
    np.testing.assert_array_equal(same_report(ids, mask).numpy(), want)


@pytest.mark.parametrize("pool", ["mean", "max", "meanmax"])
def test_image_pooling_of_the_encoder_tokens(pool: str) -> None:
    torch.manual_seed(0)
    cfg = get_config("vit2d_tiny")
    model = CLIP(ViTEncoder(cfg), TextEncoder(50, 16, width=32, depth=1), embed_dim=8, pool=pool).eval()
    images = torch.from_numpy(blob_images(3, cfg.img_size, seed=1))
    with torch.no_grad():
        tokens = model.image_encoder(images)
        parts = {"mean": [tokens.mean(1)], "max": [tokens.amax(1)], "meanmax": [tokens.mean(1), tokens.amax(1)]}
        want = torch.nn.functional.normalize(model.image_proj(torch.cat(parts[pool], dim=-1)), dim=-1)
        torch.testing.assert_close(model.embed_images(images), want)
    with pytest.raises(ValueError, match="pool"):
        CLIP(ViTEncoder(cfg), TextEncoder(50, 16, width=32, depth=1), pool="sum")
