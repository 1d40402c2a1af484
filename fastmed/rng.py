"""Keyed counter-based randomness (Philox4x32-10) for every random choice fastmed makes.

A :class:`KeyedRNG` is a pure function of ``(seed, epoch, index, stream)``: the same
sample gets the same numbers on any worker, rank, thread count or device, and after a
resume. The key is derived from ``(seed, epoch)``; the counter holds the draw number
(words 0-1), the sample index (word 2) and the stream (word 3: op position, with the
top bit set for per-voxel draws made inside kernels).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed._native import core

_MASK32 = 0xFFFFFFFF
KERNEL_STREAM_BIT = 0x80000000
"""Set in the stream word for per-voxel draws made inside kernels (noise)."""
_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@lru_cache(maxsize=256)
def stream_key(seed: int, epoch: int) -> tuple[int, int]:
    """The Philox key words ``derive_key(seed, epoch)`` (cached: every stream of an epoch shares them)."""
    k0, k1 = core.derive_key(int(seed), int(epoch))
    return int(k0), int(k1)


def _check_key(seed: int, epoch: int) -> None:
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")


def _check_stream(stream: int) -> None:
    if not 0 <= stream < KERNEL_STREAM_BIT:
        raise ValueError(f"stream must be in [0, 2**31), got {stream}")


class KeyedRNG:
    """A deterministic random stream keyed by seed, epoch, sample index and stream.

    Parameters
    ----------
    seed
        User seed, any non-negative integer below 2**64.
    epoch
        Training epoch (a different epoch gives unrelated numbers).
    index
        Sample index within the epoch (below 2**32).
    stream
        Sub-stream, usually the op's position in a pipeline (below 2**31).

    Examples
    --------
    >>> rng = KeyedRNG(seed=0, epoch=0, index=7, stream=2)
    >>> a = rng.uniform(-15, 15)
    >>> a == KeyedRNG(seed=0, epoch=0, index=7, stream=2).uniform(-15, 15)
    True
    """

    def __init__(self, seed: int, epoch: int = 0, index: int = 0, stream: int = 0):
        _check_key(seed, epoch)
        if not 0 <= index <= _MASK32:
            raise ValueError(f"index must be in [0, 2**32), got {index}")
        _check_stream(stream)
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.index = int(index)
        self.stream = int(stream)
        self.key: tuple[int, int] = stream_key(self.seed, self.epoch)
        self._next_word = 0

    def __repr__(self) -> str:
        return f"KeyedRNG(seed={self.seed}, epoch={self.epoch}, index={self.index}, stream={self.stream})"

    def spawn(self, stream: int) -> KeyedRNG:
        """Return the stream ``stream`` of the same (seed, epoch, index)."""
        return KeyedRNG(self.seed, self.epoch, self.index, stream)

    @property
    def words_used(self) -> int:
        """Number of 32-bit words drawn so far."""
        return self._next_word

    def words(self, n: int) -> npt.NDArray[np.uint32]:
        """Draw the next ``n`` raw 32-bit words of the stream."""
        out: npt.NDArray[np.uint32] = core.philox_stream(
            self.key[0], self.key[1], self.index, self.stream, self._next_word, int(n)
        )
        self._next_word += int(n)
        return out

    def random(self, size: int | tuple[int, ...] | None = None) -> float | npt.NDArray[np.float64]:
        """Uniform doubles in [0, 1) (53 bits from two words each)."""
        n = 1 if size is None else int(np.prod(size))
        w = self.words(2 * n).astype(np.uint64)
        bits = ((w[0::2] << np.uint64(21)) ^ (w[1::2] >> np.uint64(11))) & np.uint64((1 << 53) - 1)
        u = bits.astype(np.float64) * _UNIT
        return float(u[0]) if size is None else u.reshape(size)

    def uniform(
        self, low: float = 0.0, high: float = 1.0, size: int | tuple[int, ...] | None = None
    ) -> float | npt.NDArray[np.float64]:
        """Uniform draws in [low, high)."""
        u = self.random(size)
        return low + (high - low) * u

    def normal(
        self, loc: float = 0.0, scale: float = 1.0, size: int | tuple[int, ...] | None = None
    ) -> float | npt.NDArray[np.float64]:
        """Normal draws (Box-Muller on pairs of uniforms)."""
        n = 1 if size is None else int(np.prod(size))
        m = (n + 1) // 2
        u = np.asarray(self.random(2 * m), dtype=np.float64)
        u1 = 1.0 - u[0::2]  # (0, 1]: log is finite
        r = np.sqrt(-2.0 * np.log(u1))
        t = 2.0 * np.pi * u[1::2]
        z = np.empty(2 * m)
        z[0::2] = r * np.cos(t)
        z[1::2] = r * np.sin(t)
        z = loc + scale * z[:n]
        return float(z[0]) if size is None else z.reshape(size)

    def integers(self, low: int, high: int, size: int | tuple[int, ...] | None = None) -> int | npt.NDArray[np.int64]:
        """Integers in [low, high) from 53-bit uniforms (bias below (high - low) / 2**53)."""
        if high <= low:
            raise ValueError(f"empty range [{low}, {high})")
        span = high - low
        u = np.asarray(self.random(1 if size is None else size), dtype=np.float64)
        v = np.minimum(np.floor(u * span).astype(np.int64), span - 1) + low
        return int(v.reshape(-1)[0]) if size is None else v

    def bernoulli(self, p: float) -> bool:
        """True with probability ``p`` (always one draw, so later draws do not shift)."""
        return bool(self.random() < p)


class BatchRNG:
    """The streams ``(seed, epoch, index, stream)`` of many sample indices, drawn together.

    Row ``i`` of every draw equals the same draw of ``KeyedRNG(seed, epoch, indices[i], stream)``
    bit for bit (same words, same arithmetic), but one native Philox call serves the whole
    batch; :meth:`streams` makes several streams with one call and converts their first words
    to doubles at once, so small draws (a Bernoulli, a few uniforms) are slices. Every row
    advances by the same number of words per draw.

    Parameters
    ----------
    seed, epoch, stream
        As for :class:`KeyedRNG`.
    indices
        The sample indices, one row each.

    Examples
    --------
    >>> rows = BatchRNG(0, 0, [3, 9], stream=2).uniform(-15, 15)
    >>> bool(rows[1] == KeyedRNG(0, 0, 9, stream=2).uniform(-15, 15))
    True
    """

    def __init__(self, seed: int, epoch: int, indices: Iterable[int], stream: int = 0):
        _check_key(seed, epoch)
        _check_stream(stream)
        self.indices = np.asarray([int(i) for i in indices], dtype=np.int64).reshape(-1)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() > _MASK32):
            raise ValueError("indices must be in [0, 2**32)")
        self.seed, self.epoch, self.stream = int(seed), int(epoch), int(stream)
        self.key: tuple[int, int] = stream_key(self.seed, self.epoch)
        self._next_word = 0
        self._pre_u: npt.NDArray[np.float64] | None = None  # doubles of the first word pairs (rows, k)

    @classmethod
    def streams(
        cls, seed: int, epoch: int, indices: Iterable[int], streams: Iterable[int], prefetch: int = 32
    ) -> list[BatchRNG]:
        """One :class:`BatchRNG` per stream, their first ``prefetch`` words drawn in one native call."""
        proto = cls(seed, epoch, indices, 0)  # checks the key and the indices once
        ids = [int(s) for s in streams]
        out: list[BatchRNG] = []
        for s in ids:
            _check_stream(s)
            r = cls.__new__(cls)
            r.__dict__.update(proto.__dict__)
            r.stream = s
            out.append(r)
        rows = len(proto)
        if not out or not rows:
            return out
        nblk = max(1, (int(prefetch) + 3) // 4)
        ctr = np.zeros((len(out), rows, nblk, 4), dtype=np.uint32)
        ctr[..., 0] = np.arange(nblk, dtype=np.uint32)
        ctr[..., 2] = proto.indices[:, None]
        ctr[..., 3] = np.asarray(ids, dtype=np.uint32)[:, None, None]
        words = core.philox4x32_10(ctr.reshape(-1, 4), proto.key[0], proto.key[1])
        u = _doubles(words.reshape(len(out), rows, 4 * nblk))
        for k, r in enumerate(out):
            r._pre_u = u[k]
        return out

    def __len__(self) -> int:
        return int(self.indices.size)

    @property
    def words_used(self) -> int:
        """Number of 32-bit words drawn so far by each row."""
        return self._next_word

    def row(self, i: int) -> KeyedRNG:
        """Row ``i`` as a :class:`KeyedRNG` at this batch's current word."""
        rng = KeyedRNG(self.seed, self.epoch, int(self.indices[i]), self.stream)
        rng._next_word = self._next_word
        return rng

    def words(self, n: int) -> npt.NDArray[np.uint32]:
        """The next ``n`` raw words of every row, shape ``(rows, n)`` (one native call)."""
        n = int(n)
        start = self._next_word
        self._next_word += n
        rows = len(self)
        if n <= 0 or rows == 0:
            return np.zeros((rows, max(n, 0)), dtype=np.uint32)
        b0, b1 = start >> 2, (start + n - 1) >> 2
        blocks = np.arange(b0, b1 + 1, dtype=np.uint64)
        ctr = np.empty((rows, blocks.size, 4), dtype=np.uint32)
        ctr[:, :, 0] = blocks & np.uint64(_MASK32)
        ctr[:, :, 1] = blocks >> np.uint64(32)
        ctr[:, :, 2] = self.indices[:, None]
        ctr[:, :, 3] = self.stream
        out = core.philox4x32_10(ctr.reshape(-1, 4), self.key[0], self.key[1]).reshape(rows, -1)
        first = start - 4 * b0
        return out if first == 0 and out.shape[1] == n else np.ascontiguousarray(out[:, first : first + n])

    def random(self, size: int | tuple[int, ...] = ()) -> npt.NDArray[np.float64]:
        """Uniform doubles in [0, 1), shape ``(rows, *size)`` (:meth:`KeyedRNG.random` per row)."""
        shape = (size,) if isinstance(size, int) else tuple(size)
        n = math.prod(shape)
        start = self._next_word
        pre = self._pre_u
        if pre is not None and start % 2 == 0 and start // 2 + n <= pre.shape[1]:
            self._next_word += 2 * n
            u = pre[:, start // 2 : start // 2 + n].copy()
        else:
            u = _doubles(self.words(2 * n))
        return u.reshape((len(self), *shape))

    def uniform(
        self, low: float | npt.ArrayLike = 0.0, high: float | npt.ArrayLike = 1.0, size: int | tuple[int, ...] = ()
    ) -> npt.NDArray[np.float64]:
        """Uniform draws in [low, high), shape ``(rows, *size)``; bounds may be per-row arrays."""
        u = self.random(size)
        lo, hi = _per_row(low, u.ndim), _per_row(high, u.ndim)
        out: npt.NDArray[np.float64] = lo + (hi - lo) * u
        return out

    def normal(self, loc: float = 0.0, scale: float = 1.0, size: int | tuple[int, ...] = ()) -> npt.NDArray[np.float64]:
        """Normal draws (Box-Muller on pairs), shape ``(rows, *size)`` (:meth:`KeyedRNG.normal` per row)."""
        shape = (size,) if isinstance(size, int) else tuple(size)
        n = math.prod(shape)
        m = (n + 1) // 2
        u = self.random(2 * m)
        # KeyedRNG.normal's arithmetic, in place where it can be (each step rounds the same).
        r = 1.0 - u[:, 0::2]
        np.log(r, out=r)
        r *= -2.0
        np.sqrt(r, out=r)
        t = u[:, 1::2] * (2.0 * np.pi)
        z = np.empty((len(self), 2 * m))
        np.multiply(r, np.cos(t), out=z[:, 0::2])
        np.multiply(r, np.sin(t, out=t), out=z[:, 1::2])
        out: npt.NDArray[np.float64] = z[:, :n] * scale
        out += loc
        return out.reshape((len(self), *shape))

    def integers(
        self, low: int | npt.ArrayLike, high: int | npt.ArrayLike, size: int | tuple[int, ...] = ()
    ) -> npt.NDArray[np.int64]:
        """Integers in [low, high) per row (:meth:`KeyedRNG.integers`); bounds may be per-row arrays."""
        lo = np.asarray(low, dtype=np.int64)
        hi = np.asarray(high, dtype=np.int64)
        if np.any(hi <= lo):
            raise ValueError(f"empty range [{low!r}, {high!r})")
        u = self.random(size)
        first, span = _per_row(lo, u.ndim), _per_row(hi - lo, u.ndim)
        out: npt.NDArray[np.int64] = np.minimum(np.floor(u * span).astype(np.int64), span - 1) + first
        return out

    def bernoulli(self, p: float) -> npt.NDArray[np.bool_]:
        """True with probability ``p`` per row (always one draw)."""
        out: npt.NDArray[np.bool_] = self.random() < p
        return out


def _doubles(words: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
    """Doubles in [0, 1) from consecutive word pairs along the last axis: ``(w0 << 21 ^ w1 >> 11) * 2**-53``."""
    if sys.byteorder == "little":  # the pair as one uint64 (w0 low, w1 high): w0 << 21 | w1 >> 11
        v = np.ascontiguousarray(words).view(np.uint64)
        bits = ((v << np.uint64(21)) & np.uint64((1 << 53) - 1)) | (v >> np.uint64(43))
    else:  # pragma: no cover - big-endian hosts
        w = words.astype(np.uint64)
        bits = ((w[..., 0::2] << np.uint64(21)) ^ (w[..., 1::2] >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    out: npt.NDArray[np.float64] = bits.astype(np.float64) * _UNIT
    return out


def _per_row(v: Any, ndim: int) -> Any:
    """A scalar as it is; a per-row array ``(rows, ...)`` shaped to broadcast over ``ndim``-D draws."""
    a = np.asarray(v)
    if a.ndim == 0:
        return v if isinstance(v, int | float) else a[()]
    return a.reshape(a.shape + (1,) * (ndim - a.ndim))
