"""xray2d: one augmented 2D patch from a uint16 X-ray, fastmed vs torchvision v2 and MONAI.

One unit of work = one float32 patch: random location, random flip per axis, rotation
±10°, scale 0.9–1.1, window (0, 4095) → [0, 1], gamma 0.7–1.5, gaussian noise. Same
cached image object for every row; each call is a fresh random patch. Rows:

- ``fastmed``: the fused engine (``fastmed.bench.peers.fastmed_aug``).
- ``monai`` / ``monai-lazy``: ``RandAffine(spatial_size=patch)``; lazy crop+flip+affine
  (``fastmed.bench.peers.monai_2d``).
- ``torchvision``: ``transforms.v2`` (``fastmed.bench.peers.torchvision_2d``).
- ``floor-gather``: bare bilinear gather in numba, a lower bound.

Sizes: ``full`` = 2048² image, 512² patch; ``small`` = 1024², 256²; ``tiny`` = 256², 64².
"""

from __future__ import annotations

from dataclasses import replace

from fastmed.bench.data import xray_image
from fastmed.bench.harness import Case
from fastmed.bench.peers.spec import XRAY2D, AugSpec
from fastmed.bench.registry import register_suite
from fastmed.bench.suites._augment import Entry, build_cases

SIZES: dict[str, tuple[tuple[int, int], int]] = {
    "full": ((2048, 2048), 512),
    "small": ((1024, 1024), 256),
    "tiny": ((256, 256), 64),
}

_P = "fastmed.bench.peers."
ENTRIES = (
    Entry("fastmed", _P + "fastmed_aug:make", is_fastmed=True, probe=True),
    Entry("torchvision", _P + "torchvision_2d:make"),
    Entry("monai", _P + "monai_2d:make_eager"),
    Entry("monai-lazy", _P + "monai_2d:make_lazy"),
    Entry("floor-gather", _P + "floor_gather:make", floor=True),
)


def spec_for(size: str) -> tuple[tuple[int, int], AugSpec]:
    """Image shape and pipeline spec of a size preset."""
    try:
        shape, p = SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; known: {sorted(SIZES)}") from None
    return shape, replace(XRAY2D, patch=(p, p))


@register_suite("xray2d")
def xray2d_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """xray2d: random flip/affine/intensity 2D patch from a uint16 X-ray (vs torchvision v2, MONAI)."""
    shape, spec = spec_for(size)
    img = xray_image(shape)
    return build_cases(f"xray2d_{spec.patch[0]}", img, spec, ENTRIES, threads)
