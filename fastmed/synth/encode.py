"""Transfer syntaxes: put one frame of stored integers into a dataset, encoded as asked."""

from __future__ import annotations

import imagecodecs
import numpy as np
import numpy.typing as npt
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate

EXPLICIT = str(uid.ExplicitVRLittleEndian)
IMPLICIT = str(uid.ImplicitVRLittleEndian)
DEFLATED = str(uid.DeflatedExplicitVRLittleEndian)
RLE = str(uid.RLELossless)
JPEG_LS = str(uid.JPEGLSLossless)
J2K = str(uid.JPEG2000Lossless)
HTJ2K = "1.2.840.10008.1.2.4.201"  # HTJ2K Lossless Only
JPEG_BASELINE = str(uid.JPEGBaseline8Bit)

LOSSLESS = (EXPLICIT, IMPLICIT, DEFLATED, RLE, JPEG_LS, J2K, HTJ2K)
"""Every lossless syntax the generator writes, in the order series cycle through them."""
ALL = (*LOSSLESS, JPEG_BASELINE)

NAMES = {
    "explicit": EXPLICIT,
    "implicit": IMPLICIT,
    "deflated": DEFLATED,
    "rle": RLE,
    "jpegls": JPEG_LS,
    "j2k": J2K,
    "htj2k": HTJ2K,
    "jpeg": JPEG_BASELINE,
}
"""Short names accepted wherever a transfer syntax is asked for."""

# pydicom encoders chosen by name so the bytes do not depend on which plugins happen to load first.
_PYDICOM_PLUGIN = {RLE: "pydicom", JPEG_LS: "pyjpegls", J2K: "pylibjpeg"}

JPEG_QUALITY = 92


def resolve(ts: str) -> str:
    """Return the UID for a short name or a UID, rejecting anything the generator cannot write."""
    u = NAMES.get(ts.lower(), ts)
    if u not in ALL:
        raise ValueError(f"unsupported transfer syntax {ts!r}; choose from {sorted(NAMES)} or their UIDs")
    return u


def set_pixels(ds: Dataset, frame: npt.NDArray[np.integer], ts: str) -> None:
    """Store ``frame`` (rows, cols) in ``ds`` under transfer syntax ``ts``.

    ``ds`` must already carry the Image Pixel attributes matching ``frame`` (Rows, Columns,
    Bits*, PixelRepresentation, PhotometricInterpretation) and a file meta with
    MediaStorageSOPInstanceUID; its SOPInstanceUID is left alone.
    """
    arr = np.ascontiguousarray(frame)
    if ts in (EXPLICIT, IMPLICIT, DEFLATED):
        ds.file_meta.TransferSyntaxUID = uid.UID(ts)
        ds.PixelData = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        ds["PixelData"].VR = "OB" if arr.dtype.itemsize == 1 else "OW"
        return
    if ts in _PYDICOM_PLUGIN:
        ds.compress(ts, arr, encoding_plugin=_PYDICOM_PLUGIN[ts], generate_instance_uid=False)
        return
    if ts == HTJ2K:
        encoded = imagecodecs.htj2k_encode(arr, reversible=True)
    elif ts == JPEG_BASELINE:
        if arr.dtype != np.uint8:
            raise ValueError("JPEG baseline holds 8-bit unsigned samples only")
        encoded = imagecodecs.jpeg8_encode(arr, level=JPEG_QUALITY)
        ds.LossyImageCompression = "01"
        ds.LossyImageCompressionMethod = "ISO_10918_1"
        ratio = arr.nbytes / max(1, len(encoded))
        ds.LossyImageCompressionRatio = f"{ratio:.2f}"
    else:
        raise ValueError(f"unsupported transfer syntax {ts}")
    ds.file_meta.TransferSyntaxUID = uid.UID(ts)
    ds.PixelData = encapsulate([bytes(encoded)])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
