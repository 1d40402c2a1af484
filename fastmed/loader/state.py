"""Loader state for mid-epoch resume, and the record of a skipped sample.

A state is a plain dict (``torch.save``-able; only the RNG snapshot is a tensor)::

    {"version": 1, "epoch": e, "seed": s, "augment_seed": a, "rank": r, "world_size": w,
     "done_prefix": k, "done_extra": [ids...],   # map-style: batch ids delivered this epoch
     "batches": n,                                # batches delivered this epoch
     "rng": tensor | None,                        # seed=None: the RNG at epoch start
     "errors": [[index, epoch, reason], ...]}

Delivered batch ids are stored as a prefix ``0..k-1`` plus the ids above it (only
``in_order=False`` makes any). Resuming draws the same epoch order again (a function of
``(seed, epoch)``, or of the restored RNG snapshot when ``seed=None``) and skips those
ids, so the remaining batches, and their augmentations keyed by ``(seed, epoch, index)``,
are the ones an uninterrupted run delivers. ``augment_seed`` is the seed the augmentations
(and a patch order) were keyed by: ``seed``, or with ``seed=None`` torch's initial seed of
the saved run, adopted on load (a new process may have another; states without it keep
the loader's own).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastmed.errors import LoaderError

VERSION = 1


@dataclass(frozen=True)
class SkippedSample:
    """A sample skipped under ``on_error="skip"``: its index, epoch and the reason."""

    index: int | None
    epoch: int
    reason: str


def pack_done(done: Iterable[int]) -> tuple[int, list[int]]:
    """Delivered ids as ``(k, extra)``: all of ``0..k-1`` plus the sorted ``extra`` above ``k``."""
    ids = set(done)
    k = 0
    while k in ids:
        k += 1
    return k, sorted(i for i in ids if i > k)


def unpack_done(prefix: int, extra: Iterable[int]) -> set[int]:
    """Inverse of :func:`pack_done`."""
    return set(range(int(prefix))) | {int(i) for i in extra}


def check_state(state: Mapping[str, Any], seed: int | None, rank: int, world_size: int) -> None:
    """Raise :class:`LoaderError` if ``state`` does not belong to a loader configured like this one."""
    if not isinstance(state, Mapping) or state.get("version") != VERSION:
        raise LoaderError(f"load_state_dict: not a fastmed loader state of version {VERSION}")
    for name, mine in (("seed", seed), ("rank", rank), ("world_size", world_size)):
        if state.get(name) != mine:
            raise LoaderError(f"load_state_dict: the state has {name}={state.get(name)!r}, this loader {mine!r}")
