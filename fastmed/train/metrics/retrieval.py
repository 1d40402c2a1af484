"""Cross-modal retrieval recall@k for paired embeddings (pair i of one side matches pair i of the other)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def recall_at_k(similarity: npt.ArrayLike, k: int) -> float:
    """Fraction of queries (rows) whose matching item (same index) ranks in the top ``k`` columns.

    The rank of the match is the number of items scoring strictly higher than it, so a tie with
    the match does not push it down (ties are broken in the match's favour).

    Parameters
    ----------
    similarity
        Scores, shape (n_queries, n_items), with ``n_items >= n_queries``; query i matches item i.
        Pass ``S`` for image->text and ``S.T`` for text->image.
    k
        Cut-off, >= 1.

    Returns
    -------
    float
        Recall@k in [0, 1].
    """
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] < s.shape[0] or s.shape[0] == 0:
        raise ValueError(f"similarity must be (n_queries, n_items) with n_items >= n_queries > 0, got {s.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = s.shape[0]
    match = s[np.arange(n), np.arange(n)]
    rank = (s > match[:, None]).sum(axis=1)
    return float(np.mean(rank < k))


def retrieval_recalls(similarity: npt.ArrayLike, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Recall@k both ways from a square image-by-text similarity matrix.

    Parameters
    ----------
    similarity
        Scores, shape (n, n): row i is image i, column j is report j.
    ks
        Cut-offs.

    Returns
    -------
    dict
        ``{"i2t_r@1": ..., "t2i_r@1": ..., ...}``.
    """
    s = np.asarray(similarity, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be square, got {s.shape}")
    out: dict[str, float] = {}
    for k in ks:
        out[f"i2t_r@{k}"] = recall_at_k(s, k)
        out[f"t2i_r@{k}"] = recall_at_k(s.T, k)
    return out
