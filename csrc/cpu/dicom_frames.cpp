// Fragments -> frames: the per-frame byte ranges of encapsulated pixel data (declared in
// csrc/cpu/dicom.h), and the reads of the offset-table elements parse() needs for it.
#include <algorithm>
#include <string>
#include <vector>

#include "dicom.h"

namespace fm {
namespace dicom {

u64 parse_uint_string(const Reader& r, const Element& e) {
  u64 v = 0;
  bool any = false;
  for (u64 i = 0; i < e.length; ++i) {
    const u8 c = r.data()[e.value_offset + i];
    if (c >= '0' && c <= '9') {
      any = true;
      if (v > (u64(1) << 40)) return 0;
      v = v * 10 + (c - '0');
    } else if (c == ' ' || c == '\0' || c == '+') {
      if (any && c != '+') break;
    } else {
      return 0;
    }
  }
  return any ? v : 0;
}

std::vector<u64> read_u64s(const Reader& r, const Element& e, bool little) {
  std::vector<u64> out;
  for (u64 i = 0; i + 8 <= e.length; i += 8) out.push_back(r.u64_at(e.value_offset + i, little));
  return out;
}


void map_frames(const Reader& r, PixelInfo& px, u64 nframes, const std::vector<u64>& eot_off,
                const std::vector<u64>& eot_len) {
  px.frame_ranges.clear();
  px.frame_index.assign(1, 0);
  auto close_frame = [&px]() { px.frame_index.push_back(px.frame_ranges.size()); };
  if (!eot_off.empty() && !eot_len.empty()) {
    const size_t n = std::min(eot_off.size(), eot_len.size());
    for (size_t i = 0; i < n; ++i) {
      const u64 start = px.first_fragment_item + 8;
      if (eot_off[i] > r.size() || !r.has(start + eot_off[i], eot_len[i]))
        bad_format(px.value_offset, "extended offset table points outside the pixel data (frame " +
                                        std::to_string(i) + ")");
      px.frame_ranges.push_back({start + eot_off[i], eot_len[i]});
      close_frame();
    }
    return;
  }
  const auto& fr = px.fragments;
  if (!px.basic_offsets.empty()) {
    size_t cur = 0;
    const size_t last = px.basic_offsets.size() - 1;
    u64 offset = 0;
    bool open = false;
    for (const Range& f : fr) {
      if (cur == last || offset < px.basic_offsets[cur + 1]) {
        px.frame_ranges.push_back(f);
      } else {
        close_frame();
        ++cur;
        px.frame_ranges.push_back(f);
      }
      open = true;
      offset += f.length + 8;
    }
    if (open || fr.empty()) close_frame();
    return;
  }
  if (fr.size() == 1) {
    px.frame_ranges.push_back(fr[0]);
    close_frame();
    return;
  }
  if (fr.empty()) {
    px.frame_note = "encapsulated pixel data has no fragments";
    return;
  }
  if (nframes == 0) nframes = 1;
  if (fr.size() == nframes) {
    for (const Range& f : fr) {
      px.frame_ranges.push_back(f);
      close_frame();
    }
    return;
  }
  if (nframes == 1) {
    for (const Range& f : fr) px.frame_ranges.push_back(f);
    close_frame();
    return;
  }
  if (fr.size() > nframes) {
    bool open = false;
    for (const Range& f : fr) {
      px.frame_ranges.push_back(f);
      open = true;
      const u64 tail = std::min<u64>(f.length, 10);
      const u8* p = r.data() + f.offset + f.length - tail;
      bool eoi = false;
      for (u64 i = 0; i + 1 < tail; ++i)
        if (p[i] == 0xFF && p[i + 1] == 0xD9) eoi = true;
      if (eoi) {
        close_frame();
        open = false;
      }
    }
    if (open) close_frame();
    return;
  }
  px.frame_note = "fewer pixel data fragments (" + std::to_string(fr.size()) + ") than frames (" +
                  std::to_string(nframes) + ") and no offset table";
}

}  // namespace dicom
}  // namespace fm
