"""Lesions: ellipsoids of known centre, radii and value placed inside an organ of the phantom."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fastmed.synth.geometry import SeriesGeometry
from fastmed.synth.keys import Purpose, rng_for
from fastmed.synth.phantom import LEFT_LUNG, LIVER, RIGHT_LUNG, Anatomy, Tissue, tissue_map

F64 = npt.NDArray[np.float64]

# organ name -> (ellipsoid in (u, v, w), tissue the lesion must sit in)
ORGANS = {
    "right lung": (RIGHT_LUNG, Tissue.LUNG),
    "left lung": (LEFT_LUNG, Tissue.LUNG),
    "liver": (LIVER, Tissue.LIVER),
}


@dataclass(frozen=True)
class Lesion:
    """One lesion, in patient space.

    Parameters
    ----------
    id
        Label value in the masks (1..k).
    centre
        Patient point (x, y, z) mm.
    radii
        Semi-axes along patient x, y, z in mm (equal for a sphere).
    organ
        ``"right lung"``, ``"left lung"`` or ``"liver"``.
    location
        Words for reports, e.g. ``"right upper lung"`` or ``"left hepatic lobe"``.
    hu
        CT value in HU; MR values are derived from it per weighting.
    kind
        ``"solid"``, ``"hypodense"`` or ``"hyperdense"``.
    """

    id: int
    centre: tuple[float, float, float]
    radii: tuple[float, float, float]
    organ: str
    location: str
    hu: float
    kind: str

    @property
    def diameter_mm(self) -> int:
        """Largest diameter rounded to whole mm (what a report states)."""
        return round(2 * max(self.radii))

    def mr_value(self, weighting: str) -> float:
        """Signal in a T1 or T2 series: solid/hypodense lesions are T1 dark, T2 bright."""
        if weighting == "T1":
            return 150.0 if self.kind != "hyperdense" else 800.0
        return 1100.0 if self.kind != "hyperdense" else 120.0


def _location(organ: str, w: float, u: float) -> str:
    if organ == "liver":
        return "left hepatic lobe" if u > 0.0 else "right hepatic lobe"
    side = organ.split()[0]
    cw = RIGHT_LUNG[0][2] if side == "right" else LEFT_LUNG[0][2]
    return f"{side} {'upper' if w >= cw else 'lower'} lung"


def sample_lesions(
    seed: int,
    study: int,
    anatomy: Anatomy,
    grids: Sequence[SeriesGeometry],
    min_radius: float,
    max_count: int = 3,
) -> list[Lesion]:
    """Draw 0..max_count lesions that sit inside an organ and inside every grid of the study.

    Lesions never overlap, not even in a frontal projection (so X-ray labels stay separable).
    """
    rng = rng_for(seed, study, Purpose.LESIONS)
    count = int(rng.integers(0, max_count + 1))
    names = list(ORGANS)
    out: list[Lesion] = []
    for _ in range(count):
        for _try in range(200):
            organ = names[int(rng.integers(0, len(names)))]
            (cu, cv, cw), (au, av, aw) = ORGANS[organ][0]
            d = np.asarray(rng.uniform(-0.6, 0.6, 3))
            u, v, w = cu + d[0] * au, cv + d[1] * av, cw + d[2] * aw
            r0 = float(rng.uniform(min_radius, 1.7 * min_radius))
            spherical = rng.bernoulli(0.5)
            aspect = np.ones(3) if spherical else np.asarray(rng.uniform(0.75, 1.3, 3))
            radii = np.maximum(r0 * aspect, min_radius)
            kind = "solid" if organ != "liver" else ("hypodense" if rng.bernoulli(0.6) else "hyperdense")
            hu = {
                "solid": rng.uniform(20.0, 60.0),
                "hypodense": rng.uniform(5.0, 15.0),
                "hyperdense": rng.uniform(130.0, 170.0),
            }[kind]
            if w < 0.12 or w > 0.88:
                continue
            centre = anatomy.to_patient(u, v, w)
            probe = np.array([centre] + [centre + s * radii * e for e in np.eye(3) for s in (-1.0, 1.0)])
            if not np.all(tissue_map(anatomy, probe) == ORGANS[organ][1]):
                continue
            if not all(g.contains(g.to_voxel(centre), margin=1.0) for g in grids):
                continue
            if any(_too_close(centre, radii, o) for o in out):
                continue
            out.append(
                Lesion(
                    id=len(out) + 1,
                    centre=(float(centre[0]), float(centre[1]), float(centre[2])),
                    radii=(float(radii[0]), float(radii[1]), float(radii[2])),
                    organ=organ,
                    location=_location(organ, w, u),
                    hu=float(round(float(hu), 1)),
                    kind=kind,
                )
            )
            break
    return out


def _too_close(c: F64, r: F64, other: Lesion) -> bool:
    gap = np.asarray(other.centre) - c
    reach = float(np.max(r) + max(other.radii)) + 2.0
    # Frontal (x, z) separation keeps projections apart; 3D separation follows from it.
    return bool(np.hypot(gap[0], gap[2]) < reach)


def lesion_mask(lesions: Sequence[Lesion], points: F64) -> npt.NDArray[np.uint8]:
    """Label (0 or lesion id) of each patient point (..., 3); later lesions win ties."""
    out = np.zeros(points.shape[:-1], dtype=np.uint8)
    if not lesions or out.size == 0:
        return out
    flat = points.reshape(-1, 3)
    lo, hi = flat.min(axis=0), flat.max(axis=0)
    for les in lesions:
        c, r = np.asarray(les.centre), np.asarray(les.radii)
        if np.any(c + r < lo) or np.any(c - r > hi):
            continue  # the lesion's box misses these points (most slices of a stack)
        q = (points - np.asarray(les.centre)) / np.asarray(les.radii)
        out[np.einsum("...i,...i->...", q, q) <= 1.0] = les.id
    return out
