// DICOM RLE Lossless decoding (see rle_decode.h): header checks, PackBits segments,
// byte planes combined into little endian samples, frames in parallel on the native pool.
#include "rle_decode.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "thread_pool.h"

namespace fm {
namespace rle {
namespace {

constexpr u64 kHeaderBytes = 64;
constexpr u64 kMaxSegments = 15;
constexpr u64 kMaxFrameBytes = u64(1) << 36;  // far above any image the pixel module allows

// An I/O failure (errno) while reading a file's fragments.
struct IoFailure {
  int err;
};

[[noreturn]] void fail(ErrorKind kind, const std::string& reason) { throw Error{kind, reason}; }

u32 u32_le(const u8* p) { return u32(p[0]) | (u32(p[1]) << 8) | (u32(p[2]) << 16) | (u32(p[3]) << 24); }

// PackBits as pydicom decodes it: n < 128 copies n + 1 literal bytes (fewer when the
// segment ends first), n > 128 repeats the next byte 257 - n times, 128 is a no-op.
// Stops once `need` bytes are out (pydicom drops the excess); returns the bytes written.
u64 unpack_segment(const u8* src, u64 n, u8* out, u64 need) {
  constexpr u64 kRun = 128;  // the longest literal or run: copied with fixed-size moves when room allows
  u64 pos = 0;
  u64 o = 0;
  while (pos < n && o < need) {
    const u8 h = src[pos++];
    if (h > 128) {
      if (pos >= n) break;
      const u8 v = src[pos++];
      const u64 count = std::min<u64>(257 - u64(h), need - o);
      if (need - o >= kRun) {
        std::memset(out + o, v, kRun);
      } else {
        std::memset(out + o, v, static_cast<size_t>(count));
      }
      o += count;
    } else if (h < 128) {
      const u64 count = u64(h) + 1;
      if (need - o >= kRun && n - pos >= kRun) {
        std::memcpy(out + o, src + pos, kRun);
        o += count;
      } else {
        const u64 take = std::min(std::min(count, n - pos), need - o);
        std::memcpy(out + o, src + pos, static_cast<size_t>(take));
        o += take;
      }
      pos += count;  // past the end for a cut literal: the loop ends
    }
  }
  return o;
}

// Unsigned integer of `Bytes` bytes and its signed twin.
template <int Bytes>
struct Word;
template <>
struct Word<1> {
  using U = u8;
  using S = std::int8_t;
};
template <>
struct Word<2> {
  using U = u16;
  using S = i16;
};
template <>
struct Word<4> {
  using U = u32;
  using S = i32;
};
template <>
struct Word<8> {
  using U = u64;
  using S = i64;
};

// Sample i = byte planes (plane 0 most significant) -> its value, with the unused high bits
// sign-extended (signed) or cleared (unsigned) as pydicom's shift does -> dst as a little
// endian word, or as the rescaled int16 (widening lo/hi).
template <int Bytes, bool Signed, bool Rescale>
void combine_t(const u8* planes, u64 count, const Layout& l, u8* dst, Range64& range) {
  using U = typename Word<Bytes>::U;
  using S = typename Word<Bytes>::S;
  using V = typename std::conditional<Signed, S, U>::type;
  const u8* p[Bytes];
  for (int k = 0; k < Bytes; ++k) p[k] = planes + u64(k) * count;
  const u32 unused = l.unused_bits;
  const u32 slope = l.slope;
  const u32 intercept = l.intercept;
  V lo = std::numeric_limits<V>::max();
  V hi = std::numeric_limits<V>::min();
  for (u64 i = 0; i < count; ++i) {
    U w = 0;
    for (int k = 0; k < Bytes; ++k) w = static_cast<U>(w | (static_cast<U>(p[k][i]) << (8 * (Bytes - 1 - k))));
    const U up = static_cast<U>(w << unused);
    const V v = Signed ? static_cast<V>(static_cast<S>(up) >> unused) : static_cast<V>(up >> unused);
    if (Rescale) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
      reinterpret_cast<u16*>(dst)[i] = static_cast<u16>(static_cast<u32>(static_cast<u16>(v)) * slope + intercept);
    } else {
      reinterpret_cast<U*>(dst)[i] = static_cast<U>(v);
    }
  }
  if (Rescale && count) {
    range.min = std::min<i64>(range.min, static_cast<i64>(lo));
    range.max = std::max<i64>(range.max, static_cast<i64>(hi));
  }
}

template <int Bytes>
void combine(const u8* planes, u64 count, const Layout& l, u8* dst, Range64& range) {
  if (l.is_signed) {
    if (l.rescale) {
      combine_t<Bytes, true, true>(planes, count, l, dst, range);
    } else {
      combine_t<Bytes, true, false>(planes, count, l, dst, range);
    }
  } else if (l.rescale) {
    combine_t<Bytes, false, true>(planes, count, l, dst, range);
  } else {
    combine_t<Bytes, false, false>(planes, count, l, dst, range);
  }
}

void combine_planes(const u8* planes, u64 count, const Layout& l, u8* dst, Range64& range) {
  switch (l.bytes_per_sample) {
    case 1:
      combine<1>(planes, count, l, dst, range);
      break;
    case 2:
      combine<2>(planes, count, l, dst, range);
      break;
    case 4:
      combine<4>(planes, count, l, dst, range);
      break;
    default:
      // 8-byte samples are never rescaled here (check_layout)
      if (l.is_signed) {
        combine_t<8, true, false>(planes, count, l, dst, range);
      } else {
        combine_t<8, false, false>(planes, count, l, dst, range);
      }
      break;
  }
}

std::string segment_name(u64 k) { return "RLE segment " + std::to_string(k); }

}  // namespace

void check_layout(const Layout& l) {
  const u64 b = l.bytes_per_sample;
  if (b != 1 && b != 2 && b != 4 && b != 8)
    fail(ErrorKind::kUnsupported, "RLE output of " + std::to_string(b * 8) + " bits per sample is not supported");
  if (l.rows == 0 || l.columns == 0 || l.samples == 0 || l.rows > 0xFFFF || l.columns > 0xFFFF)
    fail(ErrorKind::kFormat, "RLE frame size is invalid");
  if (l.samples * b > kMaxSegments)
    fail(ErrorKind::kUnsupported, "RLE frames of " + std::to_string(l.samples) + " samples of " +
                                      std::to_string(b * 8) + " bits need more than 15 segments");
  if (l.unused_bits >= b * 8) fail(ErrorKind::kFormat, "RLE unused high bits cover the whole sample");
  if (l.rescale && b > 4) fail(ErrorKind::kUnsupported, "RLE rescale of 64-bit samples is not supported");
  if (l.frame_bytes() > kMaxFrameBytes) fail(ErrorKind::kFormat, "RLE frame size is too large");
}

void decode_frame(const u8* src, u64 n, const Layout& l, u8* dst, std::vector<u8>& scratch, Range64& range) {
  if (n < kHeaderBytes)
    fail(ErrorKind::kTruncated,
         "RLE frame of " + std::to_string(n) + " bytes is shorter than its 64-byte header");
  const u64 nseg = u32_le(src);
  const u64 want = l.samples * l.bytes_per_sample;
  if (nseg > kMaxSegments)
    fail(ErrorKind::kFormat, "RLE header declares " + std::to_string(nseg) + " segments (at most 15)");
  if (nseg != want)
    fail(ErrorKind::kFormat, "RLE header declares " + std::to_string(nseg) + " segments, the image needs " +
                                 std::to_string(want));
  u64 offsets[kMaxSegments + 1];
  for (u64 k = 0; k < nseg; ++k) offsets[k] = u32_le(src + 4 + 4 * k);
  offsets[nseg] = n;
  for (u64 k = 0; k < nseg; ++k) {
    if (offsets[k] >= n)
      fail(ErrorKind::kFormat, segment_name(k) + " offset " + std::to_string(offsets[k]) +
                                   " is at or past the end of the frame (" + std::to_string(n) + " bytes)");
    if (offsets[k + 1] <= offsets[k])
      fail(ErrorKind::kFormat, segment_name(k) + " is empty (segment offsets do not increase)");
  }
  const u64 plane = l.rows * l.columns;
  const u64 b = l.bytes_per_sample;
  const bool direct = b == 1 && l.unused_bits == 0 && !l.rescale;
  if (!direct && scratch.size() < plane * b) scratch.resize(plane * b);
  for (u64 s = 0; s < l.samples; ++s) {
    u8* sample_out = dst + s * plane * l.out_bytes();
    u8* planes = direct ? sample_out : scratch.data();
    for (u64 k = 0; k < b; ++k) {
      const u64 seg = s * b + k;
      const u64 got = unpack_segment(src + offsets[seg], offsets[seg + 1] - offsets[seg], planes + k * plane, plane);
      if (got < plane)
        fail(ErrorKind::kTruncated, segment_name(seg) + " decodes to " + std::to_string(got) + " bytes, " +
                                        std::to_string(plane) + " expected (segment overrun or cut short)");
    }
    if (!direct) combine_planes(planes, plane, l, sample_out, range);
  }
}

namespace {

// Where a chunk of frames gets each frame's bytes: frame_bytes(f, n) returns a pointer to
// the n encoded bytes (the pieces joined when there are several) or throws Error.
class FrameSource {
 public:
  virtual ~FrameSource() = default;
  virtual const u8* frame_bytes(const Batch& bt, i64 f, u64& n) = 0;
};

[[noreturn]] void outside(i64 off, i64 len, u64 size, const char* what) {
  fail(ErrorKind::kTruncated, "RLE fragment (" + std::to_string(len) + " bytes at " + std::to_string(off) +
                                  ") lies outside the " + what + " (" + std::to_string(size) + " bytes)");
}

class BufferFrames : public FrameSource {
 public:
  explicit BufferFrames(const std::vector<Source>& sources) : sources_(sources) {}
  const u8* frame_bytes(const Batch& bt, i64 f, u64& n) override {
    const Source& s = sources_[static_cast<size_t>(bt.frame_source[f])];
    const i64 a = bt.frame_index[f];
    const i64 e = bt.frame_index[f + 1];
    for (i64 p = a; p < e; ++p) {
      const i64 off = bt.pieces[2 * p];
      const i64 len = bt.pieces[2 * p + 1];
      if (static_cast<u64>(off) > s.size || static_cast<u64>(len) > s.size - static_cast<u64>(off))
        outside(off, len, s.size, "data");
    }
    if (e - a == 1) {
      n = static_cast<u64>(bt.pieces[2 * a + 1]);
      return s.data + bt.pieces[2 * a];
    }
    joined_.clear();
    for (i64 p = a; p < e; ++p) {
      const u8* at = s.data + bt.pieces[2 * p];
      joined_.insert(joined_.end(), at, at + bt.pieces[2 * p + 1]);
    }
    n = joined_.size();
    return joined_.data();
  }

 private:
  const std::vector<Source>& sources_;
  std::vector<u8> joined_;
};

// Reads each frame's pieces with pread (cheaper than mapping for the few hundred KB of a
// slice); keeps the last file open while consecutive frames read it.
class FileFrames : public FrameSource {
 public:
  explicit FileFrames(const std::vector<std::string>& paths) : paths_(paths) {}
  ~FileFrames() override { close_file(); }
  FileFrames(const FileFrames&) = delete;
  FileFrames& operator=(const FileFrames&) = delete;

  const u8* frame_bytes(const Batch& bt, i64 f, u64& n) override {
    open_file(bt.frame_source[f]);
    const i64 a = bt.frame_index[f];
    const i64 e = bt.frame_index[f + 1];
    u64 total = 0;
    for (i64 p = a; p < e; ++p) {
      const i64 off = bt.pieces[2 * p];
      const i64 len = bt.pieces[2 * p + 1];
      if (static_cast<u64>(off) > size_ || static_cast<u64>(len) > size_ - static_cast<u64>(off))
        outside(off, len, size_, "file");
      total += static_cast<u64>(len);
    }
    buf_.resize(total);
    u64 at = 0;
    for (i64 p = a; p < e; ++p) {
      read_exact(static_cast<u64>(bt.pieces[2 * p]), static_cast<u64>(bt.pieces[2 * p + 1]), buf_.data() + at);
      at += static_cast<u64>(bt.pieces[2 * p + 1]);
    }
    n = total;
    return buf_.data();
  }

 private:
  void open_file(i64 src) {
    if (src == open_src_) return;
    close_file();
    const std::string& path = paths_[static_cast<size_t>(src)];
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw_io(errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      throw_io(err);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(ErrorKind::kFormat, "not a regular file");
    }
    fd_ = fd;
    open_src_ = src;
    size_ = static_cast<u64>(st.st_size);
  }
  void close_file() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    open_src_ = -1;
  }
  void read_exact(u64 off, u64 len, u8* dst) {
    u64 done = 0;
    while (done < len) {
      const ssize_t got = ::pread(fd_, dst + done, static_cast<size_t>(len - done), static_cast<off_t>(off + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_io(errno);
      }
      if (got == 0) fail(ErrorKind::kTruncated, "file ended while reading RLE fragments (it changed under us)");
      done += static_cast<u64>(got);
    }
  }
  [[noreturn]] void throw_io(int err) { throw IoFailure{err}; }

  const std::vector<std::string>& paths_;
  int fd_ = -1;
  i64 open_src_ = -1;
  u64 size_ = 0;
  std::vector<u8> buf_;
};

// Validates the tables (indices only; byte ranges are checked as each frame is read):
// throws Error with `bad_frame` set to the first bad frame.
void check_batch(i64 nsources, const Batch& bt, i64& bad_frame) {
  if (bt.nframes < 0 || bt.npieces < 0) fail(ErrorKind::kFormat, "negative RLE frame or piece count");
  for (i64 f = 0; f < bt.nframes; ++f) {
    bad_frame = f;
    const i64 a = bt.frame_index[f];
    const i64 e = bt.frame_index[f + 1];
    if (a < 0 || e < a || e > bt.npieces) fail(ErrorKind::kFormat, "RLE frame table is out of order");
    if (e == a) fail(ErrorKind::kFormat, "RLE frame has no fragments");
    if (bt.frame_source[f] < 0 || bt.frame_source[f] >= nsources)
      fail(ErrorKind::kFormat, "RLE frame source index out of range");
    for (i64 p = a; p < e; ++p) {
      if (bt.pieces[2 * p] < 0 || bt.pieces[2 * p + 1] < 0) fail(ErrorKind::kFormat, "negative RLE fragment range");
    }
  }
  bad_frame = -1;
}

void record(BatchResult& result, std::mutex& mu, i64 f, ErrorKind kind, const std::string& reason, int err) {
  std::lock_guard<std::mutex> lock(mu);
  if (!result.failed || f < result.frame) {
    result.failed = true;
    result.frame = f;
    result.kind = kind;
    result.reason = reason;
    result.err = err;
  }
}

template <class MakeSource>
BatchResult run(i64 nsources, const Batch& bt, const Layout& l, u8* out, int threads, MakeSource make_source) {
  BatchResult result;
  i64 bad = -1;
  try {
    check_layout(l);
    check_batch(nsources, bt, bad);
  } catch (const Error& err) {
    result.failed = true;
    result.frame = bad;
    result.kind = err.kind;
    result.reason = err.reason;
    return result;
  }
  std::mutex mu;
  const u64 fb = l.frame_bytes();
  parallel_for(bt.nframes, 1, threads, [&](std::int64_t begin, std::int64_t end) {
    auto source = make_source();
    std::vector<u8> scratch;
    Range64 range;
    auto merge = [&]() {
      std::lock_guard<std::mutex> lock(mu);
      result.range.min = std::min(result.range.min, range.min);
      result.range.max = std::max(result.range.max, range.max);
    };
    for (i64 f = begin; f < end; ++f) {
      try {
        u64 n = 0;
        const u8* data = source->frame_bytes(bt, f, n);
        decode_frame(data, n, l, out + static_cast<u64>(f) * fb, scratch, range);
      } catch (const Error& err) {
        record(result, mu, f, err.kind, err.reason, 0);
        return;  // later frames of this chunk cannot be the first failure
      } catch (const IoFailure& io) {
        record(result, mu, f, ErrorKind::kIo, std::strerror(io.err), io.err);
        return;
      }
    }
    merge();
  });
  return result;
}

}  // namespace

BatchResult decode_batch(const std::vector<Source>& sources, const Batch& bt, const Layout& l, u8* out, int threads) {
  return run(static_cast<i64>(sources.size()), bt, l, out, threads,
             [&sources]() { return std::make_unique<BufferFrames>(sources); });
}

BatchResult decode_batch_files(const std::vector<std::string>& paths, const Batch& bt, const Layout& l, u8* out,
                               int threads) {
  return run(static_cast<i64>(paths.size()), bt, l, out, threads,
             [&paths]() { return std::make_unique<FileFrames>(paths); });
}

}  // namespace rle
}  // namespace fm
