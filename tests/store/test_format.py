"""The store is standard zarr v3: plain zarr-python reads it and it equals fm.read_series and the truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zarr

import fastmed as fm
from fastmed.store import layout
from fastmed.synth import ArchiveInfo


def test_every_array_opens_with_plain_zarr(store: Path, manifest: fm.Manifest, annotations: dict[str, Any]) -> None:
    root = zarr.open_group(str(store), mode="r")
    assert root.attrs["format_version"] == layout.FORMAT_VERSION
    for row in manifest.valid:
        vol = fm.read_series(row.paths, series=row.series_id)
        image = zarr.open_array(str(store / row.series_id / "image"), mode="r")
        assert image.dtype == vol.array.dtype
        np.testing.assert_array_equal(image[...], vol.array)
        attrs = zarr.open_group(str(store / row.series_id), mode="r").attrs["fastmed"]
        np.testing.assert_allclose(attrs["spacing"], vol.spacing)
        np.testing.assert_allclose(attrs["origin"], vol.origin)
        np.testing.assert_allclose(attrs["direction"], vol.direction)
        assert attrs["series_id"] == row.series_id and attrs["modality"] == row.modality
        assert attrs["study_id"] == row.study_id
        mask = np.load(annotations[row.series_id]["mask"])
        label = zarr.open_array(str(store / row.series_id / "label"), mode="r")
        np.testing.assert_array_equal(label[...], mask.reshape(vol.array.shape))


def test_codecs_and_chunks(store: Path, manifest: fm.Manifest) -> None:
    for row in manifest.valid:
        meta = json.loads((store / row.series_id / "image" / "zarr.json").read_text())
        names = [c["name"] for c in meta["codecs"]]
        assert names[-1] == "crc32c" and names[1] in ("blosc", "zstd")
        chunk = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
        if row.shape[0] == 1:  # 2D image: one chunk
            assert chunk == tuple(row.shape)
        else:
            assert chunk == tuple(min(c, s) for c, s in zip(layout.CHUNK_3D, row.shape, strict=True))


def test_reader_matches_zarr_and_boxes(store: Path, manifest: fm.Manifest) -> None:
    s = fm.open_store(store)
    row = next(r for r in manifest.valid if r.shape[0] > 1)
    full = zarr.open_array(str(store / row.series_id / "image"), mode="r")[...]
    np.testing.assert_array_equal(s.read(row.series_id), full)
    rng = np.random.default_rng(0)
    for _ in range(5):
        a = [int(rng.integers(0, n)) for n in full.shape]
        b = [int(rng.integers(x + 1, n + 1)) for x, n in zip(a, full.shape, strict=True)]
        got = s.read(row.series_id, "image", tuple(a), tuple(b))
        np.testing.assert_array_equal(got, full[a[0] : b[0], a[1] : b[1], a[2] : b[2]])
    vol = s.volume(row.series_id)
    assert vol.meta["series_id"] == row.series_id


def test_table_statistics_and_foreground(store: Path, manifest: fm.Manifest, annotations: dict[str, Any]) -> None:
    s = fm.open_store(store)
    assert sorted(s.ids) == sorted(r.series_id for r in manifest.valid)
    for row in manifest.valid:
        t = s.row(row.series_id)
        arr = fm.read_series(row.paths, series=row.series_id).array
        lo, hi = np.percentile(arr, [0.5, 99.5])
        assert t["p0_5"] == pytest.approx(lo) and t["p99_5"] == pytest.approx(hi)
        assert t["mean"] == pytest.approx(arr.mean(dtype=np.float64))
        assert t["std"] == pytest.approx(arr.std(dtype=np.float64))
        assert (t["min"], t["max"]) == (float(arr.min()), float(arr.max()))
        assert t["shape"] == list(row.shape) and t["modality"] == row.modality
        ann = annotations[row.series_id]
        assert t["classes"] == ann["classes"] and t["report"] == ann["report"]
        mask = np.load(ann["mask"]).reshape(arr.shape)
        fg = t["foreground"]
        values = [int(v) for v in np.unique(mask) if v != 0]
        assert sorted(int(k) for k in fg["labels"]) == values
        cell = fg["cell"]
        for v in values:
            rec = fg["labels"][str(v)]
            where = np.argwhere(mask == v)
            assert rec["voxels"] == len(where)
            assert rec["bbox"] == [*where.min(0).tolist(), *(where.max(0) + 1).tolist()]
            cells, counts = np.unique(where // np.array(cell), axis=0, return_counts=True)
            assert rec["cells"] == [[*c, n] for c, n in zip(cells.tolist(), counts.tolist(), strict=True)]


def _phi_strings(archive: ArchiveInfo) -> set[str]:
    out: set[str] = set()
    for st in archive.studies:
        out |= {v for k, v in st.patient.items() if k != "PatientSex"}  # name, ID, birth date, accession ...
        out |= {st.study_uid, st.frame_of_reference_uid}
        for se in st.series:
            out.add(se.series_uid)
            out |= {f.sop_instance_uid for f in se.files}
    return {s for s in out if len(s) >= 6}


def assert_no_phi(store: Path, archive: ArchiveInfo) -> None:
    """None of the archive's names, IDs, dates, UIDs or its path occurs in any file or path of the store."""
    phi = [s.encode() for s in _phi_strings(archive)]
    assert len(phi) > 20
    files = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.name == layout.TABLE for p in files)
    root = str(Path(archive.root).resolve()).encode()
    for p in files:
        data = p.read_bytes()
        rel = str(p.relative_to(store)).encode()
        for s in phi:
            assert s not in data and s not in rel, f"{s!r} found in {p.relative_to(store)}"
        assert root not in data, f"the archive path leaked into {p.relative_to(store)}"


def test_no_patient_identifying_value_in_any_file(store: Path, archive: ArchiveInfo) -> None:
    assert_no_phi(store, archive)


def test_callable_annotations_and_annotation_changes(tmp_path: Path, manifest: fm.Manifest, cluster1: Any) -> None:
    row = manifest.valid[0]
    one = fm.Manifest(manifest.root, [row])
    out = tmp_path / "c.zarr"
    fm.convert(one, out, lambda r: {"classes": {"id_len": len(r.series_id)}}, scheduler=cluster1.scheduler_address)
    assert fm.open_store(out).row(row.series_id)["classes"] == {"id_len": len(row.series_id)}
    assert fm.open_store(out).row(row.series_id)["foreground"] is None
    # A changed annotation makes the series stale: it is converted again.
    res = fm.convert(one, out, lambda r: {"report": "No focal lesion."}, scheduler=cluster1.scheduler_address)
    assert res.converted == [row.series_id]
    assert fm.open_store(out).row(row.series_id)["report"] == "No focal lesion."
    with pytest.raises(fm.FastmedError, match="unknown annotation keys"):
        fm.convert(one, out, {row.series_id: {"lables": {}}}, scheduler=cluster1.scheduler_address)
