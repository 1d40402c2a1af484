// The DICOM element walker declared in dicom.h.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "dicom.h"

namespace fm {
namespace dicom {

// Defined in dicom_frames.cpp.
u64 parse_uint_string(const Reader& r, const Element& e);
std::vector<u64> read_u64s(const Reader& r, const Element& e, bool little);

bool vr_has_long_length(u16 vr) {
  switch (vr) {
    case vr_code('O', 'B'): case vr_code('O', 'D'): case vr_code('O', 'F'): case vr_code('O', 'L'):
    case vr_code('O', 'V'): case vr_code('O', 'W'): case vr_code('S', 'Q'): case vr_code('S', 'V'):
    case vr_code('U', 'C'): case vr_code('U', 'N'): case vr_code('U', 'R'): case vr_code('U', 'T'):
    case vr_code('U', 'V'):
      return true;
    default:
      return false;
  }
}

bool vr_is_known(u16 vr) {
  switch (vr) {
    case vr_code('A', 'E'): case vr_code('A', 'S'): case vr_code('A', 'T'): case vr_code('C', 'S'):
    case vr_code('D', 'A'): case vr_code('D', 'S'): case vr_code('D', 'T'): case vr_code('F', 'L'):
    case vr_code('F', 'D'): case vr_code('I', 'S'): case vr_code('L', 'O'): case vr_code('L', 'T'):
    case vr_code('P', 'N'): case vr_code('S', 'H'): case vr_code('S', 'L'): case vr_code('S', 'S'):
    case vr_code('S', 'T'): case vr_code('T', 'M'): case vr_code('U', 'I'): case vr_code('U', 'L'):
    case vr_code('U', 'S'):
      return true;
    default:
      return vr_has_long_length(vr);
  }
}

namespace {

bool is_upper(u8 c) { return c >= 'A' && c <= 'Z'; }

std::string trim_value(const u8* p, u64 n) {
  std::string s(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  size_t b = 0;
  while (b < s.size() && s[b] == ' ') ++b;
  return s.substr(b);
}

bool is_encapsulated_syntax(const std::string& ts) {
  return ts.rfind("1.2.840.10008.1.2.4.", 0) == 0 || ts == "1.2.840.10008.1.2.5" ||
         ts.rfind("1.2.840.10008.1.2.8.", 0) == 0;
}

struct Head {
  u32 tag;
  u16 vr;  // kVrNone when implicit
  u64 value_offset;
  u32 length;
};

class Walker {
 public:
  Walker(const Reader& r, Header& h, std::vector<Request> req, const ParseOptions& opts)
      : r_(r), h_(h), req_(std::move(req)), opts_(opts) {
    std::sort(req_.begin(), req_.end(), [](const Request& a, const Request& b) { return a.tag < b.tag; });
    max_tag_ = req_.empty() ? 0 : req_.back().tag;
  }

  void run() {
    u64 pos = 0;
    if (opts_.dataset_only) {
      h_.syntax = opts_.syntax;
      walk_top(0);
      return;
    }
    if (r_.size() == 0) bad_format(0, "empty file: not DICOM");
    if (r_.size() >= 132 && std::memcmp(r_.data() + 128, "DICM", 4) == 0) {
      h_.has_preamble = true;
      pos = 132;
    }
    bool meta_here = r_.has(pos, 6) && r_.u16_at(pos, true) == 0x0002;
    if (meta_here) {
      pos = walk_meta(pos);
    } else if (!h_.has_preamble) {
      check_raw_start();
    }
    h_.dataset_offset = pos;
    choose_syntax(pos);
    if (h_.deflated) return;
    walk_top(pos);
  }

 private:
  const Reader& r_;
  Header& h_;
  std::vector<Request> req_;
  const ParseOptions& opts_;
  u32 max_tag_ = 0;

  const Request* find(u32 tag) const {
    auto it = std::lower_bound(req_.begin(), req_.end(), tag,
                               [](const Request& a, u32 t) { return a.tag < t; });
    return (it != req_.end() && it->tag == tag) ? &*it : nullptr;
  }

  void count_element(u64 pos) {
    if (++h_.elements_walked > kMaxElements) bad_format(pos, "too many elements (over 16M): refusing to walk");
  }

  // Raw dataset (no preamble, no meta): the first tag must look like DICOM.
  void check_raw_start() {
    if (r_.size() < 8) bad_format(0, "too short to be DICOM (" + std::to_string(r_.size()) + " bytes)");
    const u16 g_le = r_.u16_at(0, true), g_be = r_.u16_at(0, false);
    // Files start with group 0002 (meta) or 0008 (identification); command group 0000
    // never appears in files, and zero bytes are more likely junk than a dataset.
    auto plausible = [](u16 g) { return g >= 0x0002 && g <= 0x0008 && (g % 2 == 0); };
    if (plausible(g_le)) {
      raw_little_ = true;
    } else if (plausible(g_be)) {
      raw_little_ = false;
    } else {
      bad_format(0, "not DICOM: no 'DICM' marker and the first bytes are not a DICOM tag");
    }
  }
  bool raw_little_ = true;

  // Group 0002 is explicit VR little endian; tolerate implicit elements as pydicom does.
  u64 walk_meta(u64 pos) {
    h_.has_meta = true;
    while (r_.has(pos, 8) && r_.u16_at(pos, true) == 0x0002) {
      count_element(pos);
      const u8* p = r_.data() + pos;
      Head hd;
      hd.tag = r_.tag_at(pos, true);
      if (is_upper(p[4]) && is_upper(p[5])) {
        hd.vr = vr_code(char(p[4]), char(p[5]));
        if (vr_has_long_length(hd.vr)) {
          r_.need(pos, 12, "file meta element header");
          hd.length = r_.u32_at(pos + 8, true);
          hd.value_offset = pos + 12;
        } else {
          hd.length = r_.u16_at(pos + 6, true);
          hd.value_offset = pos + 8;
        }
      } else {
        hd.vr = kVrNone;
        hd.length = r_.u32_at(pos + 4, true);
        hd.value_offset = pos + 8;
      }
      if (hd.length == kUndefined) bad_format(pos, "undefined length in file meta element " + tag_str(hd.tag));
      r_.need(hd.value_offset, hd.length, "a file meta element value");
      if (hd.tag == kTransferSyntax) {
        h_.transfer_syntax = trim_value(r_.data() + hd.value_offset, hd.length);
        for (char ch : h_.transfer_syntax)
          if (!((ch >= '0' && ch <= '9') || ch == '.'))
            bad_format(hd.value_offset, "(0002,0010) Transfer Syntax UID is not a UID (digits and dots)");
      }
      record(hd, pos, false, 0);
      pos = hd.value_offset + hd.length;
    }
    if (r_.has(pos, 1) && !r_.has(pos, 8) && r_.remaining(pos) > 0)
      truncated(pos, "data ends inside an element header after the file meta group");
    return pos;
  }

  bool looks_explicit(u64 pos, bool little) const {
    if (!r_.has(pos, 6)) return true;
    const u8* p = r_.data() + pos;
    const u32 tag = r_.tag_at(pos, little);
    if ((tag >> 16) == 0xFFFE) return true;  // items carry no VR either way
    return is_upper(p[4]) && is_upper(p[5]) && vr_is_known(vr_code(char(p[4]), char(p[5])));
  }

  void choose_syntax(u64 pos) {
    const std::string& ts = h_.transfer_syntax;
    Syntax s;
    bool known = true;
    if (ts == "1.2.840.10008.1.2") {
      s.explicit_vr = false;
    } else if (ts == "1.2.840.10008.1.2.1" || is_encapsulated_syntax(ts)) {
      s.explicit_vr = true;
    } else if (ts == "1.2.840.10008.1.2.2") {
      s.little = false;
    } else if (ts == "1.2.840.10008.1.2.1.99") {
      h_.deflated = true;
      h_.syntax = s;
      return;
    } else {
      known = false;
      s.little = h_.has_meta ? true : raw_little_;
      s.explicit_vr = looks_explicit(pos, s.little);
    }
    // The bytes win over a declared syntax they contradict (as pydicom does).
    const bool ex = looks_explicit(pos, s.little);
    if (ex != s.explicit_vr) {
      s.explicit_vr = ex;
      h_.syntax_guessed = true;
    }
    if (!known) h_.syntax_guessed = true;
    h_.syntax = s;
  }

  Head read_head(u64 pos, const Syntax& s) {
    r_.need(pos, 8, "an element header");
    Head hd;
    hd.tag = r_.tag_at(pos, s.little);
    if ((hd.tag >> 16) == 0xFFFE || !s.explicit_vr) {
      hd.vr = kVrNone;
      hd.length = r_.u32_at(pos + 4, s.little);
      hd.value_offset = pos + 8;
      return hd;
    }
    const u8* p = r_.data() + pos;
    if (!(is_upper(p[4]) && is_upper(p[5]))) {
      // pydicom switches to implicit VR for an element whose VR bytes are not letters.
      hd.vr = kVrNone;
      hd.length = r_.u32_at(pos + 4, s.little);
      hd.value_offset = pos + 8;
      return hd;
    }
    hd.vr = vr_code(char(p[4]), char(p[5]));
    if (vr_has_long_length(hd.vr)) {
      r_.need(pos, 12, "an element header");
      hd.length = r_.u32_at(pos + 8, s.little);
      hd.value_offset = pos + 12;
    } else {
      hd.length = r_.u16_at(pos + 6, s.little);
      hd.value_offset = pos + 8;
    }
    return hd;
  }

  void record(const Head& hd, u64 header_offset, bool undefined, u64 length_override, u32 items = 0) {
    const Request* rq = find(hd.tag);
    if (!rq) return;
    Element e;
    e.tag = hd.tag;
    e.vr = hd.vr;
    if (e.vr == kVrNone || (e.vr == kVrUN && rq->vr_hint != kVrNone)) e.vr = rq->vr_hint;
    e.header_offset = header_offset;
    e.value_offset = hd.value_offset;
    e.length = undefined ? length_override : hd.length;
    e.undefined_length = undefined;
    e.items = items;
    h_.elements.push_back(e);
  }

  // Walks the items of a sequence whose value starts at `pos`. `end` is the end of a
  // defined-length value, or 0 for undefined length (then a sequence delimiter ends it).
  // Returns the position after the sequence (after its delimiter if undefined).
  u64 walk_sequence(u64 pos, u64 end, const Syntax& s, int depth, u32* items) {
    if (depth > kMaxDepth) bad_format(pos, "sequences nested deeper than " + std::to_string(kMaxDepth));
    u32 n = 0;
    while (true) {
      if (end != 0 && pos >= end) break;
      r_.need(pos, 8, "a sequence item header");
      count_element(pos);
      const u32 tag = r_.tag_at(pos, s.little);
      const u32 len = r_.u32_at(pos + 4, s.little);
      if (tag == kSeqDelim) {
        if (end != 0) bad_format(pos, "sequence delimiter inside a defined-length sequence");
        pos += 8;
        break;
      }
      if (tag != kItem) bad_format(pos, "expected an item tag in a sequence, found " + tag_str(tag));
      ++n;
      if (len == kUndefined) {
        pos = walk_item_dataset(pos + 8, 0, s, depth + 1);
      } else {
        r_.need(pos + 8, len, "a sequence item");
        if (end != 0 && pos + 8 + len > end) bad_format(pos, "item length runs past the end of its sequence");
        pos += 8 + u64(len);
      }
    }
    if (end != 0 && pos != end) bad_format(pos, "sequence items do not fill the sequence length");
    if (items) *items = n;
    return pos;
  }

  // Walks the elements of an undefined-length item until its delimiter.
  u64 walk_item_dataset(u64 pos, u64 /*end*/, const Syntax& s, int depth) {
    if (depth > kMaxDepth) bad_format(pos, "sequences nested deeper than " + std::to_string(kMaxDepth));
    while (true) {
      const Head hd = read_head(pos, s);
      count_element(pos);
      if (hd.tag == kItemDelim) return pos + 8;
      if (hd.tag == kSeqDelim || hd.tag == kItem)
        bad_format(pos, "unexpected " + tag_str(hd.tag) + " inside an item");
      pos = skip_value(pos, hd, s, depth, nullptr);
    }
  }

  // Skips an undefined-length OB/OW value made of fragment items up to its sequence
  // delimiter (encapsulated data). pydicom reads such a value the same way and, when it is
  // not items, falls back to scanning for the delimiter bytes; that non-conformant case is
  // refused here. Returns the position after the delimiter.
  u64 skip_fragments(u64 pos, u32 owner, bool little) {
    while (true) {
      r_.need(pos, 8, "an item header of encapsulated data");
      count_element(pos);
      const u32 tag = r_.tag_at(pos, little);
      const u32 len = r_.u32_at(pos + 4, little);
      if (tag == kSeqDelim) return pos + 8;
      if (tag != kItem)
        bad_format(pos, "expected a fragment item in the undefined-length value of " + tag_str(owner) + ", found " +
                            tag_str(tag));
      if (len == kUndefined) bad_format(pos, "undefined length (0xFFFFFFFF) is not allowed for a fragment");
      r_.need(pos + 8, len, "a fragment of encapsulated data");
      pos += 8 + u64(len);
    }
  }

  // Skips the value of the element whose header is at `pos`; returns the next position.
  u64 skip_value(u64 pos, const Head& hd, const Syntax& s, int depth, u32* items) {
    if (hd.length == kUndefined) {
      if (hd.vr == kVrSQ || hd.vr == kVrNone) return walk_sequence(hd.value_offset, 0, s, depth + 1, items);
      if (hd.vr == kVrUN) {
        // PS3.5 6.2.2: an undefined-length UN is a sequence in implicit VR little endian.
        Syntax imp;
        imp.explicit_vr = false;
        imp.little = true;
        return walk_sequence(hd.value_offset, 0, imp, depth + 1, items);
      }
      // Encapsulated (fragmented) data nested in an item, e.g. an Icon Image Sequence's
      // own (7FE0,0010) in a compressed file: items of defined length up to a delimiter.
      if (hd.vr == vr_code('O', 'B') || hd.vr == vr_code('O', 'W'))
        return skip_fragments(hd.value_offset, hd.tag, s.little);
      bad_format(pos, "undefined length (0xFFFFFFFF) is not allowed for " + tag_str(hd.tag));
    }
    if (!r_.has(hd.value_offset, hd.length))
      truncated(hd.value_offset, "data ends inside the value of " + tag_str(hd.tag) + " (declared " +
                                     std::to_string(hd.length) + " bytes, " +
                                     std::to_string(r_.remaining(hd.value_offset)) + " left)");
    const u64 end = hd.value_offset + hd.length;
    // Defined-length sequences are checked at the item-header level only (cheap: one
    // 8-byte header per item, contents skipped by length) so lying item lengths are caught.
    if (hd.vr == kVrSQ) {
      u32 n = 0;
      walk_sequence(hd.value_offset, end, s, depth + 1, &n);
      if (items) *items = n;
    }
    return end;
  }

  void walk_top(u64 pos) {
    const Syntax s = h_.syntax;
    while (pos < r_.size()) {
      if (!r_.has(pos, 8)) truncated(pos, "data ends inside an element header");
      const u32 tag = r_.tag_at(pos, s.little);
      if (tag == kSeqDelim || tag == kItemDelim) {  // stray delimiter: tolerated like pydicom
        count_element(pos);
        pos += 8;
        continue;
      }
      if ((tag >> 16) == 0xFFFE) bad_format(pos, "item tag " + tag_str(tag) + " outside any sequence");
      if (tag == kPixelData || tag == kFloatPixelData || tag == kDoubleFloatPixelData) {
        if (opts_.want_pixels || find(tag)) pixel_data(pos, s);
        h_.stopped = true;
        h_.stop_offset = pos;
        return;
      }
      if (!opts_.want_pixels && tag > max_tag_) {
        h_.stopped = true;
        h_.stop_offset = pos;
        return;
      }
      const Head hd = read_head(pos, s);
      count_element(pos);
      const Request* rq = find(tag);
      u32 items = 0;
      const u64 next = skip_value(pos, hd, s, 0, rq ? &items : nullptr);
      if (rq) {
        const bool undef = hd.length == kUndefined;
        Head h2 = hd;
        if (undef && h2.vr == kVrNone) h2.vr = kVrSQ;
        const u64 len = undef ? (next - 8 - hd.value_offset) : hd.length;
        record(h2, pos, undef, len, items);
      }
      pos = next;
    }
  }

  void pixel_data(u64 pos, const Syntax& s) {
    const Head hd = read_head(pos, s);
    count_element(pos);
    PixelInfo& px = h_.pixels;
    px.present = true;
    px.tag = hd.tag;
    px.vr = hd.vr == kVrNone ? vr_code('O', 'W') : hd.vr;
    px.header_offset = pos;
    px.value_offset = hd.value_offset;
    bool encaps = hd.length == kUndefined;
    if (!encaps && is_encapsulated_syntax(h_.transfer_syntax) && r_.has(hd.value_offset, 4) &&
        r_.tag_at(hd.value_offset, s.little) == kItem)
      encaps = true;  // defined-length encapsulated data: items inside the value
    px.encapsulated = encaps;
    px.undefined_length = hd.length == kUndefined;
    if (!encaps) {
      // Shorter than declared: recorded, not thrown, so the header stays readable;
      // decoding these pixels raises (pydicom also reads the header and refuses the pixels).
      px.length = hd.length;
      px.available = std::min<u64>(hd.length, r_.remaining(hd.value_offset));
      px.truncated = px.available < hd.length;
      return;
    }
    const u64 end = hd.length == kUndefined ? 0 : hd.value_offset + hd.length;
    if (end) r_.need(hd.value_offset, hd.length, "the pixel data value");
    u64 p = hd.value_offset;
    bool first = true;
    while (true) {
      if (end != 0 && p >= end) break;
      // Undefined length ends only at its sequence delimiter: a file cut at an item boundary is
      // truncated (pydicom then finds no pixel data), not a shorter image.
      r_.need(p, 8, end == 0 ? "a pixel data item header or the sequence delimiter" : "a pixel data item header");
      const u32 tag = r_.tag_at(p, s.little);
      const u32 len = r_.u32_at(p + 4, s.little);
      if (tag == kSeqDelim) {
        if (end == 0) {
          px.length = p - hd.value_offset;
          px.available = px.length;
          return;
        }
        p += 8;
        continue;
      }
      if (tag != kItem) bad_format(p, "expected a fragment item in encapsulated pixel data, found " + tag_str(tag));
      if (len == kUndefined) bad_format(p, "undefined length (0xFFFFFFFF) is not allowed for a pixel data fragment");
      r_.need(p + 8, len, "a pixel data fragment");
      if (end != 0 && p + 8 + len > end) bad_format(p, "fragment runs past the end of the pixel data value");
      if (first) {
        if (len % 4 != 0) bad_format(p, "basic offset table length is not a multiple of 4");
        for (u64 i = 0; i < len; i += 4) px.basic_offsets.push_back(r_.u32_at(p + 8 + i, s.little));
        first = false;
      } else {
        if (px.fragments.empty()) px.first_fragment_item = p;
        if (px.fragments.size() >= kMaxFragments) bad_format(p, "too many pixel data fragments");
        px.fragments.push_back({p + 8, len});
      }
      p += 8 + u64(len);
    }
    if (first) bad_format(hd.value_offset, "encapsulated pixel data has no basic offset table item");
    if (px.fragments.empty()) px.first_fragment_item = p;
    px.length = p - hd.value_offset;
    px.available = px.length;
  }
};

}  // namespace

Header parse(const u8* data, u64 size, const std::vector<Request>& requests, const ParseOptions& opts) {
  Reader r(data, size);
  Header h;
  std::vector<Request> req = requests;
  // Needed internally to map fragments to frames.
  req.push_back({kNumberOfFrames, vr_code('I', 'S')});
  req.push_back({kExtendedOffsets, vr_code('O', 'V')});
  req.push_back({kExtendedLengths, vr_code('O', 'V')});
  req.push_back({kTransferSyntax, vr_code('U', 'I')});
  std::sort(req.begin(), req.end(), [](const Request& a, const Request& b) { return a.tag < b.tag; });
  req.erase(std::unique(req.begin(), req.end(), [](const Request& a, const Request& b) { return a.tag == b.tag; }),
            req.end());
  Walker w(r, h, req, opts);
  w.run();
  if (h.pixels.present && h.pixels.encapsulated && opts.map_frames) {
    u64 nframes = 1;
    std::vector<u64> eo, el;
    for (const Element& e : h.elements) {
      if (e.tag == kNumberOfFrames) nframes = parse_uint_string(r, e);
      if (e.tag == kExtendedOffsets) eo = read_u64s(r, e, h.syntax.little);
      if (e.tag == kExtendedLengths) el = read_u64s(r, e, h.syntax.little);
    }
    map_frames(r, h.pixels, nframes, eo, el);
  }
  return h;
}

}  // namespace dicom
}  // namespace fm
