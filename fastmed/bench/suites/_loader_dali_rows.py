"""Loader bench rows for fastmed's DALI pipeline on DALI's CPU operators, and fastmed's row doing the same work.

Split from :mod:`fastmed.bench.suites._loader_rows` (the other rows and their shared helpers).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.suites._loader_data import LoaderData, Volumes
from fastmed.bench.suites._loader_rows import BATCH, WORKERS, LoaderRow, fastmed_fast


def no_elastic(spec: AugSpec) -> AugSpec:
    """``spec`` without the elastic deformation (DALI has no 3D elastic op)."""
    return dataclasses.replace(spec, elastic=False)


def dali_cpu(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """The DALI pipeline of fastmed (:func:`fastmed.backends.dali.dali_pipeline`) on DALI's CPU operators.

    The R3D ``Compose`` without ``RandomElastic`` (DALI cannot run it: less work than the
    other rows) becomes one DALI graph: per sample one ``warp_affine`` with the fused map
    of crop, flip and affine, then window, gamma and noise as DALI arithmetic. The
    pipeline pulls the samples from the same dataset itself (an external source run by
    DALI, whole decoded volumes in memory whatever the suite's source: DALI reads no
    windows), draws params with fastmed's keyed RNG, and runs ``WORKERS`` DALI CPU threads
    (the cores of the other rows); batches come through ``DALIGenericIterator``.
    """
    from fastmed.backends.dali import dali_pipeline
    from fastmed.bench.peers.fastmed_aug import build

    try:
        from nvidia.dali.plugin.pytorch import DALIGenericIterator
    except ImportError as exc:  # the suite records the row as not installed
        raise ImportError(f"nvidia-dali ({exc})") from exc
    aug = build(no_elastic(spec))

    def make() -> Any:
        ds = Volumes(data.vols)
        samples = [ds[i] for i in range(len(ds))]  # the same items as a sequence (no copies)
        pipe, names = dali_pipeline(aug, samples, BATCH, seed=0, device="cpu", num_threads=WORKERS)
        return DALIGenericIterator(pipe, names, auto_reset=True)

    def close(loader: Any, it: Any) -> None:
        for pipe in getattr(loader, "_pipes", []):
            pipe._shutdown()

    return LoaderRow(make, batches, image=lambda b: b[0]["image"], close=close)


def fastmed_fast_no_elastic(data: LoaderData, spec: AugSpec, batches: int) -> LoaderRow:
    """:func:`fastmed_fast` without ``RandomElastic``: the same work as :func:`dali_cpu` (from the suite's source)."""
    return fastmed_fast(data, no_elastic(spec), batches)
