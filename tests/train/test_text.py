"""Report tokenizer (byte-level BPE trained on synthetic reports) and the text encoder."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tokenizers", reason="needs the train extra (tokenizers)")

from fastmed.train.text.tokenizer import PAD_ID, ReportTokenizer, train_report_tokenizer  # noqa: E402

from ._reports import synthetic_reports  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer() -> ReportTokenizer:
    return train_report_tokenizer(synthetic_reports(200, seed=0), vocab_size=400)


def test_round_trip_on_held_out_reports(tokenizer: ReportTokenizer) -> None:
    for text in synthetic_reports(30, seed=1) + ["Unseen words: pneumothorax 7 mm, ünïcode\n"]:
        ids = tokenizer.encode(text)
        assert ids[0] == tokenizer.bos_id and ids[-1] == tokenizer.eos_id
        assert tokenizer.decode(ids) == text


def test_bpe_learns_the_corpus_vocabulary(tokenizer: ReportTokenizer) -> None:
    text = synthetic_reports(1, seed=2)[0]
    assert len(tokenizer.encode(text)) < len(text.encode()) / 3  # merges, not bytes
    assert tokenizer.vocab_size <= 400


def test_encode_batch_pads_and_truncates(tokenizer: ReportTokenizer) -> None:
    texts = ["No focal lesion.", synthetic_reports(1, seed=3)[0]]
    ids, mask = tokenizer.encode_batch(texts, max_len=16)
    assert ids.shape == (2, 16) and ids.dtype == np.int64
    short = tokenizer.encode(texts[0])
    assert ids[0, : len(short)].tolist() == short
    assert (ids[0, len(short) :] == PAD_ID).all()
    assert np.array_equal(mask, ids != PAD_ID)
    assert ids[1, -1] == tokenizer.eos_id  # truncated: EOS kept at the end


def test_save_load(tokenizer: ReportTokenizer, tmp_path) -> None:
    path = tokenizer.save(tmp_path / "tok.json")
    again = ReportTokenizer.load(path)
    text = synthetic_reports(1, seed=4)[0]
    assert again.encode(text) == tokenizer.encode(text)


def test_text_encoder_ignores_padding(tokenizer: ReportTokenizer) -> None:
    torch = pytest.importorskip("torch")
    from fastmed.train.text.encoder import TextEncoder

    torch.manual_seed(0)
    enc = TextEncoder(tokenizer.vocab_size, max_len=128).eval()
    text = synthetic_reports(1, seed=5)[0]
    a, _ = tokenizer.encode_batch([text], 96)
    b, _ = tokenizer.encode_batch([text], 128)
    with torch.no_grad():
        fa = enc(torch.from_numpy(a))
        fb = enc(torch.from_numpy(b))
    assert torch.allclose(fa, fb, atol=1e-5)
