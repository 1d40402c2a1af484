"""The nvJPEG library version, for the 9-16-bit lossless JPEG rule.

nvJPEG older than 13.0.2 mis-decodes JPEG lossless (process 14) frames of more than 8 bits,
so those frames go to the CPU path unless the nvJPEG that nvImageCodec loads is known to be
fixed. nvImageCodec does not report the nvJPEG version, so the library is asked directly
(``nvjpegGetProperty`` needs no GPU): the copy already mapped into this process when
there is one, else the one the ``nvidia-nvjpeg-cu*`` wheels or the system provide.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

FIXED_LOSSLESS_VERSION = (13, 0, 2)
"""First nvJPEG release that decodes 9-16-bit lossless JPEG correctly."""

_NAMES = ("libnvjpeg.so.13", "libnvjpeg.so.12", "libnvjpeg.so")


def _mapped() -> list[str]:
    """Paths of every libnvjpeg already loaded in this process (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libnvjpeg.so" in line and "/" in line}
    except OSError:
        return []
    return sorted(paths)


def _wheel_paths() -> list[str]:
    spec = importlib.util.find_spec("nvidia.nvjpeg") if importlib.util.find_spec("nvidia") else None
    out = []
    for root in list(spec.submodule_search_locations or []) if spec else []:
        lib = os.path.join(root, "lib")
        out += [os.path.join(lib, n) for n in _NAMES if os.path.exists(os.path.join(lib, n))]
    return out


def _query(path: str) -> tuple[int, int, int] | None:
    try:
        lib = ctypes.CDLL(path)
        get = lib.nvjpegGetProperty
    except (OSError, AttributeError):
        return None
    parts = []
    for prop in range(3):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        value = ctypes.c_int(0)
        if get(prop, ctypes.byref(value)) != 0:
            return None
        parts.append(int(value.value))
    return parts[0], parts[1], parts[2]


@functools.lru_cache(maxsize=1)
def nvjpeg_version() -> tuple[int, int, int] | None:
    """Return nvJPEG's ``(major, minor, patch)``, or ``None`` when no nvJPEG can be found."""
    for path in [*_mapped(), *_wheel_paths(), *_NAMES]:
        found = _query(path)
        if found is not None:
            return found
    return None


def lossless_high_bit_ok(version: tuple[int, int, int] | None) -> bool:
    """Whether nvJPEG `version` decodes 9-16-bit lossless JPEG correctly (unknown: no)."""
    return version is not None and version >= FIXED_LOSSLESS_VERSION
