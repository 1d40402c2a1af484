"""Store patch reads: one random R3D patch (read + augment) from the store and from the peers' formats.

One unit of work = one float32 R3D patch (crop, flip, rotation ±15°, scale 0.85–1.15, elastic,
window, gamma, noise: fastmed's ``Compose`` of the r3d suite, the same for every row) at a fresh
random position, from the CT series of a synthetic archive (realistic noise, so compression
ratios are not flattered). Rows differ only in where the voxels come from; the same call index
gives the same patch on every row (same seed, ``index = call number``):

- ``store``: ``fm.VolumeDataset(store)`` image handle (a ``LazyVolume``) handed to the
  pipeline as it is, the way a user's dataset item is: ``Compose`` computes the plan's source
  bbox (``fastmed.transforms.footprint``) and its exact footprint (the rotated, elastic-widened
  patch: ``SamplePlan.source_footprint``), and reads the bbox window with
  ``StoreVolume.read_window(touches=footprint)``: only the chunks, and z-slabs of chunks, that
  the footprint meets (of those only the blosc blocks holding the slabs, crc32c checked, decoded
  on the native pool; the rest of the window is never sampled), then runs the plan on the
  window. Spacing (1, 1, 1) as on every other row (arrays carry none), so that the elastic and
  affine parameters in mm are the same. Output equals the in-memory row's (a test checks it to 1e-4).
- ``in-memory``: the pipeline on the decoded array (the floor).
- ``memmap``: the pipeline on ``np.memmap`` of the raw array (the kernel touches only the pages
  of the footprint).
- ``dicom``: ``fm.read_series`` of the series every call, then the pipeline.
- ``nifti``: ``nibabel.load`` of an uncompressed ``.nii`` every call, footprint box (:func:`footprint`:
  the 8 corners of the output patch through the fused affine, widened by the largest elastic
  displacement and one voxel for trilinear reads, joined with the crop box) sliced from
  its array proxy (reads only those bytes), then the pipeline on the window;
  ``nifti-gz``: the same from ``.nii.gz`` (gzip is not seekable: decompresses up to the box).
- ``monai-persistent``: MONAI ``PersistentDataset`` (``LoadImaged`` + ``EnsureChannelFirstd``
  cached as a ``.pt`` file) item every call (whole volume), then the pipeline.
- ``blosc2-nnunet``: nnU-Net v2 style ``.b2nd`` file (blosc2 NDArray, zstd clevel 8, chunks of
  the patch size), opened every call, footprint box sliced (decodes the overlapping chunks),
  then the pipeline on the window.

The case name carries the compression ratios (raw bytes / bytes on disk) of the store and the
blosc2 file. Sizes follow the store suite's archive (``tiny`` 24×64×64 with a 32³ patch,
``small`` 64×256×256 / 64³, ``full`` 320×512×512 / 128³).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from fastmed.bench.harness import Case, Impl
from fastmed.bench.peers.spec import AugSpec
from fastmed.bench.peers.threads import pin_threads
from fastmed.bench.registry import register_suite

PATCH = {"tiny": 32, "small": 64, "full": 128}
_DATA: dict[str, Any] = {}


def _spec(size: str) -> AugSpec:
    from fastmed.bench.suites.augment_r3d import spec_for

    _, spec = spec_for({"tiny": "tiny", "small": "small", "full": "full"}[size])
    return spec


def footprint(aug: Any, shape: Sequence[int], params: dict[str, Any]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The source box ``[lo, hi)`` (inside ``shape``) that the patch of ``params`` can read, crop box included.

    Exact for fastmed's spatial map: the affine part is linear (its extremes are at the output
    corners), the elastic displacement is a cubic B-spline of its control values (bounded by
    their largest magnitude), and trilinear sampling reads ``floor(c)`` and ``floor(c) + 1``.
    """
    probe = {"image": np.broadcast_to(np.zeros((), np.int16), (1, *shape))}  # shape only, no memory
    plan = aug.compile(probe, params)
    sp = plan.spatial
    d = len(shape)
    out = sp.out_shape[-d:]
    corners = np.array(list(itertools.product(*[(0, n - 1) for n in out])), dtype=np.float64)
    full = np.zeros((len(corners), 4))
    full[:, 3 - d : 3] = corners
    full[:, 3] = 1.0
    src = (sp.matrix @ full.T).T[:, 3 - d : 3]
    margin = np.zeros(d)
    if sp.grid is not None:
        margin = np.abs(np.asarray(sp.grid, dtype=np.float64)).reshape(3, -1).max(axis=1)[3 - d :]
    lo = np.floor(src.min(axis=0) - margin).astype(int)
    hi = np.floor(src.max(axis=0) + margin).astype(int) + 2
    start = np.asarray(_crop(params)["start"], dtype=int)
    size = np.asarray(_crop_size(aug), dtype=int)
    lo = np.minimum(lo, start)
    hi = np.maximum(hi, start + size)
    lo = np.clip(lo, 0, shape)
    hi = np.clip(hi, lo, shape)
    return tuple(int(v) for v in lo), tuple(int(v) for v in hi)


def _crop(params: dict[str, Any]) -> dict[str, Any]:
    for entry in params["ops"]:
        if entry["op"] == "RandomCrop":
            p: dict[str, Any] = entry["params"]
            return p
    raise ValueError("the pipeline has no RandomCrop")


def _crop_size(aug: Any) -> tuple[int, ...]:
    from fastmed.transforms import RandomCrop

    return next(tuple(op.size) for op in aug.ops if isinstance(op, RandomCrop))


def windowed(
    aug: Any, shape: Sequence[int], read: Callable[[tuple[int, ...], tuple[int, ...]], npt.NDArray[Any]]
) -> Callable[[int, int], npt.NDArray[np.float32]]:
    """``call(seed, index)``: draw the params, read only the footprint window, run the pipeline on it.

    Uses ``Compose``'s own draw and run steps (what ``__call__`` does) with the crop start moved
    by the window origin; ``replay`` would give the same patch but re-validate every field.
    """

    def call(seed: int, index: int) -> npt.NDArray[np.float32]:
        probe = {"image": np.broadcast_to(np.zeros((), np.int16), (1, *shape))}
        params = aug._draw(probe, seed, index, 0)
        lo, hi = footprint(aug, shape, params)
        win = np.ascontiguousarray(read(lo, hi))[None]
        ops = list(params["ops"])
        k = next(i for i, e in enumerate(ops) if e["op"] == "RandomCrop")
        start = [int(s) - int(a) for s, a in zip(ops[k]["params"]["start"], lo, strict=True)]
        ops[k] = {**ops[k], "params": {**ops[k]["params"], "start": start}}
        out: npt.NDArray[np.float32] = aug._run({"image": win}, {**params, "ops": ops})["image"]
        return out

    return call


def _ensure_data(size: str) -> dict[str, Any]:
    """The CT series of a one-study archive in every format (written once per size)."""
    if size in _DATA:
        return _DATA[size]
    import fastmed as fm
    from fastmed.bench.suites.store import SHAPES, _cluster, _tmp
    from fastmed.synth import generate_archive

    root = _tmp() / f"read-{size}"
    generate_archive(root / "archive", studies=1, seed=3, shape=SHAPES[size], transfer_syntaxes=["explicit"])
    man = fm.index(root / "archive", cache=False)
    row = next(r for r in man.valid if r.modality == "CT" and r.shape[0] > 1)
    vol = fm.read_series(row.paths, series=row.series_id).array
    store = root / "cache.zarr"
    from fastmed.store import convert

    convert(man, store, scheduler=_cluster(1), progress=False)
    d: dict[str, Any] = {"row": row, "vol": vol, "store": store, "root": root}
    raw = root / "raw.bin"
    vol.tofile(raw)
    d["raw"] = raw
    stored = sum(f.stat().st_size for f in (store / row.series_id / "image").rglob("*") if f.is_file())
    d["store_ratio"] = vol.nbytes / stored
    _DATA[size] = d
    return d


def _nifti(d: dict[str, Any], gz: bool) -> Path:
    key = "nii.gz" if gz else "nii"
    if key not in d:
        import nibabel as nib

        path = d["root"] / f"ct.{key}"
        nib.save(nib.Nifti1Image(d["vol"], np.eye(4)), str(path))
        d[key] = path
    return Path(d[key])


def _blosc2(d: dict[str, Any], patch: int) -> Path:
    if "b2nd" not in d:
        import blosc2

        path = d["root"] / "ct.b2nd"
        chunks = tuple(min(patch, n) for n in d["vol"].shape)
        blocks = tuple(max(1, min(c, 32)) for c in chunks)
        cparams = {"codec": blosc2.Codec.ZSTD, "clevel": 8}
        blosc2.asarray(d["vol"], urlpath=str(path), mode="w", chunks=chunks, blocks=blocks, cparams=cparams)
        d["b2nd"] = path
        d["b2_ratio"] = d["vol"].nbytes / path.stat().st_size
    return Path(d["b2nd"])


def _monai(d: dict[str, Any]) -> Any:
    if "monai" not in d:
        from monai.data import PersistentDataset
        from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged

        tf = Compose([LoadImaged(keys="image", dtype=np.int16, image_only=True), EnsureChannelFirstd(keys="image")])
        cache = d["root"] / "monai-cache"
        d["monai"] = PersistentDataset([{"image": str(_nifti(d, gz=True))}], transform=tf, cache_dir=str(cache))
        d["monai"][0]  # fills the cache
    return d["monai"]


def _impls(size: str, threads: int) -> tuple[list[Impl], dict[str, str]]:
    from fastmed.bench.peers.fastmed_aug import build
    from fastmed.store.dataset import VolumeDataset

    d = _ensure_data(size)
    spec = _spec(size)
    aug = build(spec)
    shape = tuple(d["vol"].shape)
    vol4 = d["vol"][None]
    seed = 0

    def row(fn: Callable[[int], Any]) -> Callable[[], Any]:
        counter = itertools.count()

        def call() -> Any:
            pin_threads(threads)
            return fn(next(counter))

        return call

    ds = VolumeDataset(d["store"], threads=threads)
    handle = ds[ds.ids.index(d["row"].series_id)]["image"]
    ones = (1.0,) * len(shape)  # every row's spacing (the in-memory arrays carry none): same mm parameters
    mm = np.memmap(d["raw"], dtype=d["vol"].dtype, mode="r", shape=(1, *shape))

    def from_dicom(i: int) -> Any:
        import fastmed as fm

        v = fm.read_series(d["row"].paths, series=d["row"].series_id, threads=threads).array
        return aug({"image": v[None]}, seed=seed, index=i)["image"]

    def from_store(i: int) -> Any:
        return aug({"image": handle, "spacing": ones}, seed=seed, index=i)["image"]

    impls = [
        Impl("store", row(from_store), is_fastmed=True),
        Impl("in-memory", row(lambda i: aug({"image": vol4}, seed=seed, index=i)["image"]), floor=True),
        Impl("memmap", row(lambda i: aug({"image": mm}, seed=seed, index=i)["image"])),
        Impl("dicom", row(from_dicom)),
    ]
    missing: dict[str, str] = {}
    try:
        import nibabel as nib

        def nifti_reader(path: Path) -> Callable[[int], Any]:
            def read(lo: tuple[int, ...], hi: tuple[int, ...]) -> Any:
                return nib.load(str(path)).dataobj[tuple(map(slice, lo, hi))]  # type: ignore[attr-defined]

            call = windowed(aug, shape, read)
            return lambda i: call(seed, i)

        for name, gz in (("nifti", False), ("nifti-gz", True)):
            impls.append(Impl(name, row(nifti_reader(_nifti(d, gz)))))
    except ImportError as exc:
        missing["nifti"] = f"nibabel not installed ({exc})"
    try:
        mds = _monai(d)
        impls.append(
            Impl(
                "monai-persistent",
                row(lambda i: aug({"image": np.asarray(mds[0]["image"])}, seed=seed, index=i)["image"]),
            )
        )
    except ImportError as exc:
        missing["monai-persistent"] = f"monai not installed ({exc})"
    try:
        import blosc2

        b2 = _blosc2(d, PATCH[size])

        def b2read(lo: tuple[int, ...], hi: tuple[int, ...]) -> Any:
            arr = blosc2.open(str(b2), mode="r", dparams={"nthreads": threads})
            return arr[tuple(map(slice, lo, hi))]

        reader = windowed(aug, shape, b2read)
        impls.append(Impl("blosc2-nnunet", row(lambda i: reader(seed, i))))
    except ImportError as exc:
        missing["blosc2-nnunet"] = f"blosc2 not installed ({exc})"
    return impls, missing


def read_cases(size: str, threads: Sequence[int]) -> list[Case]:
    """One patch-read Case per thread count (same data, same patches on every row)."""
    cases = []
    for t in threads:
        impls, missing = _impls(size, t)
        d = _DATA[size]
        ratios = f"store {d['store_ratio']:.2f}x" + (f", blosc2 {d['b2_ratio']:.2f}x" if "b2_ratio" in d else "")
        p = PATCH[size]
        cases.append(
            Case(f"r3d_{p} patch read+augment ({ratios} compression)", impls, 1, "patch", threads=t, missing=missing)
        )
    return cases


@register_suite("store-read")
def store_read_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """Store reads only: R3D patch read+augment from the store vs in-memory, memmap, DICOM, NIfTI, MONAI, blosc2."""
    if size not in PATCH:
        raise ValueError(f"unknown size {size!r}; known: {sorted(PATCH)}")
    return read_cases(size, threads)
