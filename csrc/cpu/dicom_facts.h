// Slice facts: the few values series grouping and geometry need, decoded to numbers in
// C++ (host only, no Python), so a batch of files is read with the GIL released and
// handed over as columns.
//
// The facts are read with the one parser of csrc/cpu/dicom.h (every bounds check kept)
// and decoded with the same rules as the Python header path (fastmed/dicom/header.py +
// slice_reader.py) so both give identical SliceInfo records. Files those rules do not cover
// cheaply (an unexpected VR on one of these tags, enhanced multi-frame, deflated) are
// flagged for the Python paths instead of being guessed at.
#pragma once

#include <string>
#include <vector>

#include "dicom.h"
#include "dicom_file.h"
#include "fastmed/common.h"

namespace fm {
namespace dicom {

// Columns of SliceFacts::num (mirrored in fastmed/dicom/slice_columns.py).
enum FactColumn : int {
  kRows = 0,
  kColumns = 1,
  kPixelSpacing = 2,   // 2 values
  kOrientation = 4,    // 6 values
  kPosition = 10,      // 3 values
  kFrames = 13,
  kSlope = 14,
  kIntercept = 15,
  kInstance = 16,
  kAcquisition = 17,
  kThickness = 18,
  kTilt = 19,
  kSamples = 20,
  kNumFacts = 21,
};

// Bits of SliceFacts::mask: which optional values are present.
enum FactBit : u32 {
  kHasPixelSpacing = 1u << 0,
  kHasOrientation = 1u << 1,
  kHasPosition = 1u << 2,
  kHasInstance = 1u << 3,
  kHasAcquisition = 1u << 4,
  kHasThickness = 1u << 5,
  kHasTilt = 1u << 6,
};

enum FactStatus : u8 {
  kFactsOk = 0,
  kFactsError = 1,     // err_kind / err_offset / reason: as the header parser reports it
  kFactsDeflated = 2,  // inflate [dataset_offset, end) and read the facts of the dataset
  kFactsSlow = 3,      // a tag has a VR these rules do not decode: use the Python header path
  kFactsEnhanced = 4,  // Per-Frame Functional Groups present: per-frame geometry (pydicom path)
  kFactsNeedMore = 5,  // (buffers only) the bytes ended before the header did: give more
};

struct SliceFacts {
  u8 status = kFactsOk;
  double num[kNumFacts] = {};
  u32 mask = 0;
  std::string series_uid, modality, image_type, transfer_syntax;
  std::string study_uid;  // StudyInstanceUID (one string, else ""): keyed in Python, never stored raw
  int err_kind = 0;  // ErrorKind, or 3 for an I/O error (then err_offset is errno)
  u64 err_offset = 0;
  std::string reason;
  u64 dataset_offset = 0;
  u64 header_end = 0;  // bytes of the (inflated) dataset the header walk needed
  FileStat stat;
};

// The (tag, dictionary VR) requests the facts need.
const std::vector<Request>& fact_requests();

// Parses `size` bytes and fills `out` (status Ok / Deflated / Slow / Enhanced). With
// `prefix` true the bytes are only the start of the data: if the walk ran out of bytes
// before it stopped, status is NeedMore. Throws Error on bad input (complete data).
void slice_facts(const u8* data, u64 size, bool prefix, const ParseOptions& opts, SliceFacts& out);

// Reads the facts of a file: one pread of `prefix_bytes` (whole file if shorter), the
// whole file by mmap when the header goes on beyond (or prefix_bytes == 0). Deflated
// datasets are inflated here when `inflate` and zlib is available (else status Deflated).
// Never throws: failures are recorded in `out` (status Error). `scratch` is a reusable
// read buffer.
void file_slice_facts(const std::string& path, u64 prefix_bytes, bool inflate, std::vector<u8>& scratch,
                      SliceFacts& out);

}  // namespace dicom
}  // namespace fm
