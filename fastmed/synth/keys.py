"""Deterministic keys: every random draw and every UID of the archive comes from here.

Each draw is a :class:`fastmed.rng.KeyedRNG` keyed by ``(seed, study, series, item, purpose)``
so that a study renders the same whatever else the archive contains, and slices can be
rendered one at a time (or in any order) with identical results.
"""

from __future__ import annotations

from enum import IntEnum

from pydicom.uid import UID, generate_uid

from fastmed.rng import KeyedRNG

UID_PREFIX = "1.2.826.0.1.3680043.8.498."
"""pydicom's registered root; entropy-hashed UIDs below it are deterministic and valid."""

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.1.7.14.1"
IMPLEMENTATION_VERSION_NAME = "FASTMED_SYNTH"


class Purpose(IntEnum):
    """Stream numbers: one per kind of random choice, so adding a draw never shifts another."""

    STUDY = 1
    LESIONS = 2
    GEOMETRY = 3
    NOISE = 4
    TEXTURE = 5
    EDGE = 6
    NAMES = 7
    PATIENT = 8
    MR_BIAS = 9


def rng_for(seed: int, study: int, purpose: Purpose, series: int = 0, item: int = 0) -> KeyedRNG:
    """Return the stream for one purpose of one (study, series, item).

    Parameters
    ----------
    seed
        Archive seed.
    study
        Study index (the RNG's epoch word).
    purpose
        What the numbers are for (the RNG's stream word).
    series
        Series index within the study (below 2**15).
    item
        Slice or other item index within the series (below 2**16).
    """
    if not 0 <= series < 2**15 or not 0 <= item < 2**16:
        raise ValueError(f"series {series} or item {item} out of range")
    return KeyedRNG(seed, epoch=study, index=(series << 16) | item, stream=int(purpose))


def make_uid(seed: int, *parts: object) -> UID:
    """Return a UID that is a pure function of the seed and ``parts`` (never random)."""
    return generate_uid(prefix=UID_PREFIX, entropy_srcs=["fastmed-synth", str(seed), *map(str, parts)])
