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


def report_retrieval(
    similarity: npt.ArrayLike, report_of_image: npt.ArrayLike, ks: Sequence[int] = (1, 5)
) -> dict[str, float]:
    """Recall@k both ways over *distinct* reports, with the recall a random scorer gets (chance).

    With templated reports several images share one report text (every normal study of a modality, the series
    of one study): retrieval is then image -> its report among the distinct reports, and report -> any of its
    images among all images. Duplicate report texts are not separate items, so ties between them cannot decide
    a hit.

    Parameters
    ----------
    similarity
        Scores, shape (n_images, n_reports): row i is image i, column r is distinct report r.
    report_of_image
        Column of image i's report, shape (n_images,); every report has at least one image.
    ks
        Cut-offs.

    Returns
    -------
    dict
        ``i2t_r@k``: fraction of images whose report ranks in the top k (rank = reports scoring strictly higher);
        ``t2i_r@k``: fraction of reports with one of their images in the top k (rank of the best-scoring one among
        the other reports' images); ``chance_i2t_r@k`` = k / n_reports and ``chance_t2i_r@k`` = mean over reports
        of 1 - C(N - n_r, k) / C(N, k) (N images, n_r of them with report r): the expected recalls of scores in
        random order.
    """
    s = np.asarray(similarity, dtype=np.float64)
    g = np.asarray(report_of_image, dtype=np.int64)
    if s.ndim != 2 or g.shape != (s.shape[0],) or s.shape[0] == 0:
        raise ValueError(f"similarity must be (n_images, n_reports), one report per image: got {s.shape}, {g.shape}")
    n, r = s.shape
    if g.min() < 0 or g.max() >= r or len(np.unique(g)) != r:
        raise ValueError("report_of_image must name each of the similarity's columns at least once")
    own = s[np.arange(n), g]
    i2t_rank = (s > own[:, None]).sum(axis=1)
    pos = g[:, None] == np.arange(r)[None, :]  # (n_images, n_reports)
    best = np.where(pos, s, -np.inf).max(axis=0)  # best-scoring image of each report
    t2i_rank = ((s > best[None, :]) & ~pos).sum(axis=0)
    counts = pos.sum(axis=0)
    out: dict[str, float] = {}
    for k in ks:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        out[f"i2t_r@{k}"] = float(np.mean(i2t_rank < k))
        out[f"t2i_r@{k}"] = float(np.mean(t2i_rank < k))
        out[f"chance_i2t_r@{k}"] = min(k, r) / r
        out[f"chance_t2i_r@{k}"] = float(np.mean([1.0 - _miss_all(n, int(c), k) for c in counts]))
    return out


def _miss_all(n: int, positives: int, k: int) -> float:
    """Probability that the top ``k`` of ``n`` items in random order hold none of ``positives`` of them."""
    p = 1.0
    for i in range(min(k, n)):
        p *= max(n - positives - i, 0) / (n - i)
    return p
