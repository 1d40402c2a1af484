"""nvImageCodec: availability, cached decoders, decode parameters, batched decode.

nvImageCodec and CuPy are imported lazily: fastmed imports without them, and the GPU path
then falls back to the CPU decoders with the reason ``no-nvimgcodec``.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from fastmed.dicom.gpu_decode.plan import RAW_YCC, TO_RGB

_LOCK = threading.Lock()
_DECODERS: dict[tuple[str, int, int], Any] = {}


@functools.lru_cache(maxsize=1)
def nvimgcodec_module() -> Any | None:
    """The ``nvidia.nvimgcodec`` module, or ``None`` when it cannot be imported."""
    try:
        from nvidia import nvimgcodec  # type: ignore[attr-defined]
    except (ImportError, OSError):
        return None
    return nvimgcodec


def nvimgcodec_available() -> bool:
    """Whether nvImageCodec can be imported."""
    return nvimgcodec_module() is not None


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether a CUDA device is usable through CuPy (driver present, one device or more)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:  # no cupy, no driver, no device: all mean "no GPU path"
        return False


def get_decoder(kind: str, device_id: int = 0, threads: int | None = None) -> Any:
    """A cached ``nvimgcodec.Decoder``.

    Parameters
    ----------
    kind
        ``"gpu"``: decoders on CUDA device `device_id` (nvImageCodec picks nvJPEG,
        nvJPEG2000, the hardware JPEG decoder or a CPU codec per image; output on the
        device). ``"cpu"``: the CPU-only backends (libjpeg-turbo, OpenCV/OpenJPEG), the only
        ones that work without a GPU.
    threads
        nvImageCodec's CPU thread count (``None``/0: one per core).
    """
    nv = nvimgcodec_module()
    if nv is None:
        raise ImportError("nvImageCodec is not installed (pip install nvidia-nvimgcodec-cu12)")
    key = (kind, device_id if kind == "gpu" else -1, int(threads or 0))
    with _LOCK:
        dec = _DECODERS.get(key)
        if dec is None:
            if kind == "cpu":
                dec = nv.Decoder(
                    device_id=nv.NVIMGCODEC_DEVICE_CPU_ONLY,
                    max_num_cpu_threads=key[2],
                    backends=[nv.Backend(nv.BackendKind.CPU_ONLY)],
                )
            else:
                dec = nv.Decoder(device_id=device_id, max_num_cpu_threads=key[2])
            _DECODERS[key] = dec
    return dec


def decode_params(colour: str) -> Any:
    """DecodeParams for a colour request.

    Native depth, no EXIF rotation, and no colour conversion unless asked: pydicom
    converts YCbCr itself.
    """
    nv = nvimgcodec_module()
    assert nv is not None
    if colour == TO_RGB:
        spec, fmt = nv.ColorSpec.SRGB, nv.SampleFormat.I_RGB
    elif colour == RAW_YCC:
        spec, fmt = nv.ColorSpec.SYCC, nv.SampleFormat.I_YCC
    else:
        spec, fmt = nv.ColorSpec.UNCHANGED, nv.SampleFormat.I_UNCHANGED
    return nv.DecodeParams(apply_exif_orientation=False, allow_any_depth=True, color_spec=spec, sample_format=fmt)


def decode_many(decoder: Any, frames: list[Any], colour: str) -> list[Any | None]:
    """Decode a batch; ``None`` where nvImageCodec could not decode a frame.

    A batch call that raises is retried frame by frame, so one bad frame costs only itself.
    """
    nv = nvimgcodec_module()
    assert nv is not None
    params = decode_params(colour)
    streams = [nv.CodeStream(f) for f in frames]
    with _LOCK:
        try:
            return list(decoder.decode(streams, params=params))
        except Exception:  # nvImageCodec raises RuntimeError/ValueError; retried one by one below
            pass
        out: list[Any | None] = []
        for s in streams:
            try:
                out.append(decoder.decode(s, params=params))
            except Exception:  # the frame is then refused and decoded on the CPU
                out.append(None)
        return out
