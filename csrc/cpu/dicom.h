// Bounds-checked DICOM element walker (host only; not compiled for the GPU).
//
// parse() walks a Part-10 file (128-byte preamble + "DICM" + group 0002) or a raw
// dataset, in any of explicit VR LE, implicit VR LE, explicit VR BE, and stops at the
// top-level pixel data element. It records where the requested top-level elements
// are (offset and length into the caller's buffer: nothing is copied) and, for the
// pixel data, its location and, when encapsulated, the Basic/Extended Offset Table
// and every fragment, mapped to per-frame byte ranges.
//
// Defences: every length is checked against the remaining bytes before use, all
// sizes are 64-bit, nesting of sequences is capped at kMaxDepth, the number of
// elements walked and fragments recorded is capped, and no allocation is ever sized
// from a declared length (vectors grow only with structures actually present).
#pragma once

#include <string>
#include <vector>

#include "dicom_errors.h"
#include "dicom_reader.h"
#include "fastmed/common.h"

namespace fm {
namespace dicom {

constexpr int kMaxDepth = 16;                  // sequence nesting (items inside items)
constexpr u64 kMaxElements = u64(1) << 24;     // elements walked per parse
constexpr u64 kMaxFragments = u64(1) << 22;    // pixel data fragments per file
constexpr u32 kUndefined = 0xFFFFFFFFu;

constexpr u32 kItem = 0xFFFEE000u;
constexpr u32 kItemDelim = 0xFFFEE00Du;
constexpr u32 kSeqDelim = 0xFFFEE0DDu;
constexpr u32 kPixelData = 0x7FE00010u;
constexpr u32 kFloatPixelData = 0x7FE00008u;
constexpr u32 kDoubleFloatPixelData = 0x7FE00009u;
constexpr u32 kExtendedOffsets = 0x7FE00001u;
constexpr u32 kExtendedLengths = 0x7FE00002u;
constexpr u32 kNumberOfFrames = 0x00280008u;
constexpr u32 kTransferSyntax = 0x00020010u;

// Two ASCII characters packed big-endian style: vr_code('O','B').
constexpr u16 vr_code(char a, char b) { return static_cast<u16>((u16(u8(a)) << 8) | u16(u8(b))); }
constexpr u16 kVrUN = vr_code('U', 'N');
constexpr u16 kVrSQ = vr_code('S', 'Q');
constexpr u16 kVrNone = 0;  // unknown (implicit VR and no dictionary hint)

// Explicit VRs whose header has 2 reserved bytes and a 32-bit length.
bool vr_has_long_length(u16 vr);
bool vr_is_known(u16 vr);

struct Syntax {
  bool explicit_vr = true;
  bool little = true;
};

struct Request {
  u32 tag;
  u16 vr_hint;  // dictionary VR used when the file does not say (implicit VR), 0 if unknown
};

struct Element {
  u32 tag = 0;
  u16 vr = kVrNone;       // VR from the file (explicit) or the hint (implicit)
  u64 header_offset = 0;  // first byte of the element's tag
  u64 value_offset = 0;   // first byte of its value
  u64 length = 0;         // value bytes (for undefined length: up to the delimiter, excluded)
  bool undefined_length = false;
  u32 items = 0;          // number of items, for sequences
};

struct Range {
  u64 offset;
  u64 length;
};

struct PixelInfo {
  bool present = false;
  bool encapsulated = false;
  u32 tag = 0;
  u16 vr = kVrNone;
  u64 header_offset = 0;
  u64 value_offset = 0;
  u64 length = 0;  // native: the value length; encapsulated: bytes up to the sequence delimiter
  bool undefined_length = false;
  bool truncated = false;  // native data shorter than its declared length (file cut short)
  u64 available = 0;       // value bytes actually present
  std::vector<u32> basic_offsets;      // Basic Offset Table entries (may be empty)
  std::vector<Range> fragments;        // value bytes of every fragment after the BOT
  u64 first_fragment_item = 0;         // offset of the first fragment's item tag
  std::vector<Range> frame_ranges;     // per-frame pieces, concatenated in order
  std::vector<u64> frame_index;        // frame f = frame_ranges[frame_index[f] : frame_index[f+1]]
  std::string frame_note;              // non-empty when frames could not be mapped (why)
};

struct ParseOptions {
  bool want_pixels = true;      // walk to the pixel data (else stop after the last requested tag)
  bool map_frames = true;       // turn fragments into per-frame ranges
  bool dataset_only = false;    // the buffer is a bare dataset in `syntax` (after inflating)
  Syntax syntax;                // used with dataset_only
};

struct Header {
  bool has_preamble = false;
  bool has_meta = false;
  std::string transfer_syntax;  // as read from (0002,0010), trailing NUL/space stripped
  Syntax syntax;                // what the dataset was actually walked with
  bool syntax_guessed = false;  // no transfer syntax, or the bytes contradicted it
  bool deflated = false;        // dataset is deflated: inflate bytes [dataset_offset, end) and re-parse
  u64 dataset_offset = 0;
  u64 elements_walked = 0;
  // The walk ended at the pixel data or past the last requested tag, not at the end of
  // the bytes: a parse of a file's first bytes that stopped has seen all it would see
  // in the whole file (readers of prefixes retry with the whole file otherwise).
  bool stopped = false;
  u64 stop_offset = 0;  // where it stopped (the tag it did not walk)
  std::vector<Element> elements;  // requested (and internal) top-level elements found, in file order
  PixelInfo pixels;
};

// Parse `size` bytes at `data`. `requests` need not be sorted. Throws Error.
Header parse(const u8* data, u64 size, const std::vector<Request>& requests, const ParseOptions& opts);

// Map fragments to frames as pydicom 3's generate_fragmented_frames does (EOT, then
// BOT, then one fragment per frame / all in one / split on JPEG EOI markers).
// `eot_offsets`/`eot_lengths` may be empty. Fills pixels.frame_ranges/frame_index or
// sets pixels.frame_note. Throws Error on offsets/lengths that point outside the data.
void map_frames(const Reader& r, PixelInfo& px, u64 number_of_frames, const std::vector<u64>& eot_offsets,
                const std::vector<u64>& eot_lengths);

}  // namespace dicom
}  // namespace fm
