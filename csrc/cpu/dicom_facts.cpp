// Slice facts: header parse + decoding of the grouping/geometry values, no Python.
//
// Every rule below mirrors what the Python header path makes of the same element
// (value_to_py in dicom_values.cpp, then DicomHeader._int/_float/_floats and
// headers.slice_infos_from_header): the two paths must give identical SliceInfo records.
#include "dicom_facts.h"

#include <cmath>
#include <cstring>
#include <utility>
#include <string>
#include <vector>

#include "dicom_numbers.h"

namespace fm {
namespace dicom {

namespace {

constexpr u32 kSeriesUid = 0x0020000Eu;
constexpr u32 kStudyUid = 0x0020000Du;
constexpr u32 kRowsTag = 0x00280010u;
constexpr u32 kColumnsTag = 0x00280011u;
constexpr u32 kPixelSpacingTag = 0x00280030u;
constexpr u32 kOrientationTag = 0x00200037u;
constexpr u32 kPositionTag = 0x00200032u;
constexpr u32 kSlopeTag = 0x00281053u;
constexpr u32 kInterceptTag = 0x00281052u;
constexpr u32 kInstanceTag = 0x00200013u;
constexpr u32 kAcquisitionTag = 0x00200012u;
constexpr u32 kImageTypeTag = 0x00080008u;
constexpr u32 kModalityTag = 0x00080060u;
constexpr u32 kThicknessTag = 0x00180050u;
constexpr u32 kTiltTag = 0x00181120u;
constexpr u32 kSamplesTag = 0x00280002u;
constexpr u32 kPerFrameTag = 0x52009230u;
constexpr u32 kFrameIncrementTag = 0x00280009u;
constexpr u32 kGridFrameOffsetTag = 0x3004000Cu;

// Values above this are not copied to Python by the header path (None there): same here.
constexpr u64 kMaxValue = u64(1) << 20;
// Integers of IS values beyond 2^53 are exact ints in the header path but not in a double.
constexpr double kExactInt = 9007199254740992.0;

// Decoded numeric value: `count` components, `ok` when every one is a number.
struct Numbers {
  int count = 0;
  bool ok = false;        // all components are numbers (and there is at least one)
  bool first_ok = false;  // the first component is a number
  double v[8] = {};
};

bool is_space_or_nul(u8 c) { return c == ' ' || c == '\0'; }

// Strip as value_to_py does: trailing ' '/NUL, and leading ' ' when `leading`.
void strip(const u8* p, u64 n, bool leading, u64& b, u64& e) {
  b = 0;
  e = n;
  while (e > 0 && is_space_or_nul(p[e - 1])) --e;
  if (leading)
    while (b < e && p[b] == ' ') ++b;
}

template <typename T>
double load(const u8* p, bool little) {
  u8 b[sizeof(T)];
  std::memcpy(b, p, sizeof(T));
  if (!little)
    for (size_t j = 0; j < sizeof(T) / 2; ++j) std::swap(b[j], b[sizeof(T) - 1 - j]);
  T x;
  std::memcpy(&x, b, sizeof(T));
  return static_cast<double>(x);
}

template <typename T>
void binary_numbers(const u8* p, u64 n, bool little, Numbers& out) {
  const u64 k = n / sizeof(T);
  out.count = k > 1000000 ? 1000000 : static_cast<int>(k);
  out.ok = out.first_ok = k > 0;
  for (u64 i = 0; i < k && i < 8; ++i) out.v[i] = load<T>(p + i * sizeof(T), little);
}

// Returns false when the VR is not one these rules decode (the caller takes the slow path).
bool decode_numbers(const u8* data, const Element& e, bool little, Numbers& out) {
  out = Numbers();
  if (e.vr == kVrSQ) return false;  // the header path gives the item count here
  if (e.length > kMaxValue) return true;  // None
  const u8* p = data + e.value_offset;
  const u64 n = e.length;
  switch (e.vr) {
    case vr_code('U', 'S'): binary_numbers<u16>(p, n, little, out); return true;
    case vr_code('S', 'S'): binary_numbers<i16>(p, n, little, out); return true;
    case vr_code('U', 'L'): binary_numbers<u32>(p, n, little, out); return true;
    case vr_code('S', 'L'): binary_numbers<i32>(p, n, little, out); return true;
    case vr_code('F', 'L'): binary_numbers<float>(p, n, little, out); return true;
    case vr_code('F', 'D'): binary_numbers<double>(p, n, little, out); return true;
    case vr_code('I', 'S'):
    case vr_code('D', 'S'): break;
    default: return false;
  }
  const bool integer = e.vr == vr_code('I', 'S');
  u64 b, en;
  strip(p, n, true, b, en);
  if (b == en) return true;  // empty value: None
  out.ok = true;
  u64 start = 0;
  int count = 0;
  while (true) {
    u64 k = start;
    while (k < n && p[k] != '\\') ++k;
    u64 cb, ce;
    strip(p + start, k - start, true, cb, ce);
    const char* c = reinterpret_cast<const char*>(p + start + cb);
    const size_t len = static_cast<size_t>(ce - cb);
    double d = 0.0;
    bool num = false;
    if (len > 0) {
      i64 iv = 0;
      if (integer && parse_int_literal(c, len, &iv)) {
        if (std::fabs(static_cast<double>(iv)) > kExactInt) return false;
        d = static_cast<double>(iv);
        num = true;
      } else {
        num = parse_py_float(c, len, &d);
      }
    }
    if (count < 8) out.v[count] = d;
    if (count == 0) out.first_ok = num;
    if (!num) out.ok = false;
    if (count < 1000000) ++count;
    if (k >= n) break;
    start = k + 1;
  }
  out.count = count;
  return true;
}

// Text value as the header path shows it to `isinstance(v, str)` consumers.
enum class Text { None, One, Many, Other, Slow };

bool is_split_vr(u16 vr) {
  switch (vr) {
    case vr_code('A', 'S'): case vr_code('C', 'S'): case vr_code('D', 'A'): case vr_code('D', 'T'):
    case vr_code('L', 'O'): case vr_code('P', 'N'): case vr_code('S', 'H'): case vr_code('T', 'M'):
    case vr_code('U', 'C'): case vr_code('U', 'I'):
      return true;
    default:
      return false;
  }
}

bool is_long_text_vr(u16 vr) {
  return vr == vr_code('L', 'T') || vr == vr_code('S', 'T') || vr == vr_code('U', 'T') || vr == vr_code('U', 'R');
}

// `s` gets the value with its trailing padding stripped (components split by '\').
Text decode_text(const u8* data, const Element& e, std::string& s) {
  s.clear();
  if (e.vr == vr_code('A', 'E')) return Text::Slow;  // AE strips every component: not worth a rule
  const bool split = is_split_vr(e.vr);
  if (!split && !is_long_text_vr(e.vr)) return Text::Other;  // a number, bytes or an item count
  if (e.length > kMaxValue) return Text::None;
  u64 b, en;
  strip(data + e.value_offset, e.length, false, b, en);
  if (en == 0) return Text::None;
  s.assign(reinterpret_cast<const char*>(data + e.value_offset), static_cast<size_t>(en));
  if (split && s.find('\\') != std::string::npos) return Text::Many;
  return Text::One;
}

struct Found {
  const Element* uid = nullptr;
  const Element* study = nullptr;
  const Element* rows = nullptr;
  const Element* columns = nullptr;
  const Element* spacing = nullptr;
  const Element* orientation = nullptr;
  const Element* position = nullptr;
  const Element* frames = nullptr;
  const Element* slope = nullptr;
  const Element* intercept = nullptr;
  const Element* instance = nullptr;
  const Element* acquisition = nullptr;
  const Element* image_type = nullptr;
  const Element* modality = nullptr;
  const Element* thickness = nullptr;
  const Element* tilt = nullptr;
  const Element* samples = nullptr;
  const Element* per_frame = nullptr;
  const Element* frame_increment = nullptr;
};

// The last occurrence wins, as in the header path's dict.
Found collect(const Header& h) {
  Found f;
  for (const Element& e : h.elements) {
    switch (e.tag) {
      case kSeriesUid: f.uid = &e; break;
      case kStudyUid: f.study = &e; break;
      case kRowsTag: f.rows = &e; break;
      case kColumnsTag: f.columns = &e; break;
      case kPixelSpacingTag: f.spacing = &e; break;
      case kOrientationTag: f.orientation = &e; break;
      case kPositionTag: f.position = &e; break;
      case kNumberOfFrames: f.frames = &e; break;
      case kSlopeTag: f.slope = &e; break;
      case kInterceptTag: f.intercept = &e; break;
      case kInstanceTag: f.instance = &e; break;
      case kAcquisitionTag: f.acquisition = &e; break;
      case kImageTypeTag: f.image_type = &e; break;
      case kModalityTag: f.modality = &e; break;
      case kThicknessTag: f.thickness = &e; break;
      case kTiltTag: f.tilt = &e; break;
      case kSamplesTag: f.samples = &e; break;
      case kPerFrameTag: f.per_frame = &e; break;
      case kFrameIncrementTag: f.frame_increment = &e; break;
      default: break;
    }
  }
  return f;
}

// True when a Frame Increment Pointer (AT) names (3004,000C), or its VR is not AT (let
// the header path decide).
bool names_grid_offsets(const u8* data, const Element& e, bool little) {
  if (e.vr != vr_code('A', 'T')) return true;
  for (u64 i = 0; i + 4 <= e.length && i < kMaxValue; i += 4) {
    const u8* p = data + e.value_offset + i;
    const u32 g = little ? u32(p[0] | (p[1] << 8)) : u32((p[0] << 8) | p[1]);
    const u32 el = little ? u32(p[2] | (p[3] << 8)) : u32((p[2] << 8) | p[3]);
    if (((g << 16) | el) == kGridFrameOffsetTag) return true;
  }
  return false;
}

// Decodes the facts from a parsed header; returns false for the slow path.
bool fill(const u8* data, const Header& h, SliceFacts& out) {
  const Found f = collect(h);
  const bool little = h.syntax.little;  // none of these tags is in group 0002
  if (f.per_frame) {
    if (f.per_frame->vr != kVrSQ) return false;
    if (f.per_frame->items > 0) {
      out.status = kFactsEnhanced;
      return true;
    }
  }
  Numbers v;
  // DicomHeader._int(key, default): first component, int(); default when absent or not a number.
  auto as_int = [&](const Element* e, double dflt, double* dst) {
    if (!e) {
      *dst = dflt;
      return true;
    }
    if (!decode_numbers(data, *e, little, v)) return false;
    *dst = (v.first_ok && std::isfinite(v.v[0])) ? std::trunc(v.v[0]) : dflt;
    return true;
  };
  // DicomHeader._float(key, default) / headers._opt_float: first component, float().
  auto as_float = [&](const Element* e, double dflt, double* dst, u32 bit) {
    *dst = dflt;
    if (!e) return true;
    if (!decode_numbers(data, *e, little, v)) return false;
    if (v.first_ok) {
      *dst = v.v[0];
      out.mask |= bit;
    }
    return true;
  };
  // headers._opt_int: int(float(first component)); None when absent, not a number or not finite.
  auto as_opt_int = [&](const Element* e, double* dst, u32 bit) {
    *dst = 0.0;
    if (!e) return true;
    if (!decode_numbers(data, *e, little, v)) return false;
    if (v.first_ok && std::isfinite(v.v[0])) {
      *dst = std::trunc(v.v[0]);
      out.mask |= bit;
    }
    return true;
  };
  // DicomHeader._floats(key, n): every component a number and exactly n of them.
  auto as_floats = [&](const Element* e, int n, double* dst, u32 bit) {
    if (!e) return true;
    if (!decode_numbers(data, *e, little, v)) return false;
    if (v.ok && v.count == n) {
      for (int i = 0; i < n; ++i) dst[i] = v.v[i];
      out.mask |= bit;
    }
    return true;
  };
  double* num = out.num;
  if (!as_int(f.rows, 0.0, &num[kRows]) || !as_int(f.columns, 0.0, &num[kColumns])) return false;
  if (!as_int(f.frames, 1.0, &num[kFrames]) || !as_int(f.samples, 1.0, &num[kSamples])) return false;
  if (num[kFrames] == 0.0) num[kFrames] = 1.0;  // `or 1`
  if (num[kSamples] == 0.0) num[kSamples] = 1.0;
  // Frames placed by a Frame Increment Pointer to the Grid Frame Offset Vector (RT Dose,
  // NM): per-frame positions come from that vector, which the header path reads.
  if (f.frame_increment && num[kFrames] > 1.0 && names_grid_offsets(data, *f.frame_increment, little)) return false;
  if (!as_float(f.slope, 1.0, &num[kSlope], 0) || !as_float(f.intercept, 0.0, &num[kIntercept], 0)) return false;
  if (!as_float(f.thickness, 0.0, &num[kThickness], kHasThickness)) return false;
  if (!as_float(f.tilt, 0.0, &num[kTilt], kHasTilt)) return false;
  if (!as_opt_int(f.instance, &num[kInstance], kHasInstance)) return false;
  if (!as_opt_int(f.acquisition, &num[kAcquisition], kHasAcquisition)) return false;
  if (!as_floats(f.spacing, 2, &num[kPixelSpacing], kHasPixelSpacing)) return false;
  if (!as_floats(f.orientation, 6, &num[kOrientation], kHasOrientation)) return false;
  if (!as_floats(f.position, 3, &num[kPosition], kHasPosition)) return false;

  // SeriesInstanceUID / StudyInstanceUID / Modality: the value when it is one string, else "".
  for (auto [e, dst] : {std::make_pair(f.uid, &out.series_uid), std::make_pair(f.study, &out.study_uid),
                        std::make_pair(f.modality, &out.modality)}) {
    if (!e) continue;
    const Text t = decode_text(data, *e, *dst);
    if (t == Text::Slow) return false;
    if (t != Text::One) dst->clear();
  }
  // ImageType: its components (joined by '\' here, split in Python).
  if (f.image_type) {
    const Text t = decode_text(data, *f.image_type, out.image_type);
    if (t == Text::Slow || t == Text::Other) return false;
  }
  out.transfer_syntax = h.transfer_syntax;
  return true;
}

}  // namespace

const std::vector<Request>& fact_requests() {
  static const std::vector<Request> req = {
      {kSeriesUid, vr_code('U', 'I')},       {kStudyUid, vr_code('U', 'I')},
      {kRowsTag, vr_code('U', 'S')},
      {kColumnsTag, vr_code('U', 'S')},      {kPixelSpacingTag, vr_code('D', 'S')},
      {kOrientationTag, vr_code('D', 'S')},  {kPositionTag, vr_code('D', 'S')},
      {kNumberOfFrames, vr_code('I', 'S')},  {kSlopeTag, vr_code('D', 'S')},
      {kInterceptTag, vr_code('D', 'S')},    {kInstanceTag, vr_code('I', 'S')},
      {kAcquisitionTag, vr_code('I', 'S')},  {kImageTypeTag, vr_code('C', 'S')},
      {kModalityTag, vr_code('C', 'S')},     {kThicknessTag, vr_code('D', 'S')},
      {kTiltTag, vr_code('D', 'S')},         {kSamplesTag, vr_code('U', 'S')},
      {kPerFrameTag, vr_code('S', 'Q')},     {kFrameIncrementTag, vr_code('A', 'T')},
  };
  return req;
}

void slice_facts(const u8* data, u64 size, bool prefix, const ParseOptions& opts, SliceFacts& out) {
  Header h;
  try {
    h = parse(data, size, fact_requests(), opts);
  } catch (const Error& e) {
    // Running out of a prefix is not an error of the file: the caller reads it whole.
    if (prefix && e.kind() == ErrorKind::Truncated) {
      out.status = kFactsNeedMore;
      return;
    }
    throw;
  }
  if (h.deflated) {
    // The meta walk is decided by the bytes only when it ended with 8 bytes to spare.
    if (prefix && h.dataset_offset + 8 > size) {
      out.status = kFactsNeedMore;
      return;
    }
    out.status = kFactsDeflated;
    out.dataset_offset = h.dataset_offset;
    out.transfer_syntax = h.transfer_syntax;
    return;
  }
  // A walk over a prefix that stopped went exactly where the walk of the whole file goes.
  if (prefix && !h.stopped) {
    out.status = kFactsNeedMore;
    return;
  }
  out.status = kFactsOk;
  out.mask = 0;
  out.header_end = h.stop_offset + 8;  // the walk read the 8-byte tag it stopped at
  if (!fill(data, h, out)) out.status = kFactsSlow;
}

}  // namespace dicom
}  // namespace fm
