"""The native RLE Lossless decoder against pydicom: oracle files, encoded random arrays, series, threads."""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastmed.dicom.codecs import rle_native
from fastmed.dicom.pixels import read_pixels
from fastmed.dicom.series_assembly import read_series

from ._testdata import all_files, label, pydicom_read

pydicom = pytest.importorskip("pydicom")
RLE = "1.2.840.10008.1.2.5"

pytestmark = pytest.mark.skipif(not rle_native.available(), reason="extension built without the RLE decoder")


def _rle_oracle_files() -> list[Path]:
    out = []
    for p in all_files():
        try:
            ds = pydicom_read(str(p), True)
            ts = ds.file_meta.TransferSyntaxUID
        except Exception:
            continue
        if ts == RLE and "PixelData" in ds:
            out.append(p)
    return out


ORACLE = _rle_oracle_files()


def test_oracle_holds_every_rle_file() -> None:
    if not ORACLE:
        pytest.skip("no pydicom test data")
    assert len(ORACLE) >= 12


@pytest.fixture
def native_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail if a frame reaches the per-frame plugin chain instead of the batch decoder."""
    import fastmed.dicom.encapsulated as enc

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("RLE frame took the plugin chain")

    monkeypatch.setattr(enc, "get_decoders", refuse)


@pytest.mark.parametrize("path", ORACLE, ids=[label(p) for p in ORACLE])
@pytest.mark.parametrize("threads", [1, 2])
def test_oracle_file_matches_pydicom(path: Path, threads: int, native_only: None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = pydicom.dcmread(str(path)).pixel_array
    got = read_pixels(path, threads=threads)
    assert got.dtype == expected.dtype
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("path", ORACLE, ids=[label(p) for p in ORACLE])
def test_oracle_frames_match_pydicom_frame_decoder(path: Path) -> None:
    """Raw planar bytes of every frame equal pydicom's own RLE frame decoder's."""
    from pydicom.encaps import generate_frames
    from pydicom.pixels.decoders.rle import _rle_decode_frame

    ds = pydicom_read(str(path), True)
    nframes = int(ds.get("NumberOfFrames") or 1)
    opts = {
        "pixel_keyword": "PixelData",
        "rows": ds.Rows,
        "columns": ds.Columns,
        "samples_per_pixel": ds.SamplesPerPixel,
        "bits_allocated": ds.BitsAllocated,
        "bits_stored": ds.BitsStored,
        "pixel_representation": ds.PixelRepresentation,
    }
    for frame in generate_frames(ds.PixelData, number_of_frames=nframes):
        expected = _rle_decode_frame(frame, ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.BitsAllocated)
        assert bytes(rle_native.decode_frame(frame, dict(opts))) == bytes(expected)


# --- encoded random arrays --------------------------------------------------------------------


def _frame(arr: np.ndarray) -> bytes:
    """One frame (rows, cols(, samples)) as RLE: byte planes most significant first, by pydicom's segment encoder."""
    from pydicom.pixels.encoders.native import _encode_segment

    planes = arr.reshape(arr.shape[0], arr.shape[1], -1).transpose(2, 0, 1)  # samples first
    segments = []
    for plane in planes:
        le = np.ascontiguousarray(plane).astype(plane.dtype.newbyteorder("<"))
        as_bytes = le.view(np.uint8).reshape(*le.shape, le.dtype.itemsize)
        for k in reversed(range(le.dtype.itemsize)):
            segments.append(bytes(_encode_segment(np.ascontiguousarray(as_bytes[..., k]).tobytes(), arr.shape[1])))
    offsets, at = [], 64
    for seg in segments:
        offsets.append(at)
        at += len(seg)
    header = np.zeros(16, "<u4")
    header[0] = len(segments)
    header[1 : 1 + len(segments)] = offsets
    return header.tobytes() + b"".join(segments)


def _dataset(arr: np.ndarray, bits_stored: int, samples: int) -> bytes:
    """`arr` ((frames,) rows, cols(, samples)) as an RLE Lossless Part-10 file, encoded by pydicom.

    ``Dataset.compress`` where pydicom's encoding profiles allow it (8/16 bits, unsigned colour),
    else frames built from pydicom's segment encoder.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import ExplicitVRLittleEndian, RLELossless, SecondaryCaptureImageStorage

    frames = arr.shape[0] if arr.ndim == (4 if samples == 3 else 3) else 1
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.Rows, ds.Columns = arr.shape[-3:-1] if samples == 3 else arr.shape[-2:]
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = arr.dtype.itemsize * 8
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = int(arr.dtype.kind == "i")
    if arr.dtype.itemsize <= 2 and (samples == 1 or arr.dtype.kind == "u"):
        ds.compress(RLELossless, arr, encoding_plugin="pydicom")
    else:
        ds.file_meta.TransferSyntaxUID = RLELossless
        ds.PixelData = encapsulate([_frame(f) for f in (arr if frames > 1 else arr[None])])
        ds["PixelData"].VR = "OB"
    bio = BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


@st.composite
def _images(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    dtype = np.dtype(draw(st.sampled_from(["u1", "i1", "u2", "i2", "u4", "i4"])))
    bits = dtype.itemsize * 8
    bits_stored = draw(st.integers(max(1, bits - 7), bits))
    samples = draw(st.sampled_from([1, 1, 3])) if dtype.itemsize <= 4 else 1
    frames = draw(st.integers(1, 3))
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 40))
    shape: tuple[int, ...] = (rows, cols) + ((samples,) if samples == 3 else ())
    if frames > 1:
        shape = (frames, *shape)
    signed = dtype.kind == "i"
    lo, hi = (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if signed else (0, (1 << bits_stored) - 1)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Runs and noise, so both PackBits branches (and runs longer than 128) appear.
    flat = rng.integers(lo, hi, size=int(np.prod(shape)), endpoint=True, dtype=np.int64)
    if draw(st.booleans()):
        flat = np.repeat(flat[: max(1, flat.size // 50)], 50)[: flat.size]
        flat = np.pad(flat, (0, int(np.prod(shape)) - flat.size), mode="edge")
    return flat.astype(dtype).reshape(shape), bits_stored, samples


@given(_images())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_encoded_arrays_round_trip(image: tuple[np.ndarray, int, int]) -> None:
    arr, bits_stored, samples = image
    data = _dataset(arr, bits_stored, samples)
    got = read_pixels(data)
    assert got.dtype == arr.dtype
    np.testing.assert_array_equal(got, arr)
    np.testing.assert_array_equal(got, pydicom.dcmread(BytesIO(data)).pixel_array)


def test_multi_fragment_frames() -> None:
    """A frame split over several fragments decodes as when it is one."""
    from pydicom.encaps import encapsulate, generate_frames

    arr = (np.arange(3 * 30 * 20, dtype=np.int32).reshape(3, 30, 20) % 3000 - 1500).astype(np.int16)
    data = _dataset(arr, 16, 1)
    ds = pydicom.dcmread(BytesIO(data))
    frames = list(generate_frames(ds.PixelData, number_of_frames=3))
    ds.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=True)
    bio = BytesIO()
    ds.save_as(bio)
    split = bio.getvalue()
    np.testing.assert_array_equal(read_pixels(split), arr)
    np.testing.assert_array_equal(read_pixels(split), pydicom.dcmread(BytesIO(split)).pixel_array)


# --- series ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rle_series(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synth = pytest.importorskip("fastmed.synth")
    root = tmp_path_factory.mktemp("rle-series")
    synth.generate_archive(root, studies=1, seed=5, shape=(12, 40, 36), transfer_syntaxes=["rle"])
    return root / "study_000" / "series_000"


@pytest.mark.parametrize("threads", [1, 2])
def test_series_matches_pydicom(rle_series: Path, threads: int, native_only: None) -> None:
    vol = read_series(rle_series, threads=threads, rescale=False)
    expected = np.stack([pydicom.dcmread(f).pixel_array for f in vol.meta["files"]])
    assert vol.array.dtype == expected.dtype
    np.testing.assert_array_equal(vol.array, expected)


def _write_series(folder: Path, planes: np.ndarray, bits_stored: int, slope: float, intercept: float) -> None:
    for z, plane in enumerate(planes):
        ds = pydicom.dcmread(BytesIO(_dataset(plane, bits_stored, 1)))
        ds.SeriesInstanceUID = "1.2.3.9"
        ds.ImagePositionPatient = [0.0, 0.0, float(z)]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [1.0, 1.0]
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.SOPInstanceUID = f"1.2.3.4.{z}"
        ds.save_as(folder / f"s{z}.dcm")


def test_series_of_signed_partial_bits(tmp_path: Path, native_only: None) -> None:
    """Signed 12-of-16-bit slices: the decoder sign-extends as pydicom does, one plane per file."""
    rng = np.random.default_rng(7)
    _write_series(tmp_path, rng.integers(-2048, 2047, size=(5, 16, 24), endpoint=True).astype(np.int16), 12, 1, 0)
    vol = read_series(tmp_path, threads=2, rescale=False)
    expected = np.stack([pydicom.dcmread(f).pixel_array for f in vol.meta["files"]])
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, expected)


# dtype, bits stored, slope, intercept, the native calls made (True: with the fused rescale)
RESCALES = {
    "ct": ("u2", 12, 1.0, -1024.0, [True]),  # the usual CT case: int16 written by the decoder
    "signed ct": ("i2", 16, 1.0, -1024.0, [True, False]),  # overflows int16: raw again, float32
    "slope 2": ("i2", 12, 2.0, 5.0, [True]),
    "negative slope": ("u2", 10, -3.0, 100.0, [True]),
    "8 bit": ("u1", 8, 4.0, -7.0, [True]),
    "32 bit": ("i4", 20, 1.0, 3.0, [True, False]),
    "fractional": ("u2", 12, 0.5, -1.0, [False]),  # float32
    "large slope": ("u2", 12, 30.0, 0.0, [True, False]),  # 4095 * 30 > 32767
}


@pytest.mark.parametrize("case", list(RESCALES), ids=list(RESCALES))
def test_series_rescale_matches_pydicom(
    case: str, tmp_path: Path, native_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decoder's fused rescale gives the dtype and values the separate rescale gives, and pydicom's values."""
    from fastmed.dicom.series_pixels import rescale_slices

    code, bits_stored, slope, intercept, expected_calls = RESCALES[case]
    dtype = np.dtype(code)
    lo, hi = (
        (-(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1) if dtype.kind == "i" else (0, (1 << bits_stored) - 1)
    )
    rng = np.random.default_rng(len(case))
    planes = rng.integers(lo, hi, size=(3, 8, 12), endpoint=True).astype(dtype)
    planes[0, 0, :2] = lo, hi  # the full range, so overflow cases overflow
    _write_series(tmp_path, planes, bits_stored, slope, intercept)
    calls: list[tuple[str, bool]] = []
    monkeypatch.setattr(rle_native, "core", _Spy(rle_native.core(), calls).get)
    for threads in (1, 2):
        calls.clear()
        vol = read_series(tmp_path, threads=threads, rescale=True)
        assert [rescaled for _, rescaled in calls] == expected_calls
        assert calls[0][0] == "rle_decode_series"  # one native call reads, checks and decodes every file
        raw = read_series(tmp_path, threads=threads, rescale=False)
        separate = rescale_slices(raw.array, [_Slice(slope, intercept)] * 3)  # type: ignore[list-item]
        assert vol.array.dtype == separate.dtype
        np.testing.assert_array_equal(vol.array, separate)
        oracle = np.stack(
            [
                pydicom.pixels.apply_rescale(pydicom.dcmread(f).pixel_array, pydicom.dcmread(f))
                for f in vol.meta["files"]
            ]
        )
        np.testing.assert_array_equal(vol.array.astype(np.float64), oracle)


class _Slice:
    def __init__(self, slope: float, intercept: float) -> None:
        self.rescale_slope, self.rescale_intercept = slope, intercept


class _Spy:
    """Wraps the extension: records each native RLE call and whether it was asked to rescale."""

    def __init__(self, real: Any, calls: list[tuple[str, bool]]) -> None:
        self.real, self.calls = real, calls

    def get(self) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self.real, name)
        if not name.startswith("rle_decode"):
            return fn

        def call(*args: Any) -> Any:
            self.calls.append((name, args[-2] is not None))  # every rle_decode_* takes (..., rescale, threads)
            return fn(*args)

        return call


@pytest.mark.parametrize("change", ["bits stored", "signed", "multi-frame"])
def test_series_with_a_different_file(change: str, tmp_path: Path) -> None:
    """One file whose pixel module (or encoding) differs from the first's: still pydicom's values."""
    rng = np.random.default_rng(3)
    _write_series(tmp_path, rng.integers(0, 4095, size=(4, 8, 12), endpoint=True).astype(np.uint16), 12, 1, -1024)
    odd = tmp_path / "s2.dcm"
    ds = pydicom.dcmread(odd)
    if change == "bits stored":
        ds.BitsStored, ds.HighBit = 16, 15
        ds.save_as(odd)
    elif change == "signed":
        ds.PixelRepresentation = 1
        ds.save_as(odd)
    else:
        ds.NumberOfFrames = 1
        ds.save_as(odd)
    vol = read_series(tmp_path, threads=2, rescale=True)
    expected = np.stack(
        [pydicom.pixels.apply_rescale(pydicom.dcmread(f).pixel_array, pydicom.dcmread(f)) for f in vol.meta["files"]]
    )
    np.testing.assert_array_equal(vol.array.astype(np.float64), expected)
