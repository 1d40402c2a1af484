"""Projection radiographs: a digitally reconstructed radiograph (DRR) of the same phantom."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from fastmed.rng import KeyedRNG
from fastmed.synth.geometry import SeriesGeometry
from fastmed.synth.lesions import Lesion
from fastmed.synth.phantom import CT_HU, Anatomy, base_values, tissue_map

F64 = npt.NDArray[np.float64]

MU_WATER = 0.02  # 1/mm, roughly water at diagnostic energies
DEPTH_SAMPLES = 48


def detector_geometry(anatomy: Anatomy, rows: int, cols: int, spacing: float) -> SeriesGeometry:
    """Return a frontal (PA-displayed) detector plane through the body centre: rows run feet-ward.

    The grid has one slice; its row direction is patient left (+x) and its column direction
    patient feet (-z), so the image shows the patient's right on the viewer's left.
    """
    from fastmed.synth.geometry import centred_geometry

    return centred_geometry(
        anatomy.centre,
        (1, rows, cols),
        (1.0, spacing, spacing),
        np.array([1.0, 0, 0]),
        np.array([0, 0, -1.0]),
    )


def render_drr(
    anatomy: Anatomy,
    lesions: Sequence[Lesion],
    det: SeriesGeometry,
    rng: KeyedRNG,
    noise: float = 0.004,
) -> tuple[F64, npt.NDArray[np.uint8]]:
    """Return (transmission image in [0, 1], bone bright; lesion labels) on the detector grid.

    The labels are the frontal projections (x, z ellipses) of the lesions.
    """
    plane = det.slice_points(0)  # (rows, cols, 3)
    depth = np.linspace(-1.1 * anatomy.semi_y, 1.1 * anatomy.semi_y, DEPTH_SAMPLES) + anatomy.centre_y
    dy = float(depth[1] - depth[0])
    rows = plane.shape[0]
    line = np.zeros(plane.shape[:2])
    chunk = max(1, 200_000 // (DEPTH_SAMPLES * plane.shape[1]))
    for r0 in range(0, rows, chunk):
        p = np.repeat(plane[r0 : r0 + chunk, None, :, :], DEPTH_SAMPLES, axis=1).copy()
        p[..., 1] = depth[None, :, None]
        tissue = tissue_map(anatomy, p)
        hu = base_values(anatomy, tissue, p, CT_HU)
        for les in lesions:
            q = (p - np.asarray(les.centre)) / np.asarray(les.radii)
            hu[np.einsum("...i,...i->...", q, q) <= 1.0] = les.hu
        mu = np.clip((hu + 1000.0) / 1000.0, 0.0, None) * MU_WATER
        line[r0 : r0 + chunk] = mu.sum(axis=1) * dy
    img = 1.0 - np.exp(-line / (MU_WATER * anatomy.semi_y))
    img = np.clip(img + np.asarray(rng.normal(0.0, noise, img.shape)), 0.0, 1.0)
    labels = np.zeros(img.shape, dtype=np.uint8)
    for les in lesions:
        dx = (plane[..., 0] - les.centre[0]) / les.radii[0]
        dz = (plane[..., 2] - les.centre[2]) / les.radii[2]
        labels[dx * dx + dz * dz <= 1.0] = les.id
    return img, labels
