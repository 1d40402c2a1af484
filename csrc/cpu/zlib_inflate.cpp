// Inflater over a run-time loaded libz (see zlib_inflate.h).
#include "zlib_inflate.h"

#include <string>

#if defined(__has_include)
#if __has_include(<zlib.h>) && __has_include(<dlfcn.h>)
#define FM_HAVE_ZLIB 1
#endif
#endif

#ifdef FM_HAVE_ZLIB
#include <dlfcn.h>
#include <zlib.h>
#endif

namespace fm {
namespace dicom {

#ifdef FM_HAVE_ZLIB

namespace {

struct Zlib {
  int (*init2)(z_streamp, int, const char*, int) = nullptr;
  int (*inflate)(z_streamp, int) = nullptr;
  int (*reset)(z_streamp) = nullptr;
  int (*end)(z_streamp) = nullptr;
  bool ok = false;
};

const Zlib& zlib() {
  static const Zlib z = [] {
    Zlib r;
    void* h = ::dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) return r;  // kept open for the life of the process
    r.init2 = reinterpret_cast<int (*)(z_streamp, int, const char*, int)>(::dlsym(h, "inflateInit2_"));
    r.inflate = reinterpret_cast<int (*)(z_streamp, int)>(::dlsym(h, "inflate"));
    r.reset = reinterpret_cast<int (*)(z_streamp)>(::dlsym(h, "inflateReset"));
    r.end = reinterpret_cast<int (*)(z_streamp)>(::dlsym(h, "inflateEnd"));
    r.ok = r.init2 && r.inflate && r.reset && r.end;
    return r;
  }();
  return z;
}

// CPython's zlib_error() wording.
std::string zlib_message(int err, const char* zmsg) {
  if (!zmsg) {
    if (err == Z_BUF_ERROR) zmsg = "incomplete or truncated stream";
    if (err == Z_STREAM_ERROR) zmsg = "inconsistent stream state";
    if (err == Z_DATA_ERROR) zmsg = "invalid input data";
  }
  std::string s = "Error " + std::to_string(err) + " while decompressing data";
  if (zmsg) s += std::string(": ") + std::string(zmsg).substr(0, 200);
  return s;
}

}  // namespace

struct Inflater::State {
  z_stream zs{};
  bool initialised = false;
  ~State() {
    if (initialised) zlib().end(&zs);
  }
};

namespace {
// One zlib state per thread, reset between files: allocating zlib's state and 32 KiB
// window for every file cost as much as inflating a header.
thread_local std::unique_ptr<Inflater::State> t_spare;
}  // namespace

bool Inflater::available() { return zlib().ok; }

Inflater::Inflater(const u8* src, u64 n) : src_(src), n_(n) {
  const Zlib& z = zlib();
  if (!z.ok) {
    error_ = "zlib is not available";
    done_ = true;
    return;
  }
  if (t_spare) {
    st_ = std::move(t_spare);
    // inflateReset keeps the buffer pointers: the last file's unread input must go too.
    st_->zs.next_in = nullptr;
    st_->zs.avail_in = 0;
    st_->zs.next_out = nullptr;
    st_->zs.avail_out = 0;
    if (z.reset(&st_->zs) == Z_OK) return;
    st_.reset();
  }
  st_ = std::make_unique<State>();
  const int err = z.init2(&st_->zs, -15, ZLIB_VERSION, static_cast<int>(sizeof(z_stream)));
  if (err != Z_OK) {
    error_ = zlib_message(err, st_->zs.msg);
    done_ = true;
    return;
  }
  st_->initialised = true;
}

Inflater::~Inflater() {
  if (st_ && st_->initialised && !t_spare) t_spare = std::move(st_);
}

bool Inflater::grow(std::vector<u8>& out, u64 target) {
  if (!error_.empty()) return false;
  if (done_ || !st_ || !st_->initialised) return true;
  const Zlib& z = zlib();
  z_stream& zs = st_->zs;
  constexpr u64 kChunkIn = u64(1) << 30;  // avail_in is 32-bit
  while (out.size() < target) {
    if (zs.avail_in == 0 && used_ < n_) {
      const u64 take = n_ - used_ < kChunkIn ? n_ - used_ : kChunkIn;
      zs.next_in = const_cast<Bytef*>(src_ + used_);
      zs.avail_in = static_cast<uInt>(take);
      used_ += take;
    }
    const size_t have = out.size();
    const u64 room = target - have;
    const u64 step = room < (u64(1) << 30) ? room : (u64(1) << 30);
    out.resize(have + static_cast<size_t>(step));
    zs.next_out = out.data() + have;
    zs.avail_out = static_cast<uInt>(step);
    const int err = z.inflate(&zs, Z_SYNC_FLUSH);
    out.resize(have + static_cast<size_t>(step - zs.avail_out));
    if (err == Z_STREAM_END) {
      done_ = true;
      return true;
    }
    if (err != Z_OK && err != Z_BUF_ERROR) {
      error_ = zlib_message(err, zs.msg);
      return false;
    }
    // Room left with no input left: zlib has written all it can (a cut stream ends here,
    // without error, as in Python's zlib).
    if (zs.avail_out > 0 && zs.avail_in == 0 && used_ >= n_) {
      done_ = true;
      return true;
    }
  }
  return true;
}

#else  // no zlib at build time: callers use Python's zlib

struct Inflater::State {};
bool Inflater::available() { return false; }
Inflater::Inflater(const u8* src, u64 n) : src_(src), n_(n) {
  error_ = "zlib is not available";
  done_ = true;
}
Inflater::~Inflater() = default;
bool Inflater::grow(std::vector<u8>&, u64) { return false; }

#endif

}  // namespace dicom
}  // namespace fm
