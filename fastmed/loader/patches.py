"""Wiring ``patch_sampler=`` and ``samples_per_volume=`` into a :class:`fastmed.DataLoader`.

With either option the loader iterates samples, not volumes: sample ``s`` is patch
``s % k`` of volume ``s // k`` (:class:`~fastmed.loader.patch_compose.PatchItems`), in
:class:`~fastmed.loader.patch_order.PatchOrder`'s order, made by a
:class:`~fastmed.loader.patch_compose.PatchCompose`. Everything else (keys, books,
resume, faults, both paths) is the loader's usual machinery over these samples, so the
generic and the fast path give the same batches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastmed.errors import LoaderError, LoaderUnsupportedError
from fastmed.loader.patch_compose import Foreground, PatchCompose, PatchItems
from fastmed.loader.patch_order import PatchOrder
from fastmed.loader.patch_samplers import PatchSampler

if TYPE_CHECKING:
    from fastmed.loader.dataloader import DataLoader


def check_patch_sampler(patch_sampler: object | None) -> None:
    """Raise :class:`LoaderError` unless ``patch_sampler`` is ``None`` or follows :class:`PatchSampler`."""
    if patch_sampler is not None and not isinstance(patch_sampler, PatchSampler):
        raise LoaderError(
            f"patch_sampler must be a patch sampler (fm.RandomPatchSampler, fm.LabelPatchSampler or an object with "
            f"size, pad_mode, pad_value, needs_foreground, forced_count and locate), got {type(patch_sampler).__name__}"
        )


def check_queue_length(queue_length: int | None, patches: bool) -> int | None:
    """``queue_length`` checked: ``None`` or a positive integer, given only with patches.

    Raises
    ------
    LoaderError
        Not a positive integer, or given without ``samples_per_volume=`` / ``patch_sampler=``.
    """
    if queue_length is None:
        return None
    if isinstance(queue_length, bool) or not isinstance(queue_length, int) or queue_length < 1:
        raise LoaderError(f"queue_length must be a positive integer (volumes) or None, got {queue_length!r}")
    if not patches:
        raise LoaderError(
            "queue_length= mixes the patches of several volumes: give samples_per_volume= or patch_sampler= too"
        )
    return int(queue_length)


def setup_patches(
    loader: DataLoader,
    patch_sampler: PatchSampler | None,
    k: int,
    shuffle: bool,
    user_order: bool,
    queue_length: int | None = None,
) -> tuple[PatchOrder, PatchCompose, PatchItems]:
    """The order, pipeline and sample-indexed dataset of a loader with patches.

    ``queue_length`` volumes' patches are shuffled together (``None``: ``batch_size``).

    Raises
    ------
    LoaderUnsupportedError
        The loader's other arguments rule patches out (iterable dataset, ``batch_size=None``,
        a user sampler, a transform that is not a fastmed Compose).
    """
    from fastmed.transforms.compose import Compose

    why = None
    if loader.is_iterable:
        why = "an iterable dataset (patches need a map-style dataset of volumes)"
    elif not loader._auto_collation:
        why = "batch_size=None (patches are sampled per batch)"
    elif user_order:
        why = "sampler= or batch_sampler= (the loader orders patches itself; use shuffle= and seed=)"
    elif loader.transform is not None and not isinstance(loader.transform, Compose):
        why = "a transform that is not a fastmed Compose (the patch is the first step of its plan)"
    if why is not None:
        raise LoaderUnsupportedError(f"patch_sampler= / samples_per_volume= do not work with {why}")
    assert loader.batch_size is not None
    opts = loader.options
    order = PatchOrder(
        len(loader.dataset),  # type: ignore[arg-type]
        k,
        opts.seed if opts.seed is not None else loader.augment_seed,
        shuffle,
        opts.rank,
        opts.world_size,
        loader.batch_size,
        group=queue_length,
    )
    base: Any = loader.transform
    compose = PatchCompose(base, patch_sampler, k, order, Foreground(loader.dataset))
    return order, compose, PatchItems(loader.dataset, k)
