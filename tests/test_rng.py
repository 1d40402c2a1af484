"""Philox4x32-10 against the published Random123 known-answer vectors, and KeyedRNG's contract."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastmed._native import core
from fastmed.rng import BatchRNG, KeyedRNG

# Random123 tests/kat_vectors, the three "philox4x32 10" lines: counter[4], key[2] -> output[4].
KAT = [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (
        [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344],
        [0xA4093822, 0x299F31D0],
        [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1],
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_known_answers(counter: list[int], key: list[int], expected: list[int]) -> None:
    out = core.philox4x32_10(np.array([counter], dtype=np.uint32), key[0], key[1])
    assert out.dtype == np.uint32
    assert out[0].tolist() == expected


def _philox_reference(counter: list[int], key: list[int]) -> list[int]:
    """Philox4x32-10 written directly from the paper's round function, in Python integers."""
    m0, m1, w0, w1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c = list(counter)
    k0, k1 = key
    for r in range(10):
        if r:
            k0 = (k0 + w0) & 0xFFFFFFFF
            k1 = (k1 + w1) & 0xFFFFFFFF
        p0, p1 = m0 * c[0], m1 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & 0xFFFFFFFF, (p0 >> 32) ^ c[3] ^ k1, p0 & 0xFFFFFFFF]
    return c


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(0, 2**32 - 1), min_size=4, max_size=4),
    st.lists(st.integers(0, 2**32 - 1), min_size=2, max_size=2),
)
def test_philox_matches_reference_rounds(counter: list[int], key: list[int]) -> None:
    out = core.philox4x32_10(np.array([counter], dtype=np.uint32), key[0], key[1])
    assert out[0].tolist() == _philox_reference(counter, key)


def test_stream_words_are_block_words_in_order() -> None:
    key = (123, 456)
    words = core.philox_stream(key[0], key[1], 7, 9, 0, 12)
    ctr = np.array([[i, 0, 7, 9] for i in range(3)], dtype=np.uint32)
    np.testing.assert_array_equal(words, core.philox4x32_10(ctr, *key).reshape(-1))
    # Starting mid-stream gives the same words as slicing the stream.
    np.testing.assert_array_equal(core.philox_stream(key[0], key[1], 7, 9, 5, 4), words[5:9])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fill_is_independent_of_thread_count(threads: int) -> None:
    ref = np.empty(100_003, np.float32)
    core.fill_uniform(ref, 42, 1, 2, threads=1)
    out = np.empty_like(ref)
    core.fill_uniform(out, 42, 1, 2, threads=threads)
    np.testing.assert_array_equal(out, ref)
    nref = np.empty(100_001, np.float32)
    core.fill_normal(nref, 42, threads=1)
    nout = np.empty_like(nref)
    core.fill_normal(nout, 42, threads=threads)
    np.testing.assert_array_equal(nout, nref)


def test_fill_distributions() -> None:
    from scipy import stats

    u = np.empty(200_000, np.float32)
    core.fill_uniform(u, 3)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > 1e-4
    z = np.empty(200_000, np.float32)
    core.fill_normal(z, 3)
    assert np.isfinite(z).all()
    assert stats.kstest(z, "norm").pvalue > 1e-4


def test_keyed_rng_is_a_function_of_its_key() -> None:
    a = KeyedRNG(seed=5, epoch=1, index=9, stream=3)
    b = KeyedRNG(seed=5, epoch=1, index=9, stream=3)
    np.testing.assert_array_equal(a.uniform(-2, 2, 16), b.uniform(-2, 2, 16))
    base = KeyedRNG(5, 1, 9, 3).random(8)
    for other in (KeyedRNG(6, 1, 9, 3), KeyedRNG(5, 2, 9, 3), KeyedRNG(5, 1, 10, 3), KeyedRNG(5, 1, 9, 4)):
        assert not np.array_equal(other.random(8), base)


def test_keyed_rng_draws_do_not_depend_on_batching() -> None:
    one_by_one = KeyedRNG(1, index=2)
    singles = [one_by_one.random() for _ in range(6)]
    batched = KeyedRNG(1, index=2).random(6)
    np.testing.assert_array_equal(np.array(singles), batched)


def test_keyed_rng_distributions() -> None:
    from scipy import stats

    rng = KeyedRNG(11)
    z = np.asarray(rng.normal(size=50_000))
    assert stats.kstest(z, "norm").pvalue > 1e-4
    ints = np.asarray(rng.integers(3, 8, size=50_000))
    assert ints.min() == 3 and ints.max() == 7
    counts = np.bincount(ints - 3)
    assert stats.chisquare(counts).pvalue > 1e-4
    assert isinstance(rng.bernoulli(0.5), bool)


@pytest.mark.parametrize(
    "kwargs", [{"seed": -1}, {"seed": 2**64}, {"seed": 0, "index": 2**32}, {"seed": 0, "stream": 2**31}]
)
def test_keyed_rng_rejects_out_of_range_keys(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        KeyedRNG(**kwargs)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**64 - 1),
    indices=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=4),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    prefetched=st.booleans(),
)
def test_batch_random_lists_are_keyed_uniforms(
    seed: int, indices: list[int], sizes: list[int], prefetched: bool
) -> None:
    """BatchRNG.random_lists: Python floats with the bits of KeyedRNG.random, prefetched or not."""
    rng = BatchRNG.streams(seed, 1, indices, [3])[0] if prefetched else BatchRNG(seed, 1, indices, 3)
    rows = [KeyedRNG(seed, 1, i, 3) for i in indices]
    for n in sizes:
        got = rng.random_lists(n)
        for g, r in zip(got, rows, strict=True):
            want = np.asarray(r.random(n)).tolist()
            assert all(type(v) is float for v in g)
            assert np.asarray(g).tobytes() == np.asarray(want).tobytes()
    assert rng.words_used == rows[0].words_used


def test_batch_words_past_word_zero_of_the_counter() -> None:
    """BatchRNG.words with a block number past 2**32 (word 1 of the counter) equals the keyed stream."""
    rng = BatchRNG(7, 0, [5, 9], 2)
    rng._next_word = 4 * (2**32) - 6  # the draw spans blocks 2**32 - 2 .. 2**32 + 1
    got = rng.words(12)
    for row, i in zip(got, [5, 9], strict=True):
        want = core.philox_stream(*KeyedRNG(7, 0, i, 2).key, i, 2, 4 * (2**32) - 6, 12)
        np.testing.assert_array_equal(row, want)
