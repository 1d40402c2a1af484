"""Worker-side wrappers: fetch a sample by key, apply the transform, catch its failure.

A key is ``(batch_id, epoch, index)``; it is made in the main process (see
:mod:`fastmed.loader.plan`) and travels through torch's index queue to whichever worker
runs it, so the worker needs no state to know which epoch and which sample it serves.
The transform gets ``(seed, epoch, index)``, never the worker id: the augmentation of a
sample is the same for any number of workers and after a resume. A failing sample
becomes a :class:`Failed` record (a plain reason string, picklable) instead of an
exception, so one bad sample neither kills a worker nor loses its batch mates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from torch.utils.data import Dataset, IterableDataset

Key = tuple[int, int, int]


def describe(exc: BaseException) -> str:
    """The cause of a failure as one line: exception type and message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Failed:
    """A sample that could not be produced.

    The original exception is kept in-process (``exc``) but not pickled: across a worker
    boundary only the index, epoch and reason travel.
    """

    __slots__ = ("epoch", "exc", "index", "reason")

    def __init__(self, index: int | None, epoch: int, reason: str, exc: BaseException | None = None):
        self.index = index
        self.epoch = epoch
        self.reason = reason
        self.exc = exc

    def __reduce__(self) -> tuple[type, tuple[int | None, int, str]]:
        return (Failed, (self.index, self.epoch, self.reason))


class Fetched:
    """The samples of one key batch, as the map-style wrapper hands them to collate."""

    __slots__ = ("bid", "epoch", "failures", "indices", "samples")

    def __init__(self, bid: int, epoch: int):
        self.bid = bid
        self.epoch = epoch
        self.samples: list[Any] = []
        self.indices: list[int] = []
        self.failures: list[Failed] = []


class Batch:
    """What a worker returns: the collated data, its batch id and the failed samples."""

    __slots__ = ("bid", "data", "failures", "size")

    def __init__(self, bid: int | None, data: Any, failures: list[Failed], size: int):
        self.bid = bid
        self.data = data
        self.failures = failures
        self.size = size

    def __reduce__(self) -> tuple[type, tuple[int | None, Any, list[Failed], int]]:
        from fastmed.loader.transport import pack  # small tensors inside the pickle, not in shared memory

        return (Batch, (self.bid, pack(self.data), self.failures, self.size))

    def pin_memory(self) -> Batch:
        """Pin the data (torch's pin-memory thread calls this)."""
        from torch.utils.data._utils.pin_memory import pin_memory

        self.data = pin_memory(self.data)
        return self


class Augment:
    """Apply the user's transform to one sample, keyed by (seed, epoch, index)."""

    def __init__(self, transform: Callable[..., Any] | None, keyed: bool, seed: int):
        self.transform = transform
        self.keyed = keyed
        self.seed = seed

    def __call__(self, sample: Any, index: int, epoch: int) -> Any:
        """The transformed sample (the sample itself without a transform)."""
        if self.transform is None:
            return sample
        if self.keyed:
            return self.transform(sample, seed=self.seed, index=index, epoch=epoch)
        return self.transform(sample)


class _Given:
    """A fetch that returns a sample already read by the dataset's ``__getitems__``."""

    def __init__(self, sample: Any):
        self.sample = sample

    def __call__(self, index: int) -> Any:
        return self.sample


class KeyedMap(Dataset[Any]):
    """A map-style dataset indexed by keys ``(batch_id, epoch, index)``."""

    def __init__(self, dataset: Any, augment: Augment, seeder: Callable[[int, int], None] | None = None):
        self.dataset = dataset
        self.augment = augment
        self.seeder = seeder  # keys the dataset's own randomness per sample (MONAI datasets)

    def __len__(self) -> int:
        return len(self.dataset)

    def _one(self, out: Fetched, index: int, fetch: Callable[[int], Any]) -> None:
        try:
            if self.seeder is not None:
                self.seeder(index, out.epoch)
            sample = self.augment(fetch(index), index, out.epoch)
        except Exception as exc:
            out.failures.append(Failed(index, out.epoch, describe(exc), exc))
            return
        out.samples.append(sample)
        out.indices.append(index)

    def __getitem__(self, key: Key) -> Fetched:
        bid, epoch, index = key
        out = Fetched(bid, epoch)
        self._one(out, index, self.dataset.__getitem__)
        return out

    def __getitems__(self, keys: Sequence[Key]) -> Fetched:
        bid, epoch = (keys[0][0], keys[0][1]) if keys else (-1, 0)
        out = Fetched(bid, epoch)
        indices = [k[2] for k in keys]
        batched = getattr(self.dataset, "__getitems__", None)
        if batched is not None and self.seeder is None:
            try:
                raw = list(batched(indices))
            except Exception:  # isolate the failing sample(s) one by one below
                raw = None
            if raw is not None and len(raw) == len(indices):
                for index, sample in zip(indices, raw, strict=True):
                    self._one(out, index, _Given(sample))
                return out
        for index in indices:
            self._one(out, index, self.dataset.__getitem__)
        return out


class KeyedIterable(IterableDataset[Any]):
    """An iterable dataset whose items get the transform with a per-worker running index.

    An exception from the user's iterator ends that worker's stream (a Python iterator
    that raised cannot be trusted to continue); an exception in the transform fails
    only its item.
    """

    def __init__(self, dataset: Any, augment: Augment):
        self.dataset = dataset
        self.augment = augment
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.dataset)
        count = 0
        while True:
            try:
                sample = next(it)
            except StopIteration:
                return
            except Exception as exc:
                yield Failed(None, self.epoch, "dataset iterator: " + describe(exc), exc)
                return
            try:
                yield self.augment(sample, count, self.epoch)
            except Exception as exc:
                yield Failed(count, self.epoch, describe(exc), exc)
            count += 1


def keep_replay(collate_fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The loader's collate: torch's ``default_collate`` keeping replay ``params`` as a list, others as they are.

    See :class:`~fastmed.transforms.collate.KeepReplay`.
    """
    from torch.utils.data import default_collate

    from fastmed.transforms.collate import KeepReplay

    return KeepReplay(collate_fn) if collate_fn is default_collate else collate_fn


class Collate:
    """Wrap the user's collate_fn: drop failed samples, catch collate's own failure."""

    def __init__(self, collate_fn: Callable[[Any], Any], auto_collation: bool, on_error: str):
        self.collate_fn = keep_replay(collate_fn)
        self.auto_collation = auto_collation
        self.on_error = on_error

    def __call__(self, got: Any) -> Batch:
        """Collate what a worker fetched into a :class:`Batch`."""
        if isinstance(got, Fetched):
            bid, epoch, samples, indices, failures = got.bid, got.epoch, got.samples, got.indices, got.failures
        else:
            items = got if self.auto_collation else [got]
            failures = [s for s in items if isinstance(s, Failed)]
            samples = [s for s in items if not isinstance(s, Failed)]
            bid, epoch, indices = None, failures[0].epoch if failures else 0, []
        if not samples or (failures and self.on_error == "raise"):
            return Batch(bid, None, failures, 0)
        try:
            data = self.collate_fn(samples if self.auto_collation else samples[0])
        except Exception as exc:
            reason = "collate_fn: " + describe(exc)
            lost = [Failed(i, epoch, reason, exc) for i in indices] or [Failed(None, epoch, reason, exc)]
            return Batch(bid, None, failures + lost, 0)
        return Batch(bid, data, failures, len(samples))
