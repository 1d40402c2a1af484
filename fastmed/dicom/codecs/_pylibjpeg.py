"""The pylibjpeg plugins (libjpeg, openjpeg, rle), called exactly as pydicom calls them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastmed.dicom.transfer_syntax import FAMILIES


@lru_cache(maxsize=1)
def _decoders() -> dict[str, Any]:
    try:
        from pylibjpeg.utils import get_pixel_data_decoders
    except ImportError:
        return {}
    return dict(get_pixel_data_decoders(version=2))


def available(ts: str) -> bool:
    """Whether a pylibjpeg plugin for `ts` is installed."""
    return bool(_decoders().get(ts))


def _container_bits(precision: int) -> int | None:
    if 0 < precision <= 8:
        return 8
    if 8 < precision <= 16:
        return 16
    if 16 < precision <= 32:
        return 32
    return None


def decode(src: bytes, opts: dict[str, Any]) -> bytes | bytearray:
    """Decode one frame; updates `opts` as pydicom's pylibjpeg plugin updates its runner."""
    ts = opts["transfer_syntax_uid"]
    plugins = _decoders()[ts]
    func = plugins[sorted(plugins)[0]]
    frame: bytes | bytearray = func(src, version=2, **opts)
    if ts in FAMILIES["rle"]:
        opts["planar_configuration"] = 1  # pylibjpeg-rle gives planar output
    elif ts in FAMILIES["j2k"]:
        if opts.get("photometric_interpretation") in ("YBR_ICT", "YBR_RCT"):
            opts["photometric_interpretation"] = "RGB"  # openjpeg applies the inverse transform
        bits = _container_bits(int(opts.get("j2k_precision", opts["bits_stored"])))
        if bits:
            opts["bits_allocated"] = bits
    elif ts in FAMILIES["jpegls"]:
        opts["planar_configuration"] = 0
        bits = _container_bits(int(opts.get("jls_precision", opts["bits_stored"])))
        if bits and bits <= 16:
            opts["bits_allocated"] = bits
    return frame
