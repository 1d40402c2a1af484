"""What the archive holds: sizes, the kind of each study and the layout of each series.

Planning draws every geometric choice up front (and cheaply), so that edge cases and
lesions can be chosen against the final grids before any pixel is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fastmed.synth import encode
from fastmed.synth.geometry import SeriesGeometry, centred_geometry, rotation
from fastmed.synth.keys import Purpose, make_uid, rng_for
from fastmed.synth.lesions import Lesion
from fastmed.synth.phantom import Anatomy, make_anatomy
from fastmed.synth.render import Contrast, PixelFormat
from fastmed.synth.xray import detector_geometry


@dataclass(frozen=True)
class Size:
    """Grid sizes: CT/MR volume (slices, rows, cols), nominal slice step (mm), X-ray (rows, cols)."""

    volume: tuple[int, int, int]
    slice_mm: float
    xray: tuple[int, int]


SIZES = {
    "small": Size((24, 64, 64), 8.0, (128, 128)),
    "medium": Size((64, 256, 256), 4.0, (512, 512)),
    "full": Size((320, 512, 512), 1.25, (1024, 1024)),
}
"""Named sizes: ``small`` for tests (a default archive in about a second), ``full`` for benchmarks."""

STUDY_KINDS = ("CT", "MR", "CR", "CT", "DX", "MR")
"""Kind of study ``i`` is ``STUDY_KINDS[i % 6]``; DX is the 8-bit JPEG-baseline radiograph."""

# CT stored layouts cycled over CT series: 12-bit unsigned with the usual -1024 intercept,
# signed 16-bit storing HU directly, and a half-HU slope.
CT_FORMATS = (
    PixelFormat(16, 12, False, 1.0, -1024.0),
    PixelFormat(16, 16, True, 1.0, 0.0),
    PixelFormat(16, 16, False, 0.5, -1024.0),
)


def resolve_size(shape: str | tuple[int, int, int] | None) -> Size:
    """Return the :class:`Size` for a name, an explicit (slices, rows, cols) or ``None`` (small)."""
    if shape is None:
        return SIZES["small"]
    if isinstance(shape, str):
        if shape not in SIZES:
            raise ValueError(f"unknown size {shape!r}; choose from {sorted(SIZES)}")
        return SIZES[shape]
    nz, ny, nx = (int(s) for s in shape)
    if min(nz, ny, nx) < 8:
        raise ValueError(f"shape {shape} too small: every axis needs at least 8 voxels")
    return Size((nz, ny, nx), float(np.clip(200.0 / nz, 0.5, 10.0)), (min(2 * ny, 1024), min(2 * nx, 1024)))


@dataclass(eq=False)
class SeriesPlan:
    """One series: identity, grid, contrast, storage, transfer syntax and edge cases."""

    study: int
    index: int
    modality: str
    description: str
    geometry: SeriesGeometry
    contrast: Contrast
    pixel_format: PixelFormat
    window: tuple[float, float]
    series_uid: str
    transfer_syntax: str = encode.EXPLICIT
    instance_order: str = "ascending"
    folder: str = ""
    edge_cases: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_volume(self) -> bool:
        """True for CT and MR slice stacks."""
        return self.modality in ("CT", "MR")

    @property
    def eight_bit(self) -> bool:
        """True for the 8-bit radiograph."""
        return self.pixel_format.bits_allocated == 8

    def edge(self, name: str) -> dict[str, Any] | None:
        """Return the record of edge case ``name`` applied to this series, if any."""
        return next((e for e in self.edge_cases if e["name"] == name), None)


@dataclass(eq=False)
class StudyPlan:
    """One study: a patient, an anatomy, its series and lesions."""

    index: int
    kind: str
    anatomy: Anatomy
    patient: dict[str, str]
    study_uid: str
    frame_uid: str
    series: list[SeriesPlan]
    lesions: list[Lesion] = field(default_factory=list)

    @property
    def folder(self) -> str:
        """Folder of the study, relative to the archive root."""
        return f"study_{self.index:03d}"


def _patient(seed: int, study: int) -> dict[str, str]:
    rng = rng_for(seed, study, Purpose.PATIENT)
    number = int(rng.integers(0, 10000))
    year = int(rng.integers(1940, 2001))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    s_year, s_month, s_day = int(rng.integers(2019, 2026)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
    hh, mm = int(rng.integers(7, 19)), int(rng.integers(0, 60))
    return {
        "PatientName": f"SYNTH^P{number:04d}",
        "PatientID": f"FMS{int(rng.integers(0, 10**8)):08d}",
        "PatientBirthDate": f"{year:04d}{month:02d}{day:02d}",
        "PatientSex": "F" if rng.bernoulli(0.5) else "M",
        "StudyDate": f"{s_year:04d}{s_month:02d}{s_day:02d}",
        "StudyTime": f"{hh:02d}{mm:02d}00",
        "AccessionNumber": f"A{int(rng.integers(0, 10**7)):07d}",
    }


def plan_study(seed: int, study: int, size: Size, ct_counter: int) -> StudyPlan:
    """Plan study ``study``: its anatomy and series grids (lesions and syntaxes come later).

    ``ct_counter`` is the number of CT series planned before this study; it picks the stored
    layout so that every CT layout appears in a default archive.
    """
    kind = STUDY_KINDS[study % len(STUDY_KINDS)]
    rng = rng_for(seed, study, Purpose.GEOMETRY)
    nz, ny, nx = size.volume
    fov = float(rng.uniform(340.0, 400.0))
    ps = fov / nx
    length = nz * size.slice_mm
    if kind in ("CR", "DX"):
        rows, cols = size.xray
        ps_x = fov * 1.15 / cols
        length = rows * ps_x * 0.95
    anatomy = make_anatomy(seed, study, fov, length)
    uid = lambda *p: str(make_uid(seed, study, *p))  # noqa: E731
    series: list[SeriesPlan] = []
    if kind == "CT":
        axial = centred_geometry(
            anatomy.centre,
            (nz, ny, nx),
            (size.slice_mm, ps, ps),
            np.array([1.0, 0, 0]),
            np.array([0, 1.0, 0]),
        )
        angles = np.asarray(rng.uniform(6.0, 16.0, 3)) * np.where(np.asarray(rng.random(3)) < 0.5, -1, 1)
        angles[2] *= 0.5
        rot = rotation((float(angles[0]), float(angles[1]), float(angles[2])))
        oblique = centred_geometry(
            anatomy.centre,
            (nz, ny, nx),
            (0.75 * size.slice_mm, 1.1 * ps, 1.1 * ps),
            rot @ np.array([1.0, 0, 0]),
            rot @ np.array([0, 1.0, 0]),
        )
        for i, (geom, desc, window, order) in enumerate(
            [
                (axial, "SYNTH CT AXIAL SOFT TISSUE", (40.0, 400.0), "descending"),
                (oblique, "SYNTH CT OBLIQUE LUNG", (-600.0, 1500.0), "ascending"),
            ]
        ):
            fmt = CT_FORMATS[(ct_counter + i) % len(CT_FORMATS)]
            series.append(
                SeriesPlan(
                    study,
                    i,
                    "CT",
                    desc,
                    geom,
                    Contrast("CT", 10.0),
                    fmt,
                    window,
                    uid("series", i),
                    instance_order=order,
                )
            )
    elif kind == "MR":
        axial = centred_geometry(
            anatomy.centre,
            (nz, ny, nx),
            (1.2 * size.slice_mm, 1.05 * ps, 0.95 * ps),
            np.array([1.0, 0, 0]),
            np.array([0, 1.0, 0]),
        )
        coronal = centred_geometry(
            anatomy.centre,
            (nz, ny, nx),
            (2.2 * anatomy.semi_y / nz, 1.05 * length / ny, ps),
            np.array([1.0, 0, 0]),
            np.array([0, 0, -1.0]),
        )
        series.append(
            SeriesPlan(
                study,
                0,
                "MR",
                "SYNTH MR T1 AXIAL",
                axial,
                Contrast("T1", 12.0),
                PixelFormat(16, 12, False, rescale=False),
                (500.0, 1000.0),
                uid("series", 0),
            )
        )
        series.append(
            SeriesPlan(
                study,
                1,
                "MR",
                "SYNTH MR T2 CORONAL",
                coronal,
                Contrast("T2", 12.0),
                PixelFormat(16, 16, False, rescale=False),
                (500.0, 1000.0),
                uid("series", 1),
                instance_order="descending",
            )
        )
    else:
        rows, cols = size.xray
        det = detector_geometry(anatomy, rows, cols, fov * 1.15 / cols)
        if kind == "CR":
            fmt, window = PixelFormat(16, 12, False, rescale=False), (2048.0, 4096.0)
        else:
            fmt, window = PixelFormat(8, 8, False, rescale=False), (128.0, 256.0)
        series.append(
            SeriesPlan(
                study,
                0,
                kind,
                f"SYNTH {kind} CHEST PA",
                det,
                Contrast("CT", 0.0),
                fmt,
                window,
                uid("series", 0),
            )
        )
    for s in series:
        s.folder = f"study_{study:03d}/series_{s.index:03d}"
    return StudyPlan(study, kind, anatomy, _patient(seed, study), uid("study"), uid("frame"), series)


def assign_transfer_syntaxes(studies: list[StudyPlan], allowed: tuple[str, ...]) -> None:
    """Give every series one syntax, cycling so that each allowed syntax is used.

    JPEG baseline only holds 8-bit samples: it goes to the 8-bit radiographs; 16-bit series
    cycle through the lossless syntaxes allowed (explicit VR when none is).
    """
    lossless = [t for t in allowed if t != encode.JPEG_BASELINE] or [encode.EXPLICIT]
    counter = 0
    for st in studies:
        for s in st.series:
            if s.eight_bit and encode.JPEG_BASELINE in allowed:
                s.transfer_syntax = encode.JPEG_BASELINE
            else:
                s.transfer_syntax = lossless[counter % len(lossless)]
                counter += 1
