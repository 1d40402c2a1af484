"""DALI: the codestreams fastmed's parser cuts out, fed to ``fn.decoders.image``.

:func:`dali_feed` plans the files as :func:`~fastmed.dicom.gpu_decode.decode_frames` does
(same fallback rules for the decoder kind) and keeps the frames one DALI decoder op can
give exactly: one output dtype and one colour layout per op, unsigned samples (DALI
rescales into the dtype's range otherwise). :func:`build_dali_pipeline` feeds them
through ``fn.external_source`` to ``fn.decoders.image(device="mixed")`` on a GPU, or
``device="cpu"`` without one. Its outputs are HWC frames in feed order (``feed.refs``
maps them back to (input, frame)); they equal pydicom's frames for unsigned greyscale and
RGB data (pydicom's sign and YBR post-processing is not applied inside the pipeline).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastmed.dicom.gpu_decode import routes
from fastmed.dicom.gpu_decode.decode import Input
from fastmed.dicom.gpu_decode.plan import AS_STORED, TO_RGB, FilePlan, plan_file
from fastmed.dicom.transfer_syntax import FAMILIES


@functools.lru_cache(maxsize=1)
def dali_available() -> bool:
    """Whether NVIDIA DALI can be imported."""
    try:
        import nvidia.dali  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


@dataclass
class DaliFeed:
    """Codestreams for one DALI decoder op.

    Attributes
    ----------
    codestreams
        One uint8 array per frame.
    refs
        ``(input index, frame index)`` of every codestream.
    samples_per_pixel, bits
        The decoded layout: 1 (GRAY) or 3 (RGB) samples, 8- or 16-bit containers.
    plans
        The plan of every input.
    fallbacks
        Inputs left out, by position, with their reason (decode them with the CPU path).
    """

    codestreams: list[np.ndarray] = field(default_factory=list)
    refs: list[tuple[int, int]] = field(default_factory=list)
    samples_per_pixel: int = 1
    bits: int = 8
    plans: list[FilePlan] = field(default_factory=list)
    fallbacks: dict[int, routes.Route] = field(default_factory=dict)

    def batches(self, batch_size: int) -> list[list[np.ndarray]]:
        """The codestreams cut into batches of at most `batch_size` (the last may be short)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return [self.codestreams[i : i + batch_size] for i in range(0, len(self.codestreams), batch_size)]


def _layout(plan: FilePlan) -> tuple[int, int, bool]:
    """(samples, container bits, signed) of a planned file's decoded frames."""
    fopts = plan.frame_opts[0]
    spp = int(fopts["samples_per_pixel"])
    if plan.opts["transfer_syntax_uid"] in FAMILIES["j2k"]:
        return spp, int(fopts["bits_allocated"]), bool(fopts.get("j2k_is_signed", 0))
    return spp, 8 if int(plan.opts["bits_stored"]) <= 8 else 16, False


def dali_feed(srcs: Sequence[Input], *, device: str = "mixed", exact: bool = True) -> DaliFeed:
    """Plan `srcs` for a DALI decoder and collect the codestreams it can decode exactly.

    Parameters
    ----------
    srcs
        Paths, bytes or headers.
    device
        The ``fn.decoders.image`` backend the feed is for: ``"mixed"`` (GPU) or ``"cpu"``.
    exact
        As for :func:`~fastmed.dicom.gpu_decode.decode_frames`.

    Returns
    -------
    DaliFeed
        The layout (samples, bits) is that of the first eligible input; inputs with
        another layout are left out as ``layout-mismatch``.
    """
    if device not in ("mixed", "cpu"):
        raise ValueError(f"device must be 'mixed' or 'cpu', got {device!r}")
    kind = "gpu" if device == "mixed" else "cpu"
    feed = DaliFeed()
    layout: tuple[int, int] | None = None
    for i, src in enumerate(srcs):
        plan = plan_file(src, backend=kind, exact=exact)
        feed.plans.append(plan)
        if plan.route.fallback:
            feed.fallbacks[i] = plan.route
            continue
        if plan.colour not in (AS_STORED, TO_RGB):
            feed.fallbacks[i] = routes.fallback("colour", "DALI has no raw-YCbCr output")
            continue
        spp, bits, signed = _layout(plan)
        if signed:
            feed.fallbacks[i] = routes.fallback("layout-mismatch", "signed samples")
            continue
        if layout is None:
            layout = (spp, bits)
        if (spp, bits) != layout:
            feed.fallbacks[i] = routes.fallback("layout-mismatch", f"{spp} samples, {bits}-bit")
            continue
        for k, frame in enumerate(plan.frames):
            feed.codestreams.append(frame)
            feed.refs.append((i, k))
    if layout is not None:
        feed.samples_per_pixel, feed.bits = layout
    return feed


def build_dali_pipeline(
    feed: DaliFeed,
    *,
    batch_size: int,
    device: str = "mixed",
    num_threads: int = 2,
    device_id: int | None = None,
    prefetch_queue_depth: int = 2,
) -> Any:
    """A built DALI pipeline decoding `feed`'s codestreams, one batch per ``run()``.

    Parameters
    ----------
    feed
        From :func:`dali_feed` (with the same `device`).
    batch_size
        Frames per batch; the feed is cycled, the last batch of a pass may be short.
    device
        ``"mixed"`` (nvJPEG / nvJPEG2000, output on the GPU) or ``"cpu"``.
    device_id
        CUDA device (default 0 for ``"mixed"``; ``None``, no GPU, for ``"cpu"``).

    Returns
    -------
    nvidia.dali.Pipeline
        Output 0: decoded frames, HWC, uint8 or uint16 as ``feed.bits``.
    """
    from nvidia.dali import fn, pipeline_def, types

    if not feed.codestreams:
        raise ValueError("the DALI feed holds no codestreams (every input fell back)")
    if device not in ("mixed", "cpu"):
        raise ValueError(f"device must be 'mixed' or 'cpu', got {device!r}")
    if device_id is None and device == "mixed":
        device_id = 0
    batches = feed.batches(batch_size)
    # ANY_DATA would keep the stored components, but DALI's CPU JPEG path crashes on it
    # (DALI 2.4); GRAY / RGB are exact for greyscale and RGB codestreams.
    output_type = types.DALIImageType.GRAY if feed.samples_per_pixel == 1 else types.DALIImageType.RGB
    dtype = types.DALIDataType.UINT8 if feed.bits == 8 else types.DALIDataType.UINT16
    # DALI's own default for "no GPU" is device_id=None, which its stubs do not admit.
    dev: Any = device_id

    @pipeline_def(
        batch_size=batch_size,
        num_threads=num_threads,
        device_id=dev,
        prefetch_queue_depth=prefetch_queue_depth,
    )
    def _pipe() -> Any:
        streams = fn.external_source(source=batches, cycle="quiet", dtype=types.DALIDataType.UINT8, name="codestreams")
        return fn.decoders.image(streams, device=device, output_type=output_type, dtype=dtype)

    pipe = _pipe()
    pipe.build()
    return pipe
