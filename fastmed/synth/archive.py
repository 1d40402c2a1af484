"""Write a whole synthetic archive: DICOM series, lesion labels, reports and ``truth.json``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from fastmed.synth import encode
from fastmed.synth.edge_cases import (
    FileEntry,
    assign_edge_cases,
    assign_names,
    build_entries,
    localizer_geometry,
)
from fastmed.synth.geometry import SeriesGeometry, centred_geometry
from fastmed.synth.info import ArchiveInfo, FileInfo, LesionInfo, SeriesInfo, StudyInfo
from fastmed.synth.keys import Purpose, rng_for
from fastmed.synth.lesions import sample_lesions
from fastmed.synth.masks import write_labels_table, write_nifti_mask
from fastmed.synth.plan import SeriesPlan, StudyPlan, assign_transfer_syntaxes, plan_study, resolve_size
from fastmed.synth.render import render_slice
from fastmed.synth.report import write_report
from fastmed.synth.writer import build_dataset, write_dataset
from fastmed.synth.xray import render_drr

_LOCALIZER_ITEM = 2**16 - 1


def generate_archive(
    out_dir: str | Path,
    studies: int = 6,
    seed: int = 0,
    *,
    shape: str | tuple[int, int, int] | None = None,
    edge_cases: Sequence[str] = (),
    transfer_syntaxes: Sequence[str] | None = None,
    save_pixels: bool = False,
    lesion_scale: float = 1.0,
) -> ArchiveInfo:
    """Generate a deterministic synthetic DICOM archive with its ground truth.

    Layout: ``out_dir/study_XXX/series_YYY/IM_####.dcm``, plus per study ``report.txt`` and
    ``labels_YYY.npy`` (uint8 lesion mask per series, aligned voxel for voxel with the
    series array in true slice order; 0 background, 1..k lesions), the same masks as NIfTI in
    patient space (``masks/study_XXX/series_YYY.nii.gz``), and at the root ``truth.json`` and
    ``labels.csv`` (one row per series: StudyInstanceUID, SeriesInstanceUID, path, lesion_count,
    lesion_present, findings, report, mask; see :mod:`fastmed.synth.masks`). Study ``i`` is CT, MR, CR, CT,
    DX (8-bit JPEG), MR for ``i % 6`` = 0..5.

    Parameters
    ----------
    out_dir
        Folder to write into (created; existing files of the same names are replaced).
    studies
        Number of studies.
    seed
        Every random choice is a function of ``(seed, study, series, slice)``: the same seed
        gives byte-identical files.
    shape
        ``"small"`` (default; 24x64x64 volumes), ``"medium"``, ``"full"`` or an explicit
        (slices, rows, columns) for the CT/MR volumes.
    edge_cases
        Names from :data:`fastmed.synth.EDGE_CASES`, each applied to one CT/MR series and
        recorded in that series' ``edge_cases``.
    transfer_syntaxes
        UIDs or short names (:data:`fastmed.synth.encode.NAMES`) that series cycle through;
        all of them by default. JPEG baseline goes to 8-bit radiographs only.
    save_pixels
        Also write ``pixels_YYY.npy`` per series: the stored integers that were encoded.
    lesion_scale
        Multiplier of the smallest lesion radius (1: lesions 3-6 voxels across in ``small`` volumes). Larger
        values make easier lesions for learning tests (lesions that do not fit an organ are redrawn, so large
        values give fewer lesions); the rest of the archive is unchanged.

    Returns
    -------
    ArchiveInfo
        The ground truth, also written to ``out_dir/truth.json``.
    """
    if studies < 0:
        raise ValueError(f"studies must be >= 0, got {studies}")
    if not lesion_scale >= 1.0:
        raise ValueError(f"lesion_scale must be >= 1, got {lesion_scale}")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    size = resolve_size(shape)
    allowed = encode.ALL if transfer_syntaxes is None else tuple(encode.resolve(t) for t in transfer_syntaxes)
    if not allowed:
        raise ValueError("transfer_syntaxes is empty")

    plans: list[StudyPlan] = []
    ct_counter = 0
    for i in range(studies):
        st = plan_study(seed, i, size, ct_counter)
        ct_counter += sum(s.modality == "CT" for s in st.series)
        plans.append(st)
    assign_transfer_syntaxes(plans, allowed)
    assign_edge_cases(seed, plans, list(edge_cases))
    for st in plans:
        grids = [_lesion_grid(st, s) for s in st.series]
        # Big enough that the voxel nearest the centre lies inside the lesion on every grid.
        coarsest = max(max(s.geometry.spacing[1:]) if not s.is_volume else max(s.geometry.spacing) for s in st.series)
        min_radius = max(1.3 * coarsest, 0.05 * st.anatomy.semi_x) * lesion_scale
        st.lesions = sample_lesions(seed, st.index, st.anatomy, grids, min_radius)

    all_series = [s for st in plans for s in st.series]
    entries = {id(s): build_entries(seed, s) for s in all_series}
    assign_names(seed, all_series, entries)

    infos = []
    for st in plans:
        series_infos = [_write_series(root, seed, st, s, entries[id(s)], save_pixels) for s in st.series]
        report_rel = f"{st.folder}/report.txt"
        (root / report_rel).write_text(write_report(st.kind, st.lesions))
        infos.append(
            StudyInfo(
                index=st.index,
                kind=st.kind,
                folder=st.folder,
                study_uid=st.study_uid,
                frame_of_reference_uid=st.frame_uid,
                patient=dict(st.patient),
                report=report_rel,
                lesion_count=len(st.lesions),
                series=series_infos,
            )
        )
    write_labels_table(root, infos, {st.index: [les.organ for les in st.lesions] for st in plans})
    info = ArchiveInfo(
        root=str(root),
        seed=int(seed),
        size={"volume": list(size.volume), "slice_mm": size.slice_mm, "xray": list(size.xray)},
        edge_cases=list(edge_cases),
        studies=infos,
    )
    info.write(root / "truth.json")
    return info


def _lesion_grid(st: StudyPlan, s: SeriesPlan) -> SeriesGeometry:
    """Return the grid a lesion centre must fall in.

    The series grid, or for a radiograph a slab through the body (a plane has no depth).
    """
    if s.is_volume:
        return s.geometry
    g = s.geometry
    half = st.anatomy.semi_y
    return centred_geometry(
        st.anatomy.centre,
        (5, g.shape[1], g.shape[2]),
        (half / 2, g.spacing[1], g.spacing[2]),
        g.row_dir,
        g.col_dir,
    )


def _render(seed: int, st: StudyPlan, s: SeriesPlan) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.uint8]]:
    """Return stored integers and labels of the whole series grid, (z, y, x) or (rows, cols)."""
    fmt = s.pixel_format
    if not s.is_volume:
        img, labels = render_drr(st.anatomy, st.lesions, s.geometry, rng_for(seed, st.index, Purpose.NOISE, s.index))
        top = 2.0**fmt.bits_stored - 1.0
        return fmt.to_stored(img * top), labels
    g = s.geometry
    stored = np.empty(g.shape, dtype=fmt.dtype)
    labels = np.empty(g.shape, dtype=np.uint8)
    bias = _bias(seed, st, s)
    for k in range(g.shape[0]):
        rng = rng_for(seed, st.index, Purpose.NOISE, s.index, k)
        vals, lab = render_slice(st.anatomy, st.lesions, s.contrast, g, k, rng, bias)
        stored[k] = fmt.to_stored(vals)
        labels[k] = lab
    return stored, labels


def _bias(seed: int, st: StudyPlan, s: SeriesPlan) -> npt.NDArray[np.float64] | None:
    if s.modality != "MR":
        return None
    c = np.asarray(rng_for(seed, st.index, Purpose.MR_BIAS, s.index).uniform(-0.12, 0.12, 4))
    c[3] = abs(c[3])
    return c


def _sha(frame: npt.NDArray[np.integer]) -> str:
    return hashlib.sha256(np.ascontiguousarray(frame).astype(frame.dtype.newbyteorder("<")).tobytes()).hexdigest()


def _write_series(
    root: Path, seed: int, st: StudyPlan, s: SeriesPlan, entries: list[FileEntry], save_pixels: bool
) -> SeriesInfo:
    stored, labels = _render(seed, st, s)
    g = s.geometry
    files: list[FileInfo] = []
    for e in sorted(entries, key=lambda e: ({"slice": 0, "duplicate": 1, "localizer": 2}[e.kind], e.slice_index)):
        if e.kind == "localizer":
            lg = localizer_geometry(g)
            rng = rng_for(seed, st.index, Purpose.NOISE, s.index, _LOCALIZER_ITEM)
            vals, _ = render_slice(st.anatomy, st.lesions, s.contrast, lg, 0, rng, _bias(seed, st, s))
            frame, geom = s.pixel_format.to_stored(vals), lg
        else:
            frame = stored[e.slice_index] if s.is_volume else stored
            geom = g
        write_dataset(build_dataset(st, s, e, geom, frame), root / e.path)
        files.append(FileInfo(e.path, e.kind, e.slice_index, e.instance_number, e.sop_uid, e.position, _sha(frame)))
        if e.kind == "localizer":
            loc = s.edge("localizer")
            assert loc is not None
            loc["file"] = e.path
        if e.kind == "duplicate":
            dup = s.edge("duplicate_slice")
            assert dup is not None
            dup["file"] = e.path
    rec = s.edge("shuffled_names")
    if rec is not None:
        rec["names_in_slice_order"] = [f.path for f in files if f.kind == "slice"]
    labels_rel = f"{st.folder}/labels_{s.index:03d}.npy"
    np.save(root / labels_rel, labels)
    mask_rel = f"masks/{st.folder}/series_{s.index:03d}.nii.gz"  # not s.folder: mixed series share one
    write_nifti_mask(root / mask_rel, labels, g, s.is_volume)
    pixels_rel = None
    if save_pixels:
        pixels_rel = f"{st.folder}/pixels_{s.index:03d}.npy"
        np.save(root / pixels_rel, stored)
    lesions = []
    for les in st.lesions:
        v = g.to_voxel(np.asarray(les.centre))
        voxel = tuple(float(x) for x in (v if s.is_volume else v[1:]))
        lesions.append(
            LesionInfo(
                les.id,
                les.centre,
                voxel,
                les.radii,
                s.contrast.lesion_value(les) if s.is_volume else les.hu,
                les.hu,
                les.organ,
                les.location,
                les.kind,
            )
        )
    fmt = s.pixel_format
    shape = g.shape if s.is_volume else g.shape[1:]
    spacing = g.spacing if s.is_volume else g.spacing[1:]
    direction = g.direction if s.is_volume else np.stack([g.row_dir, g.col_dir, g.normal], axis=1)
    return SeriesInfo(
        study=st.index,
        index=s.index,
        modality=s.modality,
        description=s.description,
        series_uid=s.series_uid,
        folder=s.folder,
        shape=tuple(int(x) for x in shape),
        spacing=tuple(float(x) for x in spacing),
        origin=(float(g.origin[0]), float(g.origin[1]), float(g.origin[2])),
        direction=direction.tolist(),
        affine=g.affine().tolist(),
        slice_offsets_mm=[float(o) for o in g.offsets] if s.is_volume else [0.0],
        transfer_syntax=s.transfer_syntax,
        instance_order=s.instance_order,
        bits_allocated=fmt.bits_allocated,
        bits_stored=fmt.bits_stored,
        signed=fmt.signed,
        rescale_slope=fmt.slope,
        rescale_intercept=fmt.intercept,
        files=files,
        lesions=lesions,
        labels=labels_rel,
        report=f"{st.folder}/report.txt",
        pixels=pixels_rel,
        edge_cases=[dict(e) for e in s.edge_cases],
        mask=mask_rel,
    )


__all__ = ["generate_archive"]
