// DICOM RLE Lossless (PS3.5 Annex G) decoding, many frames in one call.
//
// A frame is a 64-byte header (segment count, then up to 15 segment offsets, little
// endian u32) and PackBits segments: one per byte plane of each sample, most significant
// byte first, samples one after another. Frames decode to planar little endian samples
// (all of sample 0, then all of sample 1...), the layout pydicom's RLE decoder gives.
//
// Accepts and refuses exactly what pydicom's decoder does: the segment count must equal
// samples x bytes per sample (1..15), every segment must start inside the frame and after
// the previous one, and every segment must decode to at least Rows x Columns bytes (extra
// bytes are dropped). Every offset and length is checked against the frame's bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "dicom.h"
#include "fastmed/common.h"

namespace fm {
namespace rle {

// How one decoded frame is laid out in the output.
struct Layout {
  u64 rows = 0;
  u64 columns = 0;
  u64 samples = 1;           // samples per pixel
  u64 bytes_per_sample = 1;  // 1, 2, 4 or 8
  u32 unused_bits = 0;       // high bits to sign-extend (signed) or clear (unsigned), as pydicom
  bool is_signed = false;
  // Fused rescale: write int16 (value * slope + intercept) modulo 2^16, which is the exact
  // result whenever every result fits int16 (the caller checks that with the min and max
  // values the batch reports). Samples of at most 4 bytes.
  bool rescale = false;
  u16 slope = 1;
  u16 intercept = 0;
  u64 out_bytes() const { return rescale ? 2 : bytes_per_sample; }
  u64 frame_bytes() const { return rows * columns * samples * out_bytes(); }
};

// Kinds match the native DICOM parser's (fastmed/dicom/_native_errors.py).
enum class ErrorKind : int { kTruncated = 0, kFormat = 1, kUnsupported = 2, kIo = 3 };

// Thrown by decode_frame / check_layout; `reason` names the problem, never data values.
struct Error {
  ErrorKind kind;
  std::string reason;
};

// Throws Error when the layout cannot describe RLE output (sizes 0 or too large,
// bytes per sample not 1/2/4/8, more than 15 segments, unused bits >= the sample width).
void check_layout(const Layout& layout);

// Smallest and largest decoded value (after the unused-bit fix, before any rescale).
struct Range64 {
  i64 min = INT64_MAX;
  i64 max = INT64_MIN;
};

// Decodes one frame (`src`, `n` bytes) into `dst` (layout.frame_bytes() bytes); with
// layout.rescale, widens `range` by the frame's values. `scratch` is reused between calls.
// Throws Error on malformed data; dst is then undefined.
void decode_frame(const u8* src, u64 n, const Layout& layout, u8* dst, std::vector<u8>& scratch, Range64& range);

// A byte source (a file's bytes, a buffer) frames are cut from.
struct Source {
  const u8* data = nullptr;
  u64 size = 0;
};

// Frame f is the concatenation of pieces [frame_index[f], frame_index[f + 1]) of
// `pieces` ((offset, length) pairs into sources[frame_source[f]]); it decodes to
// out + f * layout.frame_bytes().
struct Batch {
  const i64* pieces = nullptr;  // npieces x 2
  i64 npieces = 0;
  const i64* frame_index = nullptr;   // nframes + 1
  const i64* frame_source = nullptr;  // nframes
  i64 nframes = 0;
};

// The first failing frame (lowest index), if any.
struct BatchResult {
  bool failed = false;
  i64 frame = -1;
  ErrorKind kind = ErrorKind::kFormat;
  std::string reason;
  int err = 0;  // errno for kIo
  u64 offset = 0;  // byte offset of the failing frame's data, where known (0: not known)
  Range64 range;   // of every frame, with layout.rescale
};

// Checks the batch tables (indices, ranges against the sources) and decodes every frame
// on `threads` threads of the native pool (<= 0: the pool's size). Never throws Error.
BatchResult decode_batch(const std::vector<Source>& sources, const Batch& batch, const Layout& layout, u8* out,
                         int threads);

// As decode_batch, sources being files mapped (read-only) for the call.
BatchResult decode_batch_files(const std::vector<std::string>& paths, const Batch& batch, const Layout& layout,
                               u8* out, int threads);

// A series of single-frame files, plane i = paths[i] (rle_series.cpp). Each file is read
// whole and parsed (the native parser, `requests` being the pixel-module tags); `mismatch`
// is the first file whose requested elements, transfer syntax, pixel element or frame
// count differ from file 0's, or that cannot be read or parsed: the caller must then take
// its per-file path (which validates each header itself), and `out` is undefined. Else
// `batch` holds the first decode failure, if any, with `frame` the file index.
struct SeriesResult {
  BatchResult batch;
  i64 mismatch = -1;
};

SeriesResult decode_series_files(const std::vector<std::string>& paths, const std::vector<dicom::Request>& requests,
                                 const Layout& layout, u8* out, int threads);

}  // namespace rle
}  // namespace fm
