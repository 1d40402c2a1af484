"""Worker side of a conversion: read, write under a temporary name, verify, publish.

Each series is read from DICOM, written as a group under a temporary name, verified (every
chunk re-read, crc32c checked), given its statistics and record, and published by a rename.

Each function is a Dask task (top-level, picklable arguments) and safe to run again after a
worker died: temporary groups get fresh names and publishing checks what is already there.
"""

from __future__ import annotations

import errno
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.errors import CacheError
from fastmed.store import blosc_unsplit, layout
from fastmed.store.job import SeriesJob
from fastmed.store.publish import publish, read_record


def guard(job: SeriesJob, tmp: Path | None, exc: OSError) -> CacheError:
    """An OS error while writing: remove the temporary group and name the series and reason."""
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)
    why = "disk full" if exc.errno == errno.ENOSPC else (exc.strerror or type(exc).__name__)
    return CacheError(f"series {job.series_id}: writing the store failed ({why}); nothing was published")


_SINGLE = [False]


def single_threaded() -> None:
    """Keep a task on one core: zarr's chunk thread pool and async concurrency set to 1.

    Workers have one thread each; parallelism comes from the number of workers. Set once per
    process, before zarr first starts its pool.
    """
    if not _SINGLE[0]:
        import zarr

        zarr.config.set({"threading.max_workers": 1, "async.concurrency": 1})
        _SINGLE[0] = True


def read_part(job: SeriesJob, z0: int | None = None, z1: int | None = None) -> Any:
    """The series (or its slices ``[z0, z1)``) as a Volume from :func:`fastmed.read_series`, on one thread."""
    from fastmed.dicom.series_assembly import read_series

    single_threaded()
    paths = list(job.paths if z0 is None else job.paths[z0:z1])
    return read_series(paths, series=job.series_id, on_irregular="raise" if z0 is None else "allow", threads=1)


def create_group(job: SeriesJob, dtype: str, shared: bool = False) -> str:
    """Create the temporary group with an empty ``image`` array; returns its path.

    ``shared=False``: a fresh random name (a task that runs twice writes two groups).
    ``shared=True`` (split series): a name fixed by the series and its source hash, and a group
    that already exists there with the right image array is kept, so that a plan task re-run
    after its worker died hands the slabs already written to the finish task.
    """
    import zarr
    from zarr.storage import LocalStore

    tag = job.source_hash[:12] if shared else uuid.uuid4().hex[:12]
    tmp = layout.tmp_root(job.store) / f"{job.series_id}.{tag}"
    if shared and _has_image(tmp, job.shape, dtype):
        return str(tmp)
    try:
        tmp.parent.mkdir(parents=True, exist_ok=True)
        g = zarr.open_group(LocalStore(str(tmp)), mode="w")
        create_array(g, layout.IMAGE, job.shape, np.dtype(dtype), job)
    except OSError as exc:
        raise guard(job, tmp, exc) from None
    return str(tmp)


def _has_image(tmp: Path, shape: tuple[int, ...], dtype: str) -> bool:
    from fastmed.store.chunks import array_info

    try:
        info = array_info(tmp / layout.IMAGE, "tmp")
    except CacheError:
        return False
    return (tmp / "zarr.json").is_file() and info.shape == tuple(shape) and info.dtype == np.dtype(dtype)


def create_array(g: Any, name: str, shape: tuple[int, ...], dtype: np.dtype[Any], job: SeriesJob) -> Any:
    """An empty array in group ``g`` with the job's chunks and codecs (crc32c last), every chunk stored."""
    return g.create_array(
        name,
        shape=shape,
        dtype=dtype,
        chunks=layout.chunks_for(shape, job.chunk_3d),
        compressors=job.codec.zarr_codecs(),
        fill_value=0,
        dimension_names=("z", "y", "x")[-len(shape) :],
        config={"write_empty_chunks": True},
    )


def write_region(tmp: str, name: str, data: npt.NDArray[Any], z0: int, job: SeriesJob) -> None:
    """Write ``data`` into array ``name`` of the temporary group from slice ``z0`` on."""
    import zarr

    try:
        with blosc_unsplit.encoding(job.codec.unsplit):  # reopened: zarr.json names zarr's own blosc codec
            arr = zarr.open_array(str(Path(tmp) / name), mode="r+")
            arr[z0 : z0 + data.shape[0]] = data.astype(arr.dtype, copy=False)
    except OSError as exc:
        raise guard(job, Path(tmp), exc) from None


def convert_series(job: SeriesJob) -> dict[str, Any]:
    """Convert a series in one task: read, write, verify, publish; returns its table record."""
    single_threaded()
    done = already_published(job)
    if done is not None:
        return done
    vol = read_part(job)
    tmp = create_group(job, str(vol.array.dtype))
    write_region(tmp, layout.IMAGE, vol.array, 0, job)
    geometry = {
        "spacing": [float(s) for s in vol.spacing],
        "origin": [float(v) for v in vol.origin],
        "direction": np.asarray(vol.direction).tolist(),
    }
    return finish(job, tmp, geometry)


def already_published(job: SeriesJob) -> dict[str, Any] | None:
    """The record of the series if a previous attempt of this task published it already."""
    rec = read_record(layout.series_dir(job.store, job.series_id))
    if rec is not None and rec.get("source_hash") == job.source_hash:
        return rec
    return None


def finish(job: SeriesJob, tmp: str, geometry: dict[str, Any]) -> dict[str, Any]:
    """Verify every chunk (crc32c), add the label, statistics and record, then publish atomically."""
    import zarr

    from fastmed.store.chunks import array_info, read_box
    from fastmed.store.masks import load_label
    from fastmed.store.stats import foreground_summary, intensity_stats

    where = f"series {job.series_id}"
    try:
        info = array_info(Path(tmp) / layout.IMAGE, f"{where} {layout.IMAGE}")
        image = read_box(info, (0,) * len(info.shape), info.shape)  # re-reads and checks every chunk
        rec: dict[str, Any] = {
            "series_id": job.series_id,
            "study_id": job.study_id,
            "modality": job.modality,
            "image": f"{job.series_id}/{layout.IMAGE}",
            "label": "",
            "shape": list(info.shape),
            "dtype": str(info.dtype.newbyteorder("=")),
            **geometry,
            "classes": job.annotation.classes,
            "report": job.annotation.report,
            "stats": intensity_stats(image),
            "foreground": None,
            "source_hash": job.source_hash,
            "format_version": layout.FORMAT_VERSION,
        }
        if job.annotation.mask is not None:
            mask = load_label(job.annotation.mask, info.shape, geometry, job.series_id)
            g = zarr.open_group(tmp, mode="r+")
            lab = create_array(g, layout.LABEL, info.shape, mask.dtype, job)
            lab[...] = mask
            linfo = array_info(Path(tmp) / layout.LABEL, f"{where} {layout.LABEL}")
            if not np.array_equal(read_box(linfo, (0,) * len(info.shape), info.shape), mask):
                raise CacheError(f"{where}: label read back differs from what was written")
            rec["label"] = f"{job.series_id}/{layout.LABEL}"
            rec["foreground"] = foreground_summary(mask)
        g = zarr.open_group(tmp, mode="r+")
        g.attrs[layout.ATTR] = rec
        try:
            publish(Path(tmp), layout.series_dir(job.store, job.series_id))
        except OSError as exc:
            # Another run of this task (Dask may start one twice) published first: same sources, same group.
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and already_published(job) is not None:
                shutil.rmtree(tmp, ignore_errors=True)
                return rec
            raise
    except OSError as exc:
        raise guard(job, Path(tmp), exc) from None
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return rec


def remove_tmp(store: str) -> int:
    """Remove every temporary group (left by a crash); returns how many there were."""
    root = layout.tmp_root(store)
    if not root.exists():
        return 0
    n = sum(1 for _ in root.iterdir())
    shutil.rmtree(root, ignore_errors=True)
    return n
