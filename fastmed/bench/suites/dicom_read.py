"""DICOM in: archive indexing and series loading per transfer syntax, against pydicom and SimpleITK.

Cases (all on one synthetic archive written once per run, same files for every implementation):

- ``index``: fastmed's ``index`` (walk, native header parse in threads, grouping and geometry
  checks, no cache) vs a ``pydicom.dcmread(stop_before_pixels=True, specific_tags=...)`` loop
  (reads only) over the DICOM files of a many-study archive (every transfer syntax).
- ``index_fresh``: the first index of a fresh tree, as a user meets it: before every call the
  archive is copied to a new temporary folder (untimed), so no re-index cache exists yet, and
  ``index`` runs with its cache on (written in the background once the manifest is built); vs
  the same pydicom loop, also over a fresh copy before every call (freshly written files read
  slower than settled ones, for every reader).
- ``series_<syntax>``: ``fastmed.read_series`` (sorted, validated, rescaled volume) vs a
  pydicom + pylibjpeg loop doing the same (read, ``pixel_array``, sort by position, stack,
  rescale), SimpleITK's ``ImageSeriesReader`` (GDCM), and the floor: the bare codec decoding
  the same frames (compressed syntaxes) or a raw ``np.frombuffer`` of the pixel bytes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from fastmed.bench.harness import Case, Impl
from fastmed.bench.registry import register_suite

SHAPES = {"tiny": (8, 64, 64), "small": (48, 256, 256), "full": (160, 512, 512)}
SYNTAXES = ("explicit", "deflated", "rle", "jpegls", "j2k", "htj2k")
HEADER_TAGS = [
    "SeriesInstanceUID",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "RescaleSlope",
    "RescaleIntercept",
    "InstanceNumber",
    "Modality",
]

_ARCHIVES: dict[tuple[str, str], Path] = {}
_TMP: list[tempfile.TemporaryDirectory[str]] = []


def _archive(size: str, syntax: str) -> Path:
    """One CT series in ``syntax``, generated once per process."""
    key = (size, syntax)
    if key not in _ARCHIVES:
        from fastmed.synth import generate_archive

        tmp = tempfile.TemporaryDirectory(prefix=f"fastmed-bench-{syntax}-")
        _TMP.append(tmp)
        generate_archive(tmp.name, studies=1, seed=1, shape=SHAPES[size], transfer_syntaxes=[syntax])
        _ARCHIVES[key] = Path(tmp.name)
    return _ARCHIVES[key]


INDEX_STUDIES = {"tiny": 6, "small": 30, "full": 60}  # synthetic studies in the index case's archive


def _index_archive(size: str) -> Path:
    """A many-series archive for the index case (synth's default slice shape, every transfer syntax).

    Headers are what the index reads, so the slice size does not matter; the number of files
    does (``small``: 30 studies, about 1000 DICOM files plus reports and label arrays).
    """
    key = (size, "index")
    if key not in _ARCHIVES:
        from fastmed.synth import generate_archive

        tmp = tempfile.TemporaryDirectory(prefix="fastmed-bench-index-")
        _TMP.append(tmp)
        generate_archive(tmp.name, studies=INDEX_STUDIES[size], seed=1)
        _ARCHIVES[key] = Path(tmp.name)
    return _ARCHIVES[key]


class _FreshTree:
    """A new copy of an archive before every call, with its own (not yet existing) index cache file."""

    def __init__(self, src: Path, threads: int) -> None:
        self.src = src
        self.threads = threads
        self.n = 0
        self.tmp = tempfile.TemporaryDirectory(prefix="fastmed-bench-fresh-")
        _TMP.append(self.tmp)
        self.root = Path(self.tmp.name)
        self.files = [str(p.relative_to(src)) for p in sorted(src.rglob("*.dcm"))]

    def prepare(self) -> None:
        """Copy the archive (untimed); the previous copy and its cache are removed."""
        import shutil

        from fastmed.dicom.index import wait_for_cache_writes

        wait_for_cache_writes()  # the previous copy's cache, before that copy is removed
        shutil.rmtree(self.root / str(self.n), ignore_errors=True)
        self.n += 1
        shutil.copytree(self.src, self.root / str(self.n) / "archive")
        # Settle the copy (a user's archive was written long before it is indexed): otherwise the
        # kernel writes the new files back while the timed call runs, on the same cores.
        os.sync()

    def run(self) -> Any:
        """Index the current copy (its cache file does not exist yet)."""
        from fastmed.dicom.index import index

        here = self.root / str(self.n)
        return index(here / "archive", threads=self.threads, cache=here / "index-cache.parquet")

    def pydicom_loop(self) -> None:
        """The peer on the same kind of tree: the header loop over the current copy's DICOM files."""
        import pydicom

        here = self.root / str(self.n) / "archive"
        for rel in self.files:
            pydicom.dcmread(here / rel, stop_before_pixels=True, specific_tags=HEADER_TAGS)


def _series_files(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*.dcm"))


def _axial_series(root: Path) -> Path:
    """The first (axial CT) series folder of a one-study archive."""
    return root / "study_000" / "series_000"


def _pydicom_series(files: list[str], threads: int) -> Callable[[], np.ndarray]:
    import pydicom

    def one(f: str) -> tuple[float, np.ndarray, float, float]:
        ds = pydicom.dcmread(f)
        z = float(ds.ImagePositionPatient[2])
        return z, ds.pixel_array, float(ds.get("RescaleSlope", 1)), float(ds.get("RescaleIntercept", 0))

    def run() -> np.ndarray:
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                got = list(pool.map(one, files))
        else:
            got = [one(f) for f in files]
        got.sort(key=lambda t: t[0])
        arr = np.stack([g[1] for g in got])
        return (arr.astype(np.float32) * got[0][2] + got[0][3]).astype(np.int16)

    return run


def _sitk_series(root: Path, threads: int) -> Callable[[], np.ndarray] | str:
    try:
        import SimpleITK as sitk
    except ImportError:
        return "not installed"
    folder = str(next(p.parent for p in root.rglob("*.dcm")))
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(folder)
    reader.SetFileNames(names)

    def run() -> np.ndarray:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
        return sitk.GetArrayFromImage(reader.Execute())

    try:
        run()
    except RuntimeError as exc:
        return f"cannot read this syntax ({str(exc).strip().splitlines()[-1][:80]})"
    return run


def _codec_floor(files: list[str], threads: int) -> Callable[[], Any]:
    """Decode the same frames with the bare codec (or view raw bytes), nothing else."""
    import pydicom
    from pydicom.encaps import generate_frames

    frames = []
    for f in files:
        ds = pydicom.dcmread(f)
        ts = ds.file_meta.TransferSyntaxUID
        if ts.is_compressed:
            frames.append((ts, next(generate_frames(ds.PixelData, number_of_frames=1)), ds))
        else:
            frames.append((ts, bytes(ds.PixelData), ds))

    def decode(item: tuple[Any, bytes, Any]) -> Any:
        ts, data, ds = item
        import imagecodecs

        if not ts.is_compressed:
            return np.frombuffer(data, dtype=np.int16 if ds.PixelRepresentation else np.uint16)
        name = ts.name.lower()
        if "rle" in name:
            return imagecodecs.dicomrle_decode(data, "<u2" if not ds.PixelRepresentation else "<i2")
        if "ls" in name:
            return imagecodecs.jpegls_decode(data)
        if "2000" in name or "htj2k" in name or "high-throughput" in name:
            return imagecodecs.jpeg2k_decode(data) if "2000" in name else imagecodecs.htj2k_decode(data)
        return imagecodecs.imread(data)

    def run() -> list[Any]:
        if threads > 1:
            with ThreadPoolExecutor(threads) as pool:
                return list(pool.map(decode, frames))
        return [decode(x) for x in frames]

    return run


@register_suite("dicom")
def dicom_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """Archive index and per-syntax series load: fastmed vs pydicom, SimpleITK and the bare codec."""
    import pydicom

    from fastmed.dicom.index import index
    from fastmed.dicom.series_assembly import read_series

    cases: list[Case] = []
    for t in threads:
        root = _index_archive(size)
        files = _series_files(root)  # the DICOM files; the index also walks past the non-DICOM ones

        def pydicom_headers(files: list[str] = files) -> None:
            for f in files:
                pydicom.dcmread(f, stop_before_pixels=True, specific_tags=HEADER_TAGS)

        cases.append(
            Case(
                "index",
                [
                    Impl("fastmed", partial(index, root, threads=t, cache=False), is_fastmed=True),
                    Impl("pydicom-loop", pydicom_headers),
                ],
                items=len(files),
                unit="file",
                threads=t,
            )
        )
        fresh = _FreshTree(root, t)
        cases.append(
            Case(
                "index_fresh",
                [
                    Impl("fastmed", fresh.run, is_fastmed=True, prepare=fresh.prepare),
                    Impl("pydicom-loop", fresh.pydicom_loop, prepare=fresh.prepare),
                ],
                items=len(files),
                unit="file",
                threads=t,
            )
        )
        for syntax in SYNTAXES:
            root = _axial_series(_archive(size, syntax))
            files = _series_files(root)
            impls = [
                Impl("fastmed", partial(read_series, root, threads=t), is_fastmed=True),
                Impl("pydicom+pylibjpeg", _pydicom_series(files, t)),
                Impl("bare-codec", _codec_floor(files, t), floor=True),
            ]
            missing: dict[str, str] = {}
            sitk = _sitk_series(root, t)
            if isinstance(sitk, str):
                missing["SimpleITK"] = sitk
            else:
                impls.append(Impl("SimpleITK", sitk))
            cases.append(Case(f"series_{syntax}", impls, items=len(files), unit="slice", threads=t, missing=missing))
    return cases
