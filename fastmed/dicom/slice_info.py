"""The SliceInfo record (the per-file facts series assembly needs) and its pydicom builder."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class SliceInfo:
    """Geometry and grouping facts of one DICOM image file (or one frame of a multi-frame file).

    UIDs are held in memory for grouping only; they are never printed or logged.
    Slotted: an index holds one record per file of an archive, and the native fast path
    (:mod:`fastmed.dicom.slice_columns`) builds them positionally, in field order.

    Parameters
    ----------
    path
        The file, as the user gave it.
    frame
        Frame index within a multi-frame file (0 for single-frame files).
    series_uid
        SeriesInstanceUID (grouping key; never shown).
    rows, columns
        Image size.
    pixel_spacing
        (row spacing, column spacing) in mm: distance between rows (y) and between columns (x).
    orientation
        ImageOrientationPatient: row direction cosines (x axis) then column direction cosines (y axis).
    position
        ImagePositionPatient of the first transmitted pixel, mm.
    """

    path: str
    series_uid: str
    rows: int
    columns: int
    pixel_spacing: tuple[float, float] | None
    orientation: tuple[float, float, float, float, float, float] | None
    position: tuple[float, float, float] | None
    frame: int = 0
    frames: int = 1
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    instance_number: int | None = None
    acquisition_number: int | None = None
    image_type: tuple[str, ...] = ()
    modality: str = ""
    transfer_syntax: str = ""
    slice_thickness: float | None = None
    gantry_tilt: float | None = None
    samples_per_pixel: int = 1

    @property
    def normal(self) -> npt.NDArray[np.float64] | None:
        """Unit slice normal (row x column cosines), or None without orientation."""
        if self.orientation is None:
            return None
        r = np.asarray(self.orientation[:3], dtype=np.float64)
        c = np.asarray(self.orientation[3:], dtype=np.float64)
        n = np.cross(r, c)
        norm = float(np.linalg.norm(n))
        return n / norm if norm > 0 else None

    @property
    def is_localizer(self) -> bool:
        """True when ImageType says LOCALIZER (scout / topogram)."""
        return any(t.upper() == "LOCALIZER" for t in self.image_type)


def _floats(value: Any, n: int) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return vals if len(vals) == n else None


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def slice_infos_from_dataset(ds: Any, path: str) -> list[SliceInfo]:
    """Build SliceInfo records from a pydicom Dataset (one per frame for enhanced multi-frame).

    Enhanced CT/MR keep per-frame geometry in the Per-Frame and Shared Functional Groups;
    classic images keep it at the top level.
    """
    frames = _int_or_none(ds.get("NumberOfFrames")) or 1
    base = dict(
        path=path,
        series_uid=str(ds.get("SeriesInstanceUID", "")),
        rows=int(ds.get("Rows", 0) or 0),
        columns=int(ds.get("Columns", 0) or 0),
        frames=frames,
        instance_number=_int_or_none(ds.get("InstanceNumber")),
        acquisition_number=_int_or_none(ds.get("AcquisitionNumber")),
        image_type=tuple(str(t) for t in (ds.get("ImageType") or ())),
        modality=str(ds.get("Modality", "")),
        transfer_syntax=str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else "",
        gantry_tilt=float(ds.GantryDetectorTilt) if ds.get("GantryDetectorTilt") not in (None, "") else None,
        samples_per_pixel=int(ds.get("SamplesPerPixel", 1) or 1),
    )
    pffg = ds.get("PerFrameFunctionalGroupsSequence")
    if pffg is not None and len(pffg) == frames:
        shared = ds.get("SharedFunctionalGroupsSequence")
        shared0 = shared[0] if shared else None
        out = []
        for i, item in enumerate(pffg):
            fields = {**base, **_functional_group_geometry(item, shared0)}  # a frame's FrameType wins
            out.append(SliceInfo(frame=i, **fields))
        return out
    slope = ds.get("RescaleSlope")
    intercept = ds.get("RescaleIntercept")
    thickness = ds.get("SliceThickness")
    info = SliceInfo(
        **base,  # type: ignore[arg-type]
        pixel_spacing=_floats(ds.get("PixelSpacing"), 2),  # type: ignore[arg-type]
        orientation=_floats(ds.get("ImageOrientationPatient"), 6),  # type: ignore[arg-type]
        position=_floats(ds.get("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        rescale_slope=float(slope) if slope not in (None, "") else 1.0,
        rescale_intercept=float(intercept) if intercept not in (None, "") else 0.0,
        slice_thickness=float(thickness) if thickness not in (None, "") else None,
    )
    return per_frame(info, frame_offsets(ds.get("FrameIncrementPointer"), ds.get("GridFrameOffsetVector"), frames))


GRID_FRAME_OFFSET_VECTOR = 0x3004000C


def frame_offsets(increment_pointer: Any, offsets: Any, frames: int) -> tuple[float, ...] | None:
    """The Grid Frame Offset Vector (3004,000C) when the Frame Increment Pointer (0028,0009) names it.

    ``None`` unless there is exactly one finite offset per frame (then the frames keep the one
    position, and the series check reports them as sharing it).
    """
    if frames <= 1 or increment_pointer is None:
        return None
    try:
        if GRID_FRAME_OFFSET_VECTOR not in [int(p) for p in _as_list(increment_pointer)]:
            return None
    except (TypeError, ValueError):
        return None
    values = _floats(None if offsets is None else _as_list(offsets), frames)
    if values is None or not all(np.isfinite(values)):
        return None
    return values


def _as_list(value: Any) -> list[Any]:
    """A multi-valued element as a list (pydicom MultiValue, native list), a single value as [value]."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        return [value]
    return list(value)


def per_frame(info: SliceInfo, offsets: tuple[float, ...] | None = None) -> list[SliceInfo]:
    """One record per frame of a classic multi-frame image.

    Without ``offsets`` the frames share the image's one geometry (often none). With a Grid
    Frame Offset Vector (RT Dose, NM; see :func:`frame_offsets`), frame k lies at
    ImagePositionPatient + (offset_k - offset_0) along the normal of ImageOrientationPatient:
    PS3.3 C.8.8.3.2 allows a relative vector (offset_0 = 0, so ImagePositionPatient +
    offset_k * normal) or, for transverse images only, absolute z coordinates (offset_0 is then
    the z of ImagePositionPatient, and the offsets run along +z whatever the normal's sign).
    """
    if info.frames <= 1:
        return [info]
    n = info.normal
    if offsets is None or len(offsets) != info.frames or info.position is None or n is None:
        return [dataclasses.replace(info, frame=i) for i in range(info.frames)]
    axis = n
    if offsets[0] != 0.0 and abs(abs(float(n[2])) - 1.0) < 1e-6:
        axis = np.array([0.0, 0.0, 1.0])  # absolute z coordinates
    ipp = np.asarray(info.position, dtype=np.float64)
    out = []
    for i, off in enumerate(offsets):
        p = ipp + (off - offsets[0]) * axis
        out.append(dataclasses.replace(info, frame=i, position=(float(p[0]), float(p[1]), float(p[2]))))
    return out


# Where enhanced images keep each frame's FrameType (0008,9007): the per-frame ImageType
# (a LOCALIZER frame is one there, whatever the image's ImageType says).
_FRAME_TYPE_SEQUENCES = (
    "CTImageFrameTypeSequence",
    "MRImageFrameTypeSequence",
    "PETFrameTypeSequence",
    "XRay3DFrameTypeSequence",
)


def _functional_group_geometry(item: Any, shared: Any) -> dict[str, Any]:
    def find(seq_name: str, attr: str) -> Any:
        for group in (item, shared):
            if group is None:
                continue
            seq = group.get(seq_name)
            if seq:
                value = seq[0].get(attr)
                if value is not None:
                    return value
        return None

    frame_type = next((v for v in (find(seq, "FrameType") for seq in _FRAME_TYPE_SEQUENCES) if v is not None), None)
    slope = find("PixelValueTransformationSequence", "RescaleSlope")
    intercept = find("PixelValueTransformationSequence", "RescaleIntercept")
    thickness = find("PixelMeasuresSequence", "SliceThickness")
    geometry: dict[str, Any] = {} if frame_type is None else {"image_type": tuple(str(t) for t in _as_list(frame_type))}
    return geometry | {
        "pixel_spacing": _floats(find("PixelMeasuresSequence", "PixelSpacing"), 2),
        "orientation": _floats(find("PlaneOrientationSequence", "ImageOrientationPatient"), 6),
        "position": _floats(find("PlanePositionSequence", "ImagePositionPatient"), 3),
        "rescale_slope": float(slope) if slope not in (None, "") else 1.0,
        "rescale_intercept": float(intercept) if intercept not in (None, "") else 0.0,
        "slice_thickness": float(thickness) if thickness not in (None, "") else None,
    }
