// A series of single-frame RLE files in one pass (see rle_decode.h): each file read whole,
// its header parsed by the native DICOM parser, its pixel-module elements compared byte for
// byte with the first file's, its frame decoded into its plane. Any file that differs (or
// does not parse) sends the caller back to the per-file path, which validates every header.
#include <algorithm>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "dicom.h"
#include "dicom_file.h"
#include "rle_decode.h"
#include "thread_pool.h"

namespace fm {
namespace rle {
namespace {

void put_u64(std::string& s, u64 v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); }

// Everything of `h` that the pixel options and the frame layout depend on, as bytes.
std::string signature(const dicom::Header& h, const u8* data, const std::vector<dicom::Request>& requests) {
  std::string s = h.transfer_syntax;
  s.push_back('\0');
  s.push_back(static_cast<char>(h.syntax.explicit_vr));
  s.push_back(static_cast<char>(h.syntax.little));
  s.push_back(static_cast<char>(h.syntax_guessed));
  s.push_back(static_cast<char>(h.deflated));
  for (const dicom::Request& r : requests) {
    const auto it = std::find_if(h.elements.begin(), h.elements.end(),
                                 [&r](const dicom::Element& e) { return e.tag == r.tag; });
    put_u64(s, r.tag);
    if (it == h.elements.end()) {
      s.push_back('-');
      continue;
    }
    put_u64(s, it->vr);
    put_u64(s, it->length);
    if (it->vr != dicom::kVrSQ) s.append(reinterpret_cast<const char*>(data + it->value_offset), it->length);
  }
  const dicom::PixelInfo& px = h.pixels;
  put_u64(s, px.present);
  put_u64(s, px.encapsulated);
  put_u64(s, px.tag);
  put_u64(s, px.vr);
  put_u64(s, px.frame_index.empty() ? 0 : px.frame_index.size() - 1);
  s.append(px.frame_note);
  return s;
}

}  // namespace

SeriesResult decode_series_files(const std::vector<std::string>& paths, const std::vector<dicom::Request>& requests,
                                 const Layout& l, u8* out, int threads) {
  SeriesResult res;
  try {
    check_layout(l);
  } catch (const Error& err) {
    res.batch.failed = true;
    res.batch.kind = err.kind;
    res.batch.reason = err.reason;
    return res;
  }
  const i64 n = static_cast<i64>(paths.size());
  std::vector<std::string> sigs(paths.size());
  std::vector<char> usable(paths.size(), 0);
  std::mutex mu;
  const u64 fb = l.frame_bytes();
  dicom::ParseOptions opts;  // as the Python header readers parse files
  opts.want_pixels = true;
  parallel_for(n, 1, threads, [&](std::int64_t begin, std::int64_t end) {
    std::vector<u8> file;
    std::vector<u8> joined;
    std::vector<u8> scratch;
    Range64 range;
    for (i64 i = begin; i < end; ++i) {
      const size_t k = static_cast<size_t>(i);
      dicom::Header h;
      u64 size = 0;
      try {
        dicom::FileStat st;
        size = dicom::read_prefix(paths[k], std::numeric_limits<u64>::max(), file, st);
        h = dicom::parse(file.data(), size, requests, opts);
      } catch (const dicom::IoError&) {
        continue;  // not usable: the per-file path reports it
      } catch (const dicom::Error&) {
        continue;
      }
      sigs[k] = signature(h, file.data(), requests);
      const dicom::PixelInfo& px = h.pixels;
      if (!px.present || !px.encapsulated || !px.frame_note.empty() || px.frame_index.size() != 2) continue;
      usable[k] = 1;
      try {
        const u64 a = px.frame_index[0];
        const u64 e = px.frame_index[1];
        if (e <= a || e > px.frame_ranges.size()) throw Error{ErrorKind::kFormat, "RLE frame has no fragments"};
        for (u64 p = a; p < e; ++p) {
          const dicom::Range& r = px.frame_ranges[p];
          if (r.offset > size || r.length > size - r.offset) throw Error{ErrorKind::kTruncated, "RLE fragment lies outside the file"};
        }
        const u8* data = file.data() + px.frame_ranges[a].offset;
        u64 len = px.frame_ranges[a].length;
        if (e - a > 1) {
          joined.clear();
          for (u64 p = a; p < e; ++p) {
            const u8* at = file.data() + px.frame_ranges[p].offset;
            joined.insert(joined.end(), at, at + px.frame_ranges[p].length);
          }
          data = joined.data();
          len = joined.size();
        }
        decode_frame(data, len, l, out + static_cast<u64>(i) * fb, scratch, range);
      } catch (const Error& err) {
        std::lock_guard<std::mutex> lock(mu);
        if (!res.batch.failed || i < res.batch.frame) {
          res.batch.failed = true;
          res.batch.frame = i;
          res.batch.kind = err.kind;
          res.batch.reason = err.reason;
          res.batch.offset = px.frame_ranges.empty() ? 0 : px.frame_ranges[px.frame_index[0]].offset;
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    res.batch.range.min = std::min(res.batch.range.min, range.min);
    res.batch.range.max = std::max(res.batch.range.max, range.max);
  });
  for (i64 i = 0; i < n; ++i) {
    const size_t k = static_cast<size_t>(i);
    if (!usable[k] || sigs[k] != sigs[0]) {
      res.mismatch = i;
      return res;
    }
  }
  return res;
}

}  // namespace rle
}  // namespace fm
