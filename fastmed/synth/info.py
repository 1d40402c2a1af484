"""Ground-truth records returned by :func:`generate_archive` and written to ``truth.json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRUTH_VERSION = 1


@dataclass(frozen=True)
class LesionInfo:
    """A lesion as seen by one series.

    ``centre_voxel`` is the fractional (z, y, x) index for volumes and (row, col) for
    radiographs; ``value`` is the image value inside it (HU for CT, signal for MR,
    ``hu`` is its CT attenuation whatever the modality).
    """

    id: int
    centre_mm: tuple[float, float, float]
    centre_voxel: tuple[float, ...]
    radii_mm: tuple[float, float, float]
    value: float
    hu: float
    organ: str
    location: str
    kind: str


@dataclass(frozen=True)
class FileInfo:
    """One written file: its path (relative to the archive root) and what it holds."""

    path: str
    kind: str  # "slice", "duplicate" or "localizer"
    slice_index: int  # index along the array's first axis; -1 for the localizer
    instance_number: int
    sop_instance_uid: str
    position: tuple[float, float, float]
    pixel_sha256: str  # of the stored frame, little-endian, before any compression


@dataclass(frozen=True)
class SeriesInfo:
    """Ground truth of one series.

    ``files`` lists the slice files in true slice order (array index order, which runs
    along the slice normal); duplicates and the localizer come after, marked by ``kind``.
    ``affine`` maps (z, y, x, 1) indices to patient (x, y, z, 1) mm for uniform grids;
    ``slice_offsets_mm`` gives every slice's distance from ``origin`` along
    ``direction[:, 2]`` (so non-uniform stacks are exact too).
    """

    study: int
    index: int
    modality: str
    description: str
    series_uid: str
    folder: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, float, float]
    direction: list[list[float]]
    affine: list[list[float]]
    slice_offsets_mm: list[float]
    transfer_syntax: str
    instance_order: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    rescale_slope: float
    rescale_intercept: float
    files: list[FileInfo]
    lesions: list[LesionInfo]
    labels: str
    pixels: str | None
    report: str
    edge_cases: list[dict[str, Any]] = field(default_factory=list)
    mask: str | None = None  # NIfTI lesion mask in the series' physical space (relative path)

    def slice_files(self) -> list[FileInfo]:
        """Files of real slices (no duplicates, no localizer) in true slice order."""
        return [f for f in self.files if f.kind == "slice"]


@dataclass(frozen=True)
class StudyInfo:
    """Ground truth of one study."""

    index: int
    kind: str
    folder: str
    study_uid: str
    frame_of_reference_uid: str
    patient: dict[str, str]
    report: str
    lesion_count: int
    series: list[SeriesInfo]


@dataclass(frozen=True)
class ArchiveInfo:
    """Everything :func:`fastmed.synth.generate_archive` wrote, as ground truth.

    Paths inside are relative to ``root``.
    """

    root: str
    seed: int
    size: dict[str, Any]
    edge_cases: list[str]
    studies: list[StudyInfo]
    version: int = TRUTH_VERSION

    def all_series(self) -> Iterator[SeriesInfo]:
        """Every series of every study."""
        for st in self.studies:
            yield from st.series

    def path(self, rel: str) -> Path:
        """Absolute path of an archive-relative path."""
        return Path(self.root) / rel

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dictionary (what ``truth.json`` holds)."""
        d = asdict(self)
        d.pop("root")
        return d

    def write(self, path: Path) -> None:
        """Write ``truth.json``."""
        path.write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True) + "\n")


def load_truth(root: str | Path) -> ArchiveInfo:
    """Read ``truth.json`` of an archive back into an :class:`ArchiveInfo`."""
    d = json.loads((Path(root) / "truth.json").read_text())
    studies = []
    for st in d.pop("studies"):
        series = []
        for s in st.pop("series"):
            files = [FileInfo(**{**f, "position": tuple(f["position"])}) for f in s.pop("files")]
            lesions = [
                LesionInfo(**{**les, **{k: tuple(les[k]) for k in ("centre_mm", "centre_voxel", "radii_mm")}})
                for les in s.pop("lesions")
            ]
            s["shape"], s["spacing"], s["origin"] = tuple(s["shape"]), tuple(s["spacing"]), tuple(s["origin"])
            series.append(SeriesInfo(files=files, lesions=lesions, **s))
        studies.append(StudyInfo(series=series, **st))
    return ArchiveInfo(root=str(root), studies=studies, **d)
