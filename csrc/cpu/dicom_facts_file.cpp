// Slice facts of files on disk: one pread of the first bytes (the whole file by mmap when
// the header goes on), deflated datasets inflated natively only as far as their header.
#include <string>
#include <utility>
#include <vector>

#include "dicom_facts.h"
#include "zlib_inflate.h"

namespace fm {
namespace dicom {

namespace {

constexpr u64 kMaxInflated = u64(4) << 30;  // as fastmed/dicom/_source.py: a deflate bomb is refused
constexpr u64 kFirstInflate = 1024;  // inflated bytes tried first without a better guess
constexpr u64 kInflateMargin = 64;   // over the last file's header: one series has similar headers

// The facts of a deflated file's dataset, inflated only as far as its header goes. Damage
// in the deflated stream after the header is not seen here (it is when pixels are read).
void deflated_facts(const u8* data, u64 size, SliceFacts& out) {
  const u64 off = out.dataset_offset;
  const std::string ts = out.transfer_syntax;  // from the file meta, not the dataset
  Inflater inf(data + off, size > off ? size - off : 0);
  thread_local std::vector<u8> buf;  // kept per thread: no allocation per file
  buf.clear();
  struct Shrink {  // ... but a huge header (or a deflate bomb run to the cap) is not kept
    std::vector<u8>& b;
    ~Shrink() {
      if (b.capacity() > (u64(1) << 20)) std::vector<u8>().swap(b);
    }
  } shrink{buf};
  ParseOptions opts;
  opts.want_pixels = false;
  opts.map_frames = false;
  opts.dataset_only = true;
  // Inflating costs about 5 ns a byte: aim at the header length of this thread's last
  // deflated file (a series' headers are alike), and grow by half as much again on a miss
  // (the stream goes on where it stopped; only the parse is repeated).
  thread_local u64 last_header = 0;
  u64 target = last_header ? last_header + kInflateMargin : kFirstInflate;
  while (true) {
    if (!inf.grow(buf, target)) bad_format(off, "deflated dataset is corrupt (" + inf.error() + ")");
    if (!inf.done() && buf.size() >= kMaxInflated)
      unsupported(off, "deflated dataset inflates to more than " + std::to_string(kMaxInflated) + " bytes");
    SliceFacts f;
    f.stat = out.stat;
    try {
      slice_facts(buf.data(), buf.size(), !inf.done(), opts, f);
    } catch (const Error& e) {
      throw Error(e.kind(), e.offset(), std::string(e.what()) + " (in the inflated dataset)");
    }
    if (f.status == kFactsNeedMore) {
      target = target + target / 2 + kInflateMargin;
      if (target > kMaxInflated) target = kMaxInflated;
      continue;
    }
    if (f.status == kFactsOk) last_header = f.header_end;
    f.transfer_syntax = ts;
    out = std::move(f);
    return;
  }
}

}  // namespace

void file_slice_facts(const std::string& path, u64 prefix_bytes, bool inflate, std::vector<u8>& scratch,
                      SliceFacts& out) {
  ParseOptions opts;
  opts.want_pixels = false;
  opts.map_frames = false;
  inflate = inflate && Inflater::available();
  try {
    if (prefix_bytes > 0) {
      // The preamble test ("DICM" at 128) and the raw-dataset test decide on the size of
      // the buffer: below this a prefix could be refused where the whole file is not.
      constexpr u64 kMinPrefix = 256;
      const u64 got = read_prefix(path, prefix_bytes < kMinPrefix ? kMinPrefix : prefix_bytes, scratch, out.stat);
      const bool partial = got < out.stat.size;
      slice_facts(scratch.data(), got, partial, opts, out);
      if (out.status == kFactsDeflated && !partial) {
        if (inflate) deflated_facts(scratch.data(), got, out);
        return;
      }
      if (out.status != kFactsNeedMore && out.status != kFactsDeflated) return;
    }
    MappedFile f(path);
    out.stat = f.stat();
    slice_facts(f.data(), f.size(), false, opts, out);
    if (out.status == kFactsDeflated && inflate) deflated_facts(f.data(), f.size(), out);
  } catch (const IoError& e) {
    out.status = kFactsError;
    out.err_kind = 3;
    out.err_offset = static_cast<u64>(e.err);
    out.reason = e.what;
  } catch (const Error& e) {
    out.status = kFactsError;
    out.err_kind = static_cast<int>(e.kind());
    out.err_offset = e.offset();
    out.reason = e.what();
  }
}

}  // namespace dicom
}  // namespace fm
