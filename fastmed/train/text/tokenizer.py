"""A byte-level BPE tokenizer trained on the report corpus with the ``tokenizers`` library (offline).

Byte-level: every string encodes and decodes back exactly (newlines, digits, units), and no
vocabulary file is downloaded. numpy only (no torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PAD, BOS, EOS, UNK = "[PAD]", "[BOS]", "[EOS]", "[UNK]"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]
PAD_ID = 0


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the report tokenizer needs the `tokenizers` package: pip install 'fastmed[train]'") from exc
    return tokenizers


class ReportTokenizer:
    """Encode reports to fixed-length id arrays (with BOS/EOS and padding) and decode them back.

    Parameters
    ----------
    tokenizer
        A trained ``tokenizers.Tokenizer`` (see :func:`train_report_tokenizer`).
    """

    def __init__(self, tokenizer: Any):
        self._tok = tokenizer
        self.pad_id = int(tokenizer.token_to_id(PAD))
        self.bos_id = int(tokenizer.token_to_id(BOS))
        self.eos_id = int(tokenizer.token_to_id(EOS))

    @property
    def vocab_size(self) -> int:
        """Number of token ids (special tokens included)."""
        return int(self._tok.get_vocab_size())

    def encode(self, text: str) -> list[int]:
        """Ids of ``text`` wrapped in BOS ... EOS (no padding, no truncation)."""
        return [self.bos_id, *self._tok.encode(text, add_special_tokens=False).ids, self.eos_id]

    def encode_batch(self, texts: Sequence[str], max_len: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Ids ``(B, max_len)`` and attention mask (True on real tokens); long texts keep their first tokens and EOS."""
        if max_len < 2:
            raise ValueError(f"max_len must be >= 2, got {max_len}")
        ids = np.full((len(texts), max_len), self.pad_id, dtype=np.int64)
        for i, text in enumerate(texts):
            seq = self.encode(text)
            if len(seq) > max_len:
                seq = seq[: max_len - 1] + [self.eos_id]
            ids[i, : len(seq)] = seq
        return ids, ids != self.pad_id

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ``ids``, special tokens and padding dropped."""
        return str(self._tok.decode([int(i) for i in ids], skip_special_tokens=True))

    def save(self, path: str | PathLike[str]) -> Path:
        """Write the tokenizer as one JSON file."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        self._tok.save(str(out))
        return out

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ReportTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        return cls(_tokenizers().Tokenizer.from_file(str(path)))


def train_report_tokenizer(texts: Iterable[str], vocab_size: int = 1000, min_frequency: int = 2) -> ReportTokenizer:
    """Train a byte-level BPE tokenizer on ``texts`` (the report corpus).

    Parameters
    ----------
    texts
        Report strings.
    vocab_size
        Target vocabulary size (the corpus may support fewer merges).
    min_frequency
        Minimum pair count for a merge.

    Returns
    -------
    ReportTokenizer
        The trained tokenizer.
    """
    tk = _tokenizers()
    tok = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
    tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tk.decoders.ByteLevel()
    trainer = tk.trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    if tok.token_to_id(PAD) != PAD_ID:
        raise RuntimeError("tokenizer training did not put [PAD] at id 0")
    return ReportTokenizer(tok)
