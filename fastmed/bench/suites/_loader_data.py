"""The data of the ``loader`` suite: in-memory volumes, or the same volumes converted once into a fastmed store.

``source="memory"``: the bench CT volumes (:func:`fastmed.bench.data.ct_volume`) as int16
arrays; every row reads them from memory. ``source="store"``: the same volumes plus
deterministic Gaussian noise (``NOISE_HU``, so that the store's compression is not
flattered by a noiseless phantom) are written as DICOM CT series (explicit VR little
endian, 1 mm voxels), indexed with :func:`fastmed.index` and converted with
:func:`fastmed.convert` (default chunks and codec, an in-process Dask cluster of two
threads, closed before any row runs); fastmed reads them through :class:`fastmed.VolumeDataset` (only the chunks under
each sample's footprint), while the peers read what they would hold in practice: the
decoded arrays in memory (MONAI ``CacheDataset``, TorchIO, DALI) or nnU-Net's
preprocessed ``.npy`` files opened with ``np.load(mmap_mode="r")`` (batchgenerators).
Everything is written once per process and shape, under a temporary folder removed at exit.
With the store source the suite keeps no array: a peer loads the decoded arrays from the
``.npy`` files when it builds its loader and drops them at its teardown, so each row's peak
memory counts only what that loader holds (fastmed's rows: no volume in memory).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from torch.utils.data import Dataset

from fastmed.bench.data import ct_volume

REPEAT_VOLUMES = 64  # dataset length = volumes x this: no epoch ends during a run
NOISE_HU = 20.0
SOURCES = ("memory", "store")
_CACHE: dict[tuple[tuple[int, ...], int], LoaderData] = {}


class Volumes(Dataset[dict[str, Any]]):
    """``{"image": vols[i % len(vols)]}`` for ``i`` in ``range(len(vols) * REPEAT_VOLUMES)`` (no copies)."""

    def __init__(self, vols: list[npt.NDArray[Any]]):
        self.vols = vols

    def __len__(self) -> int:
        return len(self.vols) * REPEAT_VOLUMES

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"image": self.vols[i % len(self.vols)]}


class StoreVolumes(Dataset[dict[str, Any]]):
    """The store's items of the bench volumes, item ``i`` is volume ``i % n`` (lazy handles, nothing read).

    Parameters
    ----------
    store
        The store folder.
    ids
        The series ids of the volumes, in the order of :attr:`LoaderData.vols`.
    threads
        Native threads per window read.
    """

    def __init__(self, store: Path, ids: list[str], threads: int = 1):
        from fastmed.store.dataset import VolumeDataset

        self.ds = VolumeDataset(store, threads=threads)
        self.rows = [self.ds.ids.index(i) for i in ids]

    def __len__(self) -> int:
        return len(self.rows) * REPEAT_VOLUMES

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.ds[self.rows[i % len(self.rows)]]
        return {"image": item["image"], "spacing": item["spacing"], "id": item["id"]}

    def foreground(self, i: int) -> Any:
        """The store's foreground summary of item ``i``'s series."""
        return self.ds.foreground(self.rows[i % len(self.rows)])


@dataclass
class LoaderData:
    """The volumes every row reads, and where fastmed and nnU-Net read them from.

    Attributes
    ----------
    arrays
        The ``(1, D, H, W)`` int16 arrays (memory source; ``None`` with the store source).
    source
        ``"memory"`` or ``"store"``.
    store, ids
        The store and the volumes' series ids (store source).
    npy
        One ``.npy`` file per volume (store source: nnU-Net's preprocessed arrays).
    """

    arrays: list[npt.NDArray[Any]] | None
    source: str = "memory"
    store: Path | None = None
    ids: list[str] = field(default_factory=list)
    npy: list[Path] = field(default_factory=list)

    @property
    def vols(self) -> list[npt.NDArray[Any]]:
        """The decoded volumes in memory (in-memory peers): the arrays, or fresh loads of the ``.npy`` files."""
        if self.arrays is not None:
            return self.arrays
        return [np.load(p) for p in self.npy]

    def fastmed_dataset(self) -> Volumes | StoreVolumes:
        """The dataset of fastmed's rows: the arrays (memory) or lazy store handles (store)."""
        if self.store is None:
            return Volumes(self.vols)
        return StoreVolumes(self.store, self.ids)

    def nnunet_arrays(self) -> list[npt.NDArray[Any]]:
        """What nnU-Net's loader cuts regions from: memory-mapped ``.npy`` files (store) or the arrays."""
        if not self.npy:
            return self.vols
        return [np.load(p, mmap_mode="r") for p in self.npy]


def _tmp() -> Path:
    tmp = tempfile.TemporaryDirectory(prefix="fastmed-bench-loader-")
    atexit.register(tmp.cleanup)
    return Path(tmp.name)


def noisy_volume(shape: tuple[int, int, int], number: int) -> npt.NDArray[np.int16]:
    """The bench CT volume plus seeded Gaussian noise of ``NOISE_HU`` HU (seed ``100 + number``)."""
    base = ct_volume.__wrapped__(shape)  # not kept in ct_volume's cache: the store source holds no array
    noise = np.random.default_rng(100 + number).standard_normal(base.shape, dtype=np.float32) * NOISE_HU
    return np.asarray(np.clip(base + noise, -1024, 3071).astype(np.int16))


def write_series(vol: npt.NDArray[np.int16], folder: Path, number: int) -> None:
    """Write ``(1, D, H, W)`` int16 HU as a DICOM CT series of ``D`` files (1 mm voxels, z ascending).

    The identifiers are generated placeholders (no patient data exists here).
    """
    from pydicom import uid
    from pydicom.dataset import Dataset as DicomDataset
    from pydicom.dataset import FileMetaDataset
    from pydicom.filewriter import dcmwrite

    folder.mkdir(parents=True, exist_ok=True)
    key = f"fastmed-bench-loader-{number}"
    study, series, frame = (uid.generate_uid(entropy_srcs=[key, part]) for part in ("study", "series", "frame"))
    _, depth, rows, cols = vol.shape
    for z in range(depth):
        sop = uid.generate_uid(entropy_srcs=[key, "sop", str(z)])
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = uid.CTImageStorage
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
        ds = DicomDataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = uid.CTImageStorage, sop
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "CT", 1, z + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.ImagePositionPatient = [0.0, 0.0, float(z)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing, ds.SliceThickness = [1.0, 1.0], 1.0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = rows, cols
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0.0, 1.0
        ds.PixelData = np.ascontiguousarray(vol[0, z], dtype="<i2").tobytes()
        dcmwrite(folder / f"IM_{z:04d}.dcm", ds, enforce_file_format=True)


def store_data(shape: tuple[int, int, int], count: int) -> LoaderData:
    """The store source (written on first use per shape and process; see the module doc)."""
    key = (tuple(shape), int(count))
    if key in _CACHE:
        return _CACHE[key]
    import dask
    from distributed import Client, LocalCluster

    from fastmed.dicom.index import index
    from fastmed.store import convert
    from fastmed.store.cluster import QUIET

    root = _tmp()
    npy = [root / f"volume_{i}.npy" for i in range(count)]
    for i in range(count):  # one volume in memory at a time
        vol = noisy_volume(shape, i)
        write_series(vol, root / "archive" / f"series_{i}", i)
        np.save(npy[i], vol)
        del vol
    man = index(root / "archive", cache=False)
    rows = {Path(r.paths[0]).parent.name: r for r in man.valid}
    ids = [rows[f"series_{i}"].series_id for i in range(count)]
    with (
        dask.config.set(QUIET),
        LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):  # in-process threads: no worker processes to spawn (scripts without a main guard work) or to outlive
        convert(man, root / "cache.zarr", scheduler=client, progress=False)
    shutil.rmtree(root / "archive", ignore_errors=True)  # the DICOM files served their purpose
    data = LoaderData(None, "store", root / "cache.zarr", ids, npy)
    _CACHE[key] = data
    return data


def loader_data(shape: tuple[int, int, int], count: int, source: str) -> LoaderData:
    """The suite's data for ``source`` (``"memory"`` or ``"store"``)."""
    if source not in SOURCES:
        raise ValueError(f"unknown loader source {source!r}; known: {SOURCES}")
    if source == "store":
        return store_data(shape, count)
    base = ct_volume(shape)
    return LoaderData([base] + [base.copy() for _ in range(count - 1)])
