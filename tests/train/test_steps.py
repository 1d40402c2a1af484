"""Each task's step function runs in run_steps on batch dicts; the loop accounts data wait and samples."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from fastmed.train.engine.loop import LoopState, batch_size, run_steps  # noqa: E402
from fastmed.train.engine.steps import classification_step, mae_step, make_clip_step, make_segmentation_step  # noqa: E402
from fastmed.train.models.config import get_config  # noqa: E402
from fastmed.train.models.heads import full_finetune  # noqa: E402
from fastmed.train.models.mae import MAE  # noqa: E402
from fastmed.train.models.masking import mae_masks  # noqa: E402
from fastmed.train.models.unetr import UNETR, dice_ce_loss  # noqa: E402
from fastmed.train.models.vit import ViTEncoder  # noqa: E402

from ._data import blob_images  # noqa: E402
from ._reports import synthetic_reports  # noqa: E402

CFG = get_config("vit2d_tiny")


def _batches(n: int, b: int = 2) -> list[dict]:
    """Loader-shaped batches: numpy arrays and report strings, as a collate would give them."""
    imgs = blob_images(n * b, CFG.img_size, seed=9)
    reports = list(dict.fromkeys(synthetic_reports(8 * n * b, seed=3)))[: n * b]
    out = []
    for i in range(n):
        idx = list(range(i * b, (i + 1) * b))
        out.append(
            {
                "image": torch.from_numpy(imgs[idx]),
                "labels": np.array([[j % 2, (j // 2) % 2] for j in idx]),
                "report": [reports[j] for j in idx],
                "mae_mask": mae_masks(CFG.grid, 0.75, 0, 0, idx),
                "mask": (imgs[idx, 0] > 0.8).astype(np.int64),
            }
        )
    return out


def _run(model: torch.nn.Module, step, batches: list[dict]) -> LoopState:
    torch.manual_seed(0)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    st = run_steps(model, opt, batches, step, max_steps=len(batches))
    assert st.step == len(batches) and all(np.isfinite(st.losses))
    return st


def test_every_task_step_runs_on_loader_batches() -> None:
    torch.manual_seed(0)
    batches = _batches(3)
    _run(MAE(CFG), mae_step, batches)
    _run(full_finetune(ViTEncoder(CFG), 2), classification_step, batches)
    _run(UNETR(ViTEncoder(CFG), 2, feature_size=8), make_segmentation_step(dice_ce_loss()), batches)


def test_clip_step_tokenizes_raw_reports_or_uses_ids() -> None:
    pytest.importorskip("tokenizers")
    from fastmed.train.models.clip import CLIP
    from fastmed.train.text.encoder import TextEncoder
    from fastmed.train.text.tokenizer import train_report_tokenizer

    tok = train_report_tokenizer(synthetic_reports(60, seed=1), vocab_size=300)
    batches = _batches(2)
    torch.manual_seed(0)
    model = CLIP(ViTEncoder(CFG), TextEncoder(tok.vocab_size, 96, depth=1), embed_dim=16)
    step = make_clip_step(tok, max_len=96)
    raw = step(model, batches[0])
    ids, mask = tok.encode_batch(batches[0]["report"], 96)
    pre = make_clip_step()(model, {"image": batches[0]["image"], "report_ids": ids, "report_mask": mask})
    assert torch.equal(raw, pre)
    with pytest.raises(ValueError, match="no tokenizer"):
        make_clip_step()(model, batches[0])
    _run(model, step, batches)


def test_loop_counts_samples_and_data_wait() -> None:
    batches = _batches(4)
    st = _run(full_finetune(ViTEncoder(CFG), 2), classification_step, batches)
    assert st.samples == 8 and batch_size(batches[0]) == 2
    assert st.samples_per_s > 0 and st.compute_s > 0

    def slow() -> Iterator[dict]:
        for b in batches:
            time.sleep(0.3)  # a starving loader: each batch takes far longer than the tiny step
            yield b

    st = _run(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64, 2)), classification_step, list(slow()))
    assert st.data_wait_fraction < 0.5 and st.bottleneck == "model"  # a list: no wait at all
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64, 2))
    st = run_steps(model, torch.optim.SGD(model.parameters(), lr=0.1), slow(), classification_step, max_steps=4)
    assert st.data_wait_s >= 4 * 0.3
    assert st.bottleneck == "data" and st.data_wait_fraction > 0.5
