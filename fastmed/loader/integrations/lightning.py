"""A ``LightningDataModule`` whose loaders are ``fm.DataLoader``s (needs the ``lightning`` extra).

.. code-block:: python

    from fastmed.loader.integrations.lightning import FastmedDataModule
    dm = FastmedDataModule(train=train_ds, val=val_ds, batch_size=2, num_workers=2, seed=0,
                           train_transform=aug)
    trainer = lightning.Trainer(max_epochs=10, use_distributed_sampler=False)
    trainer.fit(model, datamodule=dm)

The train loader shuffles with ``seed=`` (order a function of ``(seed, epoch)``, augmentation
of ``(seed, epoch, index)``) and its epoch follows the trainer's; the other loaders keep
their order. Under DDP each ``fm.DataLoader`` shards itself from ``torch.distributed``:
pass ``use_distributed_sampler=False`` to the Trainer so that Lightning does not replace
the sampler. ``fm.DataLoader`` has ``state_dict``/``load_state_dict``, so Lightning (2.3 and later)
treats it as a stateful dataloader: its state goes into every checkpoint, and
``trainer.fit(..., ckpt_path=...)`` from a mid-epoch checkpoint delivers exactly the
epoch's remaining samples, with the same augmentations (a checkpoint saved after an
epoch's last batch resumes at the start of the next epoch, as Lightning does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

try:
    import lightning.pytorch as pl
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("FastmedDataModule needs lightning: pip install 'fastmed[lightning]'") from exc

from fastmed.loader.dataloader import DataLoader
from fastmed.loader.iterator import EpochIterator
from fastmed.loader.state import unpack_done


def _len_or_none(loader: DataLoader) -> int | None:
    try:
        return len(loader)
    except TypeError:  # an iterable dataset without __len__
        return None


def epoch_complete(state: Mapping[str, Any], batches: int | None) -> bool:
    """Whether a loader state has every one of the epoch's ``batches`` batches delivered (or skipped)."""
    if batches is None:
        return False
    done = len(unpack_done(state["done_prefix"], state["done_extra"]))
    return max(done, int(state["batches"])) >= batches


class TrainerEpochLoader(DataLoader):
    """An ``fm.DataLoader`` whose every ``iter()`` takes the trainer's current epoch.

    Lightning stops a training epoch after ``len(loader)`` batches without asking for the
    end of the iterator, so the loader's own epoch counter (advanced on exhaustion) would
    not move; Lightning's ``set_epoch`` reaches only samplers. A pending
    ``load_state_dict`` (a mid-epoch resume) keeps its own epoch.
    """

    def __init__(self, *args: Any, epoch_of: Callable[[], int | None], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.epoch_of = epoch_of
        self._restored = False

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume from a checkpoint's loader state; the next ``iter()`` keeps its epoch, not the trainer's.

        Lightning restores the state and calls ``iter()`` before it advances its own epoch
        counter, and a checkpoint saved after an epoch's last batch (the loader was not asked
        for the end of the epoch) restarts at the next epoch: such a state resumes as the
        start of epoch ``e + 1``, not as an empty rest of epoch ``e``.
        """
        super().load_state_dict(state)
        self._restored = True
        if self._resume is not None and epoch_complete(state, _len_or_none(self)):
            self._resume = None
            self.set_epoch(int(state["epoch"]) + 1)

    def __iter__(self) -> EpochIterator:  # type: ignore[override]
        epoch = self.epoch_of()
        if epoch is not None and self._resume is None and not self._restored:
            self.set_epoch(epoch)
        self._restored = False
        return super().__iter__()


class FastmedDataModule(pl.LightningDataModule):
    """Train/val/test/predict datasets served by ``fm.DataLoader``.

    Parameters
    ----------
    train, val, test, predict
        Map-style or iterable datasets (any torch dataset); ``None`` leaves the stage out.
    batch_size, num_workers, seed
        Passed to every loader (``seed`` shuffles the train loader reproducibly).
    train_transform, eval_transform
        ``transform=`` of the train loader and of the others (a fastmed ``Compose``, a MONAI
        or TorchIO transform, or any callable).
    **loader_kwargs
        Any other ``fm.DataLoader`` / torch ``DataLoader`` argument (``pin_memory``,
        ``collate_fn``, ``on_error``, ``device`` ...), given to every loader.
    """

    def __init__(
        self,
        train: Any = None,
        val: Any = None,
        test: Any = None,
        predict: Any = None,
        *,
        batch_size: int = 1,
        num_workers: int = 0,
        seed: int | None = 0,
        train_transform: Callable[..., Any] | None = None,
        eval_transform: Callable[..., Any] | None = None,
        **loader_kwargs: Any,
    ):
        super().__init__()
        self.datasets = {"train": train, "val": val, "test": test, "predict": predict}
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.train_transform = train_transform
        self.eval_transform = eval_transform
        self.loader_kwargs = loader_kwargs
        self._train_loader: DataLoader | None = None

    def _epoch(self) -> int | None:
        trainer = self.trainer
        return None if trainer is None else int(trainer.current_epoch)

    def _loader(self, stage: str, shuffle: bool, transform: Callable[..., Any] | None) -> DataLoader:
        dataset = self.datasets[stage]
        if dataset is None:
            raise ValueError(f"FastmedDataModule has no {stage} dataset")
        return TrainerEpochLoader(
            dataset,
            epoch_of=self._epoch,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            seed=self.seed,
            transform=transform,
            **self.loader_kwargs,
        )

    def train_dataloader(self) -> DataLoader:
        """The shuffled train loader; each pass uses the trainer's current epoch."""
        if self._train_loader is None:
            self._train_loader = self._loader("train", True, self.train_transform)
        return self._train_loader

    def val_dataloader(self) -> DataLoader:
        """The validation loader (dataset order)."""
        return self._loader("val", False, self.eval_transform)

    def test_dataloader(self) -> DataLoader:
        """The test loader (dataset order)."""
        return self._loader("test", False, self.eval_transform)

    def predict_dataloader(self) -> DataLoader:
        """The predict loader (dataset order)."""
        return self._loader("predict", False, self.eval_transform)
