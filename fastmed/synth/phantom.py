"""A chest-abdomen phantom defined in patient space, sampled by any series geometry.

Anatomy is a set of analytic shapes in coordinates normalised to the body: ``u`` across
(patient left is +), ``v`` front to back (posterior is +), ``w`` from the bottom (0) to the top
(1) of the scanned range. Because shapes live in patient space, oblique, tilted or
anisotropic grids all see the same patient, which is what lets tests compare series.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from fastmed.synth.keys import Purpose, rng_for

F64 = npt.NDArray[np.float64]


class Tissue(IntEnum):
    """Tissue classes of the phantom (values of the tissue map)."""

    AIR = 0
    FAT = 1
    MUSCLE = 2
    LUNG = 3
    BONE = 4
    LIVER = 5
    HEART = 6
    VESSEL = 7


# Lookup tables indexed by Tissue.
CT_HU = np.array([-1000.0, -100.0, 40.0, -850.0, 700.0, 60.0, 35.0, 45.0])
MR_T1 = np.array([0.0, 900.0, 350.0, 40.0, 250.0, 450.0, 300.0, 100.0])
MR_T2 = np.array([0.0, 700.0, 250.0, 30.0, 200.0, 200.0, 250.0, 80.0])
_TEXTURED = np.array([False, True, True, False, False, True, True, False])

# Organ ellipsoids in (u, v, w): centre and semi-axes.
RIGHT_LUNG = ((-0.45, -0.05, 0.78), (0.33, 0.55, 0.35))
LEFT_LUNG = ((0.47, -0.05, 0.78), (0.30, 0.55, 0.33))
HEART = ((0.12, -0.25, 0.56), (0.28, 0.30, 0.14))
LIVER = ((-0.22, 0.0, 0.28), (0.55, 0.60, 0.22))


@dataclass(frozen=True)
class Anatomy:
    """Where the patient lies: body centre, body semi-axes and the scanned z range (mm)."""

    centre_x: float
    centre_y: float
    z_low: float
    length: float
    semi_x: float
    semi_y: float
    texture: F64  # (n, 5): amplitude, kx, ky, kz, phase of smooth soft-tissue texture

    @property
    def centre(self) -> F64:
        """Patient point at the middle of the scanned body."""
        return np.array([self.centre_x, self.centre_y, self.z_low + 0.5 * self.length])

    def normalise(self, p: F64) -> tuple[F64, F64, F64]:
        """Return (u, v, w) of patient points ``p`` (..., 3)."""
        u = (p[..., 0] - self.centre_x) / self.semi_x
        v = (p[..., 1] - self.centre_y) / self.semi_y
        w = (p[..., 2] - self.z_low) / self.length
        return u, v, w

    def to_patient(self, u: float, v: float, w: float) -> F64:
        """Inverse of :meth:`normalise` for one point."""
        return np.array(
            [self.centre_x + u * self.semi_x, self.centre_y + v * self.semi_y, self.z_low + w * self.length]
        )


def make_anatomy(seed: int, study: int, fov: float, length: float) -> Anatomy:
    """Draw one patient's anatomy for a field of view and scan length (mm)."""
    rng = rng_for(seed, study, Purpose.STUDY, item=1)
    jitter = np.asarray(rng.uniform(-1.0, 1.0, 6))
    tex = rng_for(seed, study, Purpose.TEXTURE)
    n = 4
    texture = np.stack(
        [
            np.asarray(tex.uniform(2.0, 5.0, n)),
            np.asarray(tex.uniform(-0.08, 0.08, n)),
            np.asarray(tex.uniform(-0.08, 0.08, n)),
            np.asarray(tex.uniform(-0.05, 0.05, n)),
            np.asarray(tex.uniform(0.0, 2 * np.pi, n)),
        ],
        axis=1,
    )
    return Anatomy(
        centre_x=float(jitter[0] * 0.02 * fov),
        centre_y=float(jitter[1] * 0.02 * fov),
        z_low=float(-0.5 * length - 300.0 + jitter[2] * 20.0),
        length=float(length),
        semi_x=float(fov * (0.40 + 0.03 * jitter[3])),
        semi_y=float(fov * (0.29 + 0.02 * jitter[4])),
        texture=texture,
    )


def _in_ellipsoid(
    u: F64, v: F64, w: F64, shape: tuple[tuple[float, float, float], tuple[float, float, float]]
) -> npt.NDArray[np.bool_]:
    (cu, cv, cw), (au, av, aw) = shape
    return np.asarray(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 + ((w - cw) / aw) ** 2 <= 1.0)


def tissue_map(anatomy: Anatomy, points: F64) -> npt.NDArray[np.uint8]:
    """Tissue class at each patient point (..., 3); later shapes overwrite earlier ones."""
    u, v, w = anatomy.normalise(points)
    rho2 = u * u + v * v
    out = np.zeros(u.shape, dtype=np.uint8)
    body = rho2 <= 1.0
    out[body] = Tissue.FAT
    out[rho2 <= 0.86**2] = Tissue.MUSCLE
    out[_in_ellipsoid(u, v, w, LIVER) & (w < 0.52)] = Tissue.LIVER
    out[_in_ellipsoid(u, v, w, RIGHT_LUNG)] = Tissue.LUNG
    out[_in_ellipsoid(u, v, w, LEFT_LUNG)] = Tissue.LUNG
    out[_in_ellipsoid(u, v, w, HEART)] = Tissue.HEART
    out[(u - 0.08) ** 2 + ((v - 0.42) / 0.9) ** 2 <= 0.06**2] = Tissue.VESSEL
    # Ribs: a band just inside the fat layer, present on periodic levels of the chest only.
    rho = np.sqrt(rho2)
    theta = np.arctan2(v, u)
    # Ribs slope down from the spine, so the phase mixes level and angle: arcs, not rings.
    ribs = (rho > 0.78) & (rho < 0.85) & (w > 0.45) & (np.cos(2 * np.pi * 11.0 * w + 2.0 * np.abs(theta)) > 0.55)
    ribs &= (np.abs(u) > 0.18) | (v > 0.0)
    out[ribs] = Tissue.BONE
    out[u**2 + ((v - 0.62) / 1.2) ** 2 <= 0.13**2] = Tissue.BONE  # vertebral body
    out[u**2 + (v - 0.80) ** 2 <= 0.05**2] = Tissue.MUSCLE  # spinal canal
    return out


def texture_at(anatomy: Anatomy, points: F64) -> F64:
    """Smooth soft-tissue texture (unitless, about +-10) at patient points."""
    t = np.zeros(points.shape[:-1])
    for amp, kx, ky, kz, ph in anatomy.texture:
        t += amp * np.sin(kx * points[..., 0] + ky * points[..., 1] + kz * points[..., 2] + ph)
    return t


def base_values(anatomy: Anatomy, tissue: npt.NDArray[np.uint8], points: F64, table: F64) -> F64:
    """Noise-free image values: ``table[tissue]`` plus texture inside textured tissues."""
    vals = table[tissue].astype(np.float64)
    scale = float(np.max(np.abs(table[_TEXTURED]))) / 100.0
    vals += np.where(_TEXTURED[tissue], texture_at(anatomy, points) * scale, 0.0)
    return vals
