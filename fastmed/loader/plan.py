"""The batches of one epoch, as the main process hands them to torch's workers.

Each batch drawn from the epoch's index sampler gets a batch id (its position in the
epoch) and becomes a list of keys ``(batch_id, epoch, index)``. The plan remembers what
is in flight and what was delivered, so that after a worker death the lost batches are
issued again (in id order, before any new one) and nothing is delivered twice, and so
that a resumed epoch skips exactly the batches delivered before the stop.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Iterator
from typing import Any


class EpochPlan:
    """Batch ids, in-flight keys and delivered ids of one epoch.

    Parameters
    ----------
    source
        The epoch's index sampler: lists of indices (``auto_collation``) or single indices.
    epoch
        The epoch number, put in every key.
    auto_collation
        Whether ``source`` yields index lists (torch's automatic batching).
    done
        Batch ids delivered before a resume; they are drawn from ``source`` and skipped.
    """

    def __init__(self, source: Iterable[Any], epoch: int, auto_collation: bool, done: Iterable[int] = ()):
        self._source = iter(source)
        self.epoch = int(epoch)
        self.auto_collation = auto_collation
        self.next_bid = 0
        self.done: set[int] = set(done)
        self.in_flight: dict[int, Any] = {}
        self._reissue: list[int] = []

    def keys(self) -> Iterator[Any]:
        """Keys of the batches still to issue: re-issues first, then fresh ones."""
        while True:
            if self._reissue:
                yield self.in_flight[self._reissue.pop(0)]
                continue
            try:
                item = next(self._source)
            except StopIteration:
                return
            bid = self.next_bid
            self.next_bid += 1
            if bid in self.done:
                continue
            keys: Any = [(bid, self.epoch, i) for i in item] if self.auto_collation else (bid, self.epoch, item)
            self.in_flight[bid] = keys
            yield keys

    def indices(self, bid: int) -> list[Any]:
        """Dataset indices of an in-flight batch (for error messages)."""
        keys = self.in_flight.get(bid)
        if keys is None:
            return []
        return [k[2] for k in keys] if self.auto_collation else [keys[2]]

    def deliver(self, bid: int) -> bool:
        """Mark ``bid`` delivered; ``False`` if it already was (a re-issued duplicate)."""
        if bid in self.done:
            return False
        self.in_flight.pop(bid, None)
        self.done.add(bid)
        return True

    def reissue_lost(self) -> list[int]:
        """Queue every in-flight batch for issuing again (after the workers were replaced)."""
        self._reissue = sorted(self.in_flight)
        return list(self._reissue)


class Progress:
    """How far an epoch got: shared by its iterator and the loader (for ``state_dict``)."""

    def __init__(self, epoch: int, plan: EpochPlan | None, delivered: int):
        self.epoch = epoch
        self.plan = plan
        self.delivered = delivered
        self.finished = False


class PlanSampler:
    """The index sampler torch's inner loader iterates: the current plan's keys.

    It holds the owner (not the plan), so persistent workers see each new epoch's plan;
    weakly, so that no reference cycle keeps worker processes alive until a garbage
    collection (torch shuts workers down when its iterator's last reference goes).
    """

    def __init__(self, owner: Any):
        self.owner = weakref.proxy(owner)

    def __iter__(self) -> Iterator[Any]:
        plan: EpochPlan = self.owner._plan
        return plan.keys()

    def __len__(self) -> int:
        return len(self.owner)
