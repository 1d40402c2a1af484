"""``decode_frames``: batch-decode compressed DICOM frames with nvImageCodec, output on the device.

Files are planned first (:mod:`.plan`), every nvImageCodec frame of the whole batch is
decoded in one call per colour request, and each file is then assembled with the CPU
path's own post-processing (:mod:`fastmed.dicom._process`), so the result equals
``read_pixels`` (and pydicom's ``pixel_array``). Files the GPU cannot decode exactly go
whole to the CPU path, with the reason recorded in :class:`DecodeResult.routes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fastmed.dicom import _process
from fastmed.dicom._pixel_options import pixel_dtype
from fastmed.dicom._source import Source
from fastmed.dicom.gpu_decode import routes as _routes
from fastmed.dicom.gpu_decode.backend import cuda_available, decode_many, get_decoder, nvimgcodec_available
from fastmed.dicom.gpu_decode.plan import FilePlan, load, plan_file
from fastmed.dicom.header import DicomHeader
from fastmed.dicom.pixels import decode_header_pixels

Input = Source | DicomHeader
_DEVICES = ("auto", "cuda", "cpu")
_OUTS = ("cupy", "torch", "numpy")


@dataclass(frozen=True)
class DecodeResult:
    """Arrays plus how each was decoded.

    Attributes
    ----------
    arrays
        One array per input, in order, shaped and typed as ``read_pixels`` returns it.
    routes
        One :class:`~fastmed.dicom.gpu_decode.routes.Route` per input.
    device
        ``"cuda"`` or ``"cpu"``: where nvImageCodec ran.
    """

    arrays: list[Any]
    routes: list[_routes.Route]
    device: str

    @property
    def fallbacks(self) -> dict[int, _routes.Route]:
        """Inputs decoded by the CPU path, by position."""
        return {i: r for i, r in enumerate(self.routes) if r.fallback}


def _resolve(device: str, out: str | None) -> tuple[str, str]:
    if device not in _DEVICES:
        raise ValueError(f"device must be one of {_DEVICES}, got {device!r}")
    if device == "auto":
        device = "cuda" if nvimgcodec_available() and cuda_available() else "cpu"
    if out is None:
        out = "cupy" if device == "cuda" else "numpy"
    if out not in _OUTS:
        raise ValueError(f"out must be one of {_OUTS}, got {out!r}")
    if device == "cpu" and out == "cupy":
        raise ValueError("out='cupy' needs device='cuda'")
    return device, out


def _to_array(img: Any, device: str) -> Any:
    """An nvImageCodec Image as a C-contiguous numpy (host) or CuPy (device) array."""
    if device == "cuda":
        import cupy

        if getattr(img, "device_id", None) is None:  # a CPU codec decoded it: host buffer
            return cupy.asarray(np.ascontiguousarray(np.asarray(img)))
        return cupy.ascontiguousarray(cupy.asarray(img))
    return np.ascontiguousarray(np.asarray(img))


def _assemble(plan: FilePlan, images: list[Any], device: str) -> tuple[Any | None, str, str]:
    """Frames -> the array ``read_pixels`` returns; ``(None, code, detail)`` when a frame is unusable."""
    opts = plan.opts
    rows, cols, spp = opts["rows"], opts["columns"], opts["samples_per_pixel"]
    out_dtype = pixel_dtype(opts, True)
    parts = []
    for i, (img, fopts) in enumerate(zip(images, plan.frame_opts, strict=True)):
        if img is None:
            return None, "refused", f"frame {i}"
        arr = _to_array(img, device)
        dt = pixel_dtype(fopts, True)
        if arr.size != rows * cols * spp or arr.dtype.itemsize != dt.itemsize:
            return None, "layout", f"frame {i}: {tuple(arr.shape)} {arr.dtype}"
        # Same values as the CPU path: the codec's bytes read as the frame's dtype, then
        # cast (C-style, as a numpy slice assignment) into the dataset's dtype.
        parts.append(arr.reshape(-1).view(dt).astype(out_dtype, copy=False))
    xp: Any = np
    if device == "cuda":
        import cupy

        xp = cupy
    flat = parts[0] if len(parts) == 1 else xp.concatenate(parts)
    final = dict(plan.frame_opts[-1])
    final["bits_allocated"] = opts["bits_allocated"]
    arr = _process.reshape(flat, final)
    arr = _process.correct(arr, final)
    if final["photometric_interpretation"] in ("YBR_FULL", "YBR_FULL_422"):
        # pydicom's own YBR -> RGB (float, then rounding) is the oracle: run it on the host.
        host = arr if device == "cpu" else xp.asnumpy(arr)
        host = _process.to_rgb(np.ascontiguousarray(host), final)
        arr = host if device == "cpu" else xp.asarray(host)
    return arr, "", ""


def _finish(arr: Any, device: str, out: str) -> Any:
    """Move/convert one result to the requested container."""
    on_host = isinstance(arr, np.ndarray)
    if out == "numpy":
        if on_host:
            return arr
        import cupy

        return cupy.asnumpy(arr)
    if out == "torch":
        import torch

        if device == "cpu":
            return torch.from_numpy(np.ascontiguousarray(arr))
        return torch.from_dlpack(_finish(arr, device, "cupy"))
    import cupy

    if on_host:
        # CuPy holds native byte order only (big endian files decode to '>' dtypes).
        return cupy.asarray(arr.astype(arr.dtype.newbyteorder("="), copy=False))
    return arr


def decode_batch(
    srcs: Sequence[Input],
    *,
    device: str = "auto",
    out: str | None = None,
    exact: bool = True,
    threads: int | None = None,
    device_id: int = 0,
) -> DecodeResult:
    """Decode many DICOM files, compressed frames batched through nvImageCodec.

    Parameters
    ----------
    srcs
        Paths, ``bytes``, or headers from :func:`fastmed.dicom.read_header`.
    device
        ``"cuda"`` (nvJPEG, nvJPEG2000; output stays on the GPU), ``"cpu"`` (nvImageCodec's
        CPU-only backends; for machines without a GPU and for tests) or ``"auto"``.
    out
        ``"cupy"`` (default on CUDA), ``"torch"`` (CUDA tensors via DLPack, or CPU tensors)
        or ``"numpy"`` (default on CPU).
    exact
        Keep results bit-identical to pydicom: lossy codestreams whose decode differs
        between libraries (DCT JPEG; 9/7 JPEG 2000 on the GPU) go to the CPU path. With
        ``False`` they are decoded by nvImageCodec and may differ by a few grey levels.
    threads
        nvImageCodec CPU threads (``None``: one per core).
    device_id
        CUDA device for ``device="cuda"``.

    Returns
    -------
    DecodeResult
        Arrays in input order and the route of each (fallback reasons included).

    Raises
    ------
    DicomError
        An invalid file, exactly as :func:`fastmed.dicom.read_pixels` raises it.
    """
    device, out = _resolve(device, out)
    kind = "gpu" if device == "cuda" else "cpu"
    have_nv = nvimgcodec_available()
    plans: list[FilePlan] = []
    for src in srcs:
        if have_nv:
            plans.append(plan_file(src, backend=kind, exact=exact))
        else:
            path, h, buf = load(src)
            plans.append(FilePlan(path=path, header=h, buffer=buf, route=_routes.fallback("no-nvimgcodec")))

    # One nvImageCodec call per colour request over every frame of the batch.
    decoded: dict[int, list[Any]] = {}
    by_colour: dict[str, list[tuple[int, int]]] = {}
    for fi, plan in enumerate(plans):
        if not plan.route.fallback:
            decoded[fi] = [None] * len(plan.frames)
            by_colour.setdefault(plan.colour, []).extend((fi, k) for k in range(len(plan.frames)))
    if by_colour:
        decoder = get_decoder(kind, device_id, threads)
        for colour, refs in by_colour.items():
            images = decode_many(decoder, [plans[fi].frames[k] for fi, k in refs], colour)
            for (fi, k), img in zip(refs, images, strict=True):
                decoded[fi][k] = img

    arrays: list[Any] = []
    final_routes: list[_routes.Route] = []
    for fi, plan in enumerate(plans):
        arr = None
        route = plan.route
        if not route.fallback:
            arr, code, detail = _assemble(plan, decoded[fi], device)
            if arr is None:
                route = _routes.fallback(code, detail)
        if arr is None:
            arr = decode_header_pixels(plan.header, plan.buffer, plan.path, threads)
        arrays.append(_finish(arr, device, out))
        final_routes.append(route)
    return DecodeResult(arrays=arrays, routes=final_routes, device=device)


def decode_frames(
    srcs: Sequence[Input],
    *,
    device: str = "auto",
    out: str | None = None,
    exact: bool = True,
    threads: int | None = None,
    device_id: int = 0,
) -> list[Any]:
    """Decode DICOM files' pixels, compressed frames batched on the GPU.

    Same arguments as :func:`decode_batch`; returns only the arrays (one per input, as
    ``read_pixels`` shapes them: ``(rows, cols[, 3])`` or ``(frames, rows, cols[, 3])``).
    """
    return decode_batch(srcs, device=device, out=out, exact=exact, threads=threads, device_id=device_id).arrays
