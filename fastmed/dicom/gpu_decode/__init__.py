"""GPU decode path: compressed DICOM frames batch-decoded by nvImageCodec, output on the device.

The native parser (:func:`fastmed.dicom.read_header`) locates every frame's fragments;
the codestreams go to nvImageCodec in one batch (nvJPEG for JPEG baseline/extended/
lossless, nvJPEG2000 for JPEG 2000 and HTJ2K) and stay on the GPU as CuPy arrays or torch
CUDA tensors (DLPack). The same codestreams can feed DALI's ``fn.decoders.image``
(:func:`dali_feed`, :func:`build_dali_pipeline`). Results equal pydicom's ``pixel_array``
(the CPU path's own post-processing is reused).

Known gaps get a CPU fallback (fastmed's ``read_pixels`` decoders), each with a named
reason (:data:`~fastmed.dicom.gpu_decode.routes.REASONS`, docs/gpu_decode.md):

- JPEG-LS and RLE Lossless: nvImageCodec has no decoder for them.
- 9-16-bit lossless JPEG: nvJPEG older than 13.0.2 mis-decodes it (the loaded nvJPEG's
  version is read with ``nvjpegGetProperty``; unknown counts as old); nvImageCodec's CPU
  JPEG decoder does 8-bit lossless only.
- With ``exact=True`` (default): lossy DCT JPEG (IDCT and upsampling differ from pydicom's
  libjpeg by a few grey levels) and, on the GPU, irreversible 9/7 JPEG 2000.
- On the CPU-only backend: signed JPEG 2000 samples and 12-bit DCT JPEG (unsupported there).
- Anything nvImageCodec refuses, or whose decoded layout differs from the image module.
"""

from fastmed.dicom.gpu_decode.backend import cuda_available, nvimgcodec_available
from fastmed.dicom.gpu_decode.dali import DaliFeed, build_dali_pipeline, dali_available, dali_feed
from fastmed.dicom.gpu_decode.decode import DecodeResult, decode_batch, decode_frames
from fastmed.dicom.gpu_decode.nvjpeg_version import nvjpeg_version
from fastmed.dicom.gpu_decode.routes import REASONS, Route

__all__ = [
    "REASONS",
    "DaliFeed",
    "DecodeResult",
    "Route",
    "build_dali_pipeline",
    "cuda_available",
    "dali_available",
    "dali_feed",
    "decode_batch",
    "decode_frames",
    "nvimgcodec_available",
    "nvjpeg_version",
]
