"""Keyed counter-based randomness (Philox4x32-10) for every random choice fastmed makes.

A :class:`KeyedRNG` is a pure function of ``(seed, epoch, index, stream)``: the same
sample gets the same numbers on any worker, rank, thread count or device, and after a
resume. The key is derived from ``(seed, epoch)``; the counter holds the draw number
(words 0-1), the sample index (word 2) and the stream (word 3: op position, with the
top bit set for per-voxel draws made inside kernels).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from fastmed._native import core

_MASK32 = 0xFFFFFFFF
KERNEL_STREAM_BIT = 0x80000000
"""Set in the stream word for per-voxel draws made inside kernels (noise)."""


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
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed must be in [0, 2**64), got {seed}")
        if not 0 <= index <= _MASK32:
            raise ValueError(f"index must be in [0, 2**32), got {index}")
        if not 0 <= stream < KERNEL_STREAM_BIT:
            raise ValueError(f"stream must be in [0, 2**31), got {stream}")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.seed = int(seed)
        self.epoch = int(epoch)
        self.index = int(index)
        self.stream = int(stream)
        k0, k1 = core.derive_key(self.seed, self.epoch)
        self.key: tuple[int, int] = (int(k0), int(k1))
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
        u = bits.astype(np.float64) * (1.0 / 9007199254740992.0)
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
