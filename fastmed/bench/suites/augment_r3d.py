"""R3D: one augmented 3D patch from a CT-like int16 volume, fastmed vs MONAI, TorchIO, bgv2.

One unit of work = one float32 patch: random location, random flip per axis, rotation
±15° per axis, scale 0.85–1.15, elastic deformation, window (-1000, 400) → [0, 1], gamma
0.7–1.5, gaussian noise. Every implementation reads the same cached volume object in the
same process and returns a patch of the same size; each call is a fresh random patch.
Rows (details and deviations in each peer module's docstring):

- ``fastmed``: the fused engine (``fastmed.bench.peers.fastmed_aug``).
- ``monai`` / ``monai-lazy``: ``Rand3DElastic(spatial_size=patch)``; lazy crop+flip+affine
  then elastic on the patch (``fastmed.bench.peers.monai_r3d``).
- ``torchio`` / ``torchio-2pass``: ``UniformSampler`` patch, then flip,
  ``RandomAffineElasticDeformation`` (or affine and elastic as two resamples), intensity
  (``fastmed.bench.peers.torchio_r3d``).
- ``bgv2`` / ``bgv2-nnunet``: ``SpatialTransform`` on the whole volume (float copy per call)
  or on an nnU-Net-style enlarged int16 region (``fastmed.bench.peers.bgv2_r3d``).
- ``floor-gather``: bare trilinear gather of the rotated/scaled patch in numba
  (``fastmed.bench.peers.floor_gather``), a lower bound.

Sizes: ``full`` = 1×320×512×512 volume, 128³ patch (the issue's R3D); ``small`` =
1×160×256×256, 64³; ``tiny`` = 1×48×96×96, 32³ (tests). Elastic smoothness and magnitude
scale with the patch (8 voxels at 128³).
"""

from __future__ import annotations

from fastmed.bench.data import ct_volume
from fastmed.bench.harness import Case
from fastmed.bench.peers.spec import R3D, AugSpec
from fastmed.bench.registry import register_suite
from fastmed.bench.suites._augment import Entry, build_cases

SIZES: dict[str, tuple[tuple[int, int, int], int]] = {
    "full": ((320, 512, 512), 128),
    "small": ((160, 256, 256), 64),
    "tiny": ((48, 96, 96), 32),
}

_P = "fastmed.bench.peers."
ENTRIES = (
    Entry("fastmed", _P + "fastmed_aug:make", is_fastmed=True, probe=True),
    Entry("monai", _P + "monai_r3d:make_eager"),
    Entry("monai-lazy", _P + "monai_r3d:make_lazy"),
    Entry("torchio", _P + "torchio_r3d:make"),
    Entry("torchio-2pass", _P + "torchio_r3d:make_separate"),
    Entry("bgv2", _P + "bgv2_r3d:make"),
    Entry("bgv2-nnunet", _P + "bgv2_r3d:make_nnunet"),
    Entry("floor-gather", _P + "floor_gather:make", floor=True),
)

NOT_RUN = {
    "dali-cpu": "not run: DALI has no 3D elastic deformation op, so it cannot do R3D's work; "
    "the DALI row belongs with fastmed's DALI backend (issue item 6)",
}


def spec_for(size: str) -> tuple[tuple[int, int, int], AugSpec]:
    """Volume shape and pipeline spec of a size preset."""
    try:
        shape, p = SIZES[size]
    except KeyError:
        raise ValueError(f"unknown size {size!r}; known: {sorted(SIZES)}") from None
    k = p / R3D.patch[0]
    spec = AugSpec(
        patch=(p, p, p),
        degrees=R3D.degrees,
        scale=R3D.scale,
        window=R3D.window,
        elastic_sigma=8.0 * k,
        elastic_max_mm=8.0 * k,
    )
    return shape, spec


@register_suite("r3d")
def r3d_suite(size: str = "small", threads: tuple[int, ...] = (1, 2)) -> list[Case]:
    """R3D: random flip/affine/elastic/intensity patch from an int16 CT volume (vs MONAI, TorchIO, bgv2)."""
    shape, spec = spec_for(size)
    vol = ct_volume(shape)
    return build_cases(f"r3d_{spec.patch[0]}", vol, spec, ENTRIES, threads, NOT_RUN)
