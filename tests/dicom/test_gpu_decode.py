"""GPU decode path against pydicom's arrays, run through nvImageCodec's CPU-only backends.

Every JPEG / JPEG 2000 / HTJ2K file of pydicom's and pydicom-data's test files and of the
synthetic archive either decodes through nvImageCodec to exactly pydicom's ``pixel_array``
or falls back with a named reason; the set of fallbacks is asserted exactly, so a silent
fallback cannot hide a failure. ``gpu``-marked tests run the device backends where a CUDA
device exists.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fastmed.dicom import read_header, read_pixels
from fastmed.dicom.gpu_decode import (
    REASONS,
    build_dali_pipeline,
    dali_available,
    dali_feed,
    decode_batch,
    decode_frames,
    nvimgcodec_available,
)
from fastmed.dicom.gpu_decode import backend as gd_backend
from fastmed.dicom.gpu_decode import decode as gd_decode
from fastmed.dicom.gpu_decode import plan as gd_plan
from fastmed.dicom.gpu_decode.nvjpeg_version import lossless_high_bit_ok, nvjpeg_version
from fastmed.dicom.transfer_syntax import family
from fastmed.errors import DicomError

from ._testdata import label, pixel_bearing, pydicom_read

pydicom = pytest.importorskip("pydicom")
needs_nv = pytest.mark.skipif(not nvimgcodec_available(), reason="nvImageCodec (nvidia-nvimgcodec-cu12) not importable")
needs_dali = pytest.mark.skipif(not dali_available(), reason="NVIDIA DALI not importable")

# The known gaps of nvImageCodec's CPU-only backends with exact=True, by reason. Every
# other JPEG/J2K/HTJ2K file that pydicom decodes must go through nvImageCodec.
EXPECTED_CPU_FALLBACKS: dict[str, set[str]] = {
    "signed-j2k-cpu": {
        "693_J2KI.dcm",
        "693_J2KR.dcm",
        "JPEG2000.dcm",
        "MR_small_jp2klossless.dcm",
        "explicit_VR-UN.dcm",
    },
    "lossy-dct": {
        "JPGExtended.dcm",
        "SC_jpeg_no_color_transform.dcm",
        "SC_jpeg_no_color_transform_2.dcm",
        "SC_rgb_dcmtk_+eb+cr.dcm",
        "SC_rgb_dcmtk_+eb+cy+n1.dcm",
        "SC_rgb_dcmtk_+eb+cy+n2.dcm",
        "SC_rgb_dcmtk_+eb+cy+np.dcm",
        "SC_rgb_dcmtk_+eb+cy+s2.dcm",
        "SC_rgb_dcmtk_+eb+cy+s4.dcm",
        "SC_rgb_jpeg.dcm",
        "SC_rgb_jpeg_app14_dcmd.dcm",
        "SC_rgb_jpeg_dcmtk.dcm",
        "SC_rgb_jpeg_lossy_gdcm.dcm",
        "SC_rgb_small_odd_jpeg.dcm",
        "examples_ybr_color.dcm",
        "color3d_jpeg_baseline.dcm",
    },
    "jpeg-lossless-high-bit": {"JPEG-LL.dcm", "bad_sequence.dcm"},
}


def _compressed(paths: Any) -> list[Path]:
    out = []
    for p in paths:
        try:
            h = read_header(p)
        except DicomError:
            continue
        if family(h.transfer_syntax) in ("jpeg", "j2k"):
            out.append(Path(p))
    return out


CORPUS = _compressed(pixel_bearing())


def _pydicom(path: Path) -> Any:
    """pydicom's array, or None where pydicom refuses the file."""
    try:
        ds = pydicom_read(str(path), False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ds.pixel_array
    except Exception:  # pydicom's refusal is the oracle
        return None


def _same(a: np.ndarray, ref: np.ndarray) -> None:
    assert a.shape == ref.shape
    assert a.dtype == ref.dtype
    assert np.array_equal(a, ref)


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from fastmed.synth import generate_archive

    root = tmp_path_factory.mktemp("gpu_synth")
    generate_archive(root, 5, 3, transfer_syntaxes=["j2k", "htj2k", "jpeg"])
    return root


def test_corpus_found() -> None:
    assert len(CORPUS) >= 40, "pydicom + pydicom-data JPEG / J2K test files not found"


# --- routing (planning only: no decode) ------------------------------------------------


@needs_nv
def test_routes_over_every_pixel_file_are_the_known_gaps() -> None:
    """CPU backend, exact: the fallback set over all 162 files is exactly the documented one."""
    got: dict[str, set[str]] = {}
    for p in pixel_bearing():
        try:
            plan = gd_plan.plan_file(p, backend="cpu", exact=True)
        except DicomError:
            assert _pydicom(p) is None, f"{label(p)}: planning raised but pydicom decodes it"
            continue
        fam = family(plan.header.transfer_syntax)
        if plan.route.fallback:
            got.setdefault(plan.route.code, set()).add(p.name)
            if fam in ("jpegls", "rle"):
                assert plan.route.code == ("jpeg-ls" if fam == "jpegls" else "rle")
            elif fam not in ("jpeg", "j2k"):
                assert plan.route.code == "uncompressed"
        else:
            assert fam in ("jpeg", "j2k")
            assert len(plan.frames) == plan.opts["number_of_frames"]
    for code in got:
        assert code in REASONS
    compressed = {k: v for k, v in got.items() if k not in ("uncompressed", "jpeg-ls", "rle")}
    # Files pydicom itself refuses may fall back for any reason; the rest must match exactly.
    byname = {p.name: p for p in CORPUS}
    for code, names in compressed.items():
        for n in names - EXPECTED_CPU_FALLBACKS.get(code, set()):
            assert _pydicom(byname[n]) is None, f"{n}: unexpected fallback {code}"
    for code, names in EXPECTED_CPU_FALLBACKS.items():
        assert names <= compressed.get(code, set()), f"{code}: {names - compressed.get(code, set())} not routed"


@needs_nv
@pytest.mark.parametrize(
    "name,code",
    [("JPEG2000.dcm", "lossy-j2k"), ("MR2_J2KI.dcm", "lossy-j2k"), ("JPEG-LL.dcm", "jpeg-lossless-high-bit")],
)
def test_gpu_backend_rules(name: str, code: str) -> None:
    """On the GPU: 9/7 J2K falls back when exact; >8-bit lossless JPEG on nvJPEG < 13.0.2."""
    path = next(p for p in CORPUS if p.name == name)
    plan = gd_plan.plan_file(path, backend="gpu", exact=True)
    if code == "jpeg-lossless-high-bit" and lossless_high_bit_ok(nvjpeg_version()):
        assert not plan.route.fallback
    else:
        assert plan.route.code == code
    if code == "lossy-j2k":
        assert not gd_plan.plan_file(path, backend="gpu", exact=False).route.fallback


@needs_nv
def test_fixed_nvjpeg_sends_high_bit_lossless_to_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    path = next(p for p in CORPUS if p.name == "JPEG-LL.dcm")
    monkeypatch.setattr(gd_plan, "nvjpeg_version", lambda: (13, 0, 2))
    assert not gd_plan.plan_file(path, backend="gpu", exact=True).route.fallback
    monkeypatch.setattr(gd_plan, "nvjpeg_version", lambda: (13, 0, 1))
    assert gd_plan.plan_file(path, backend="gpu", exact=True).route.code == "jpeg-lossless-high-bit"
    monkeypatch.setattr(gd_plan, "nvjpeg_version", lambda: None)
    assert gd_plan.plan_file(path, backend="gpu", exact=True).route.code == "jpeg-lossless-high-bit"


def test_nvjpeg_version_rule() -> None:
    assert not lossless_high_bit_ok(None)
    assert not lossless_high_bit_ok((12, 9, 99))
    assert lossless_high_bit_ok((13, 0, 2))
    assert lossless_high_bit_ok((13, 1, 0))
    v = nvjpeg_version()
    assert v is None or (len(v) == 3 and all(isinstance(x, int) for x in v))


# --- decode equality (nvImageCodec CPU-only backends) -----------------------------------


@needs_nv
@pytest.mark.parametrize("path", CORPUS, ids=[label(p) for p in CORPUS])
def test_decode_matches_pydicom(path: Path) -> None:
    ref = _pydicom(path)
    if ref is None:
        with pytest.raises(DicomError):
            decode_batch([path], device="cpu")
        return
    res = decode_batch([path], device="cpu")
    route = res.routes[0]
    expected = next((code for code, names in EXPECTED_CPU_FALLBACKS.items() if path.name in names), "")
    assert route.code == expected, route.detail
    assert route.decoder == ("cpu" if expected else "nvimgcodec")
    _same(res.arrays[0], ref)


@needs_nv
def test_batch_of_mixed_files_equals_single_decodes() -> None:
    names = ["MR2_J2KR.dcm", "JPEG2000.dcm", "emri_small_jpeg_2k_lossless.dcm", "SC_rgb_jpeg_gdcm.dcm", "US1_J2KR.dcm"]
    paths = [next(p for p in CORPUS if p.name == n) for n in names]
    res = decode_batch(paths, device="cpu", threads=2)
    assert [r.decoder for r in res.routes] == ["nvimgcodec", "cpu", "nvimgcodec", "nvimgcodec", "nvimgcodec"]
    assert set(res.fallbacks) == {1}
    for p, a in zip(paths, res.arrays, strict=True):
        _same(a, _pydicom(p))


@needs_nv
def test_synthetic_archive_series(archive: Path) -> None:
    """Every file of the J2K / HTJ2K / JPEG series: exact, signed J2K and lossy JPEG fall back."""
    files = sorted(archive.rglob("*.dcm"))
    res = decode_batch(files, device="cpu")
    seen = set()
    for p, a, route in zip(files, res.arrays, res.routes, strict=True):
        h = read_header(p)
        fam = family(h.transfer_syntax)
        seen.add(h.transfer_syntax)
        if fam == "jpeg":
            assert route.code == "lossy-dct"
        elif h.pixel_representation == 1:
            assert route.code == "signed-j2k-cpu"
        else:
            assert route.decoder == "nvimgcodec", route.detail
        _same(a, pydicom.dcmread(p).pixel_array)
    assert {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.50"} <= seen


@needs_nv
def test_lossy_jpeg_with_exact_false_is_within_idct_accuracy(archive: Path) -> None:
    """exact=False decodes DCT JPEG on nvImageCodec: greyscale within the +-1 per sample that
    ISO 10918-2 allows an IDCT; colour (decoder's own upsampling + YCbCr) close on average."""
    grey = [p for p in sorted(archive.rglob("*.dcm")) if family(read_header(p).transfer_syntax) == "jpeg"]
    colour = [p for p in CORPUS if p.name in ("SC_rgb_dcmtk_+eb+cy+n2.dcm", "examples_ybr_color.dcm")]
    res = decode_batch([*grey, *colour], device="cpu", exact=False)
    assert all(r.decoder == "nvimgcodec" for r in res.routes)
    for p, a in zip([*grey, *colour], res.arrays, strict=True):
        ref = pydicom.dcmread(p).pixel_array
        assert a.shape == ref.shape and a.dtype == ref.dtype
        diff = np.abs(a.astype(np.int64) - ref.astype(np.int64))
        if p in grey:
            assert diff.max() <= 1
        else:
            assert diff.mean() < 1.0


# --- inputs, outputs, fallbacks ---------------------------------------------------------


@needs_nv
def test_header_and_bytes_inputs_equal_path_input() -> None:
    p = next(p for p in CORPUS if p.name == "MR2_J2KR.dcm")
    ref = read_pixels(p)
    a, b, c = decode_frames([read_header(p), p.read_bytes(), str(p)], device="cpu")
    for x in (a, b, c):
        _same(x, ref)


@needs_nv
def test_torch_output_on_cpu() -> None:
    torch = pytest.importorskip("torch")
    p = next(p for p in CORPUS if p.name == "emri_small_jpeg_2k_lossless.dcm")
    (t,) = decode_frames([p], device="cpu", out="torch")
    assert isinstance(t, torch.Tensor) and t.device.type == "cpu"
    ref = read_pixels(p)
    assert tuple(t.shape) == ref.shape
    assert np.array_equal(t.numpy(), ref)


@pytest.mark.parametrize(
    "kwargs", [{"device": "cpu", "out": "cupy"}, {"device": "tpu"}, {"device": "cpu", "out": "jax"}]
)
def test_bad_arguments(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        decode_frames([], **kwargs)


def test_without_nvimgcodec_everything_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gd_decode, "nvimgcodec_available", lambda: False)
    paths = [p for p in CORPUS if p.name in ("MR2_J2KR.dcm", "SC_rgb_jpeg_gdcm.dcm")]
    res = decode_batch(paths, device="cpu")
    assert [r.code for r in res.routes] == ["no-nvimgcodec"] * len(paths)
    for p, a in zip(paths, res.arrays, strict=True):
        _same(a, read_pixels(p))


@needs_nv
def test_refused_frame_falls_back_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame nvImageCodec returns None for sends its file to the CPU path, named."""
    monkeypatch.setattr(gd_decode, "decode_many", lambda dec, frames, colour: [None] * len(frames))
    p = next(p for p in CORPUS if p.name == "MR2_J2KR.dcm")
    res = decode_batch([p], device="cpu")
    assert res.routes[0].code == "refused"
    _same(res.arrays[0], read_pixels(p))


@needs_nv
def test_native_and_other_codecs_fall_back_exactly() -> None:
    byname = {p.name: p for p in pixel_bearing()}
    paths = [byname[n] for n in ("CT_small.dcm", "MR_small_RLE.dcm", "JPEGLSNearLossless_16.dcm") if n in byname]
    assert paths
    res = decode_batch(paths, device="cpu")
    for p, a, r in zip(paths, res.arrays, res.routes, strict=True):
        assert r.code in ("uncompressed", "rle", "jpeg-ls")
        _same(a, _pydicom(p))


def test_backend_decoders_are_cached() -> None:
    if not nvimgcodec_available():
        pytest.skip("nvImageCodec (nvidia-nvimgcodec-cu12) not importable")
    assert gd_backend.get_decoder("cpu") is gd_backend.get_decoder("cpu")


# --- DALI -------------------------------------------------------------------------------


def _run_dali(feed: Any, batch_size: int) -> list[np.ndarray]:
    pipe = build_dali_pipeline(feed, batch_size=batch_size, device="cpu")
    frames: list[np.ndarray] = []
    while len(frames) < len(feed.codestreams):
        (out,) = pipe.run()
        frames += [np.asarray(out[i]) for i in range(len(out))]
    return frames[: len(feed.codestreams)]


def _frame(path: Path, k: int) -> np.ndarray:
    ref = pydicom.dcmread(path).pixel_array
    nf = int(getattr(pydicom.dcmread(path, stop_before_pixels=True), "NumberOfFrames", 1) or 1)
    return ref[k] if nf > 1 else ref


@needs_nv
@needs_dali
def test_dali_cpu_pipeline_j2k_htj2k_equals_pydicom(archive: Path) -> None:
    files = sorted(archive.rglob("IM_000[12].dcm"))
    feed = dali_feed(files, device="cpu")
    assert feed.codestreams and feed.bits == 16 and feed.samples_per_pixel == 1
    for i, r in feed.fallbacks.items():
        h = read_header(files[i])
        assert r.code == ("lossy-dct" if family(h.transfer_syntax) == "jpeg" else "signed-j2k-cpu")
    for (fi, k), got in zip(feed.refs, _run_dali(feed, batch_size=4), strict=True):
        ref = _frame(files[fi], k)
        assert got.shape == (*ref.shape, 1)
        assert np.array_equal(got[..., 0].astype(np.int64), ref.astype(np.int64))


@needs_nv
@needs_dali
@pytest.mark.parametrize("name", ["JPGLosslessP14SV1_1s_1f_8b.dcm", "SC_rgb_jpeg_gdcm.dcm"])
def test_dali_cpu_pipeline_lossless_jpeg_equals_pydicom(name: str) -> None:
    path = next(p for p in CORPUS if p.name == name)
    feed = dali_feed([path], device="cpu")
    assert not feed.fallbacks and feed.bits == 8
    (got,) = _run_dali(feed, batch_size=1)
    ref = _pydicom(path)
    assert np.array_equal(got.reshape(ref.shape), ref)


@needs_nv
@needs_dali
def test_dali_cpu_pipeline_baseline_jpeg_within_idct_accuracy(archive: Path) -> None:
    files = [p for p in sorted(archive.rglob("*.dcm")) if family(read_header(p).transfer_syntax) == "jpeg"]
    feed = dali_feed(files, device="cpu", exact=False)
    assert len(feed.codestreams) == len(files) and feed.bits == 8
    for (fi, k), got in zip(feed.refs, _run_dali(feed, batch_size=2), strict=True):
        ref = _frame(files[fi], k)
        assert np.abs(got[..., 0].astype(np.int64) - ref.astype(np.int64)).max() <= 1


def test_dali_feed_batches() -> None:
    from fastmed.dicom.gpu_decode.dali import DaliFeed

    feed = DaliFeed(codestreams=[np.zeros(1, np.uint8)] * 5)
    assert [len(b) for b in feed.batches(2)] == [2, 2, 1]
    with pytest.raises(ValueError):
        feed.batches(0)


# --- device backends --------------------------------------------------------------------

GPU_NAMES = ["MR2_J2KR.dcm", "US1_J2KR.dcm", "emri_small_jpeg_2k_lossless.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm"]


@pytest.mark.gpu
@needs_nv
def test_device_output_is_cupy_and_equal() -> None:
    import cupy

    paths = [p for p in CORPUS if p.name in GPU_NAMES]
    res = decode_batch(paths, device="cuda")
    assert res.device == "cuda"
    for p, a, r in zip(paths, res.arrays, res.routes, strict=True):
        assert isinstance(a, cupy.ndarray), r
        _same(cupy.asnumpy(a), _pydicom(p))


@pytest.mark.gpu
@needs_nv
def test_device_routes_over_corpus_are_exact() -> None:
    """Every file nvJPEG / nvJPEG2000 decodes (exact=True) equals pydicom after copy back."""
    import cupy

    for p in CORPUS:
        ref = _pydicom(p)
        if ref is None:
            continue
        res = decode_batch([p], device="cuda")
        assert res.routes[0].code in ("", *EXPECTED_CPU_FALLBACKS, "lossy-j2k", "refused"), res.routes[0]
        _same(cupy.asnumpy(res.arrays[0]), ref)


@pytest.mark.gpu
@needs_nv
def test_device_torch_via_dlpack() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA build here")
    p = next(p for p in CORPUS if p.name == "MR2_J2KR.dcm")
    (t,) = decode_frames([p], device="cuda", out="torch")
    assert t.is_cuda
    _same(t.cpu().numpy(), _pydicom(p))


@pytest.mark.gpu
@needs_nv
@needs_dali
def test_dali_mixed_pipeline_equals_pydicom(archive: Path) -> None:
    files = sorted(archive.rglob("IM_000[12].dcm"))
    feed = dali_feed(files, device="mixed")
    pipe = build_dali_pipeline(feed, batch_size=4, device="mixed")
    frames: list[np.ndarray] = []
    while len(frames) < len(feed.codestreams):
        (out,) = pipe.run()
        cpu = out.as_cpu()
        frames += [np.asarray(cpu[i]) for i in range(len(cpu))]
    for (fi, k), got in zip(feed.refs, frames, strict=False):
        ref = _frame(files[fi], k)
        assert np.array_equal(got[..., 0].astype(np.int64), ref.astype(np.int64))
