// Window reads of store chunks (store_chunks.h): file read, crc32c, blosc block selection and
// decode, strided copy; every length from the file checked against the buffer before use.
#include "store_chunks.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

#include "crc32c.h"
#include "thread_pool.h"

namespace fm::store {
namespace {

constexpr std::int64_t kHeader = 16;  // blosc 1 header: versions, flags, typesize, nbytes, blocksize, cbytes
constexpr unsigned kMemcpyed = 0x2;

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
         (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

void put32(unsigned char* p, std::uint32_t v) {
  for (int k = 0; k < 4; ++k) p[k] = static_cast<unsigned char>(v >> (8 * k));
}

struct Failure {
  std::string reason;
};

// Buffers of one reading task: the chunk file, a rebuilt blosc stream, one decoded chunk.
struct Scratch {
  std::vector<unsigned char> raw, frame, chunk;
  std::vector<std::int64_t> starts, ends, order;
  std::string path;
};

// Reads `path` into s.raw; returns the file's length (checked: below the buffer's size).
std::int64_t read_file(const std::string& path, Scratch& s) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw Failure{"chunk file missing"};
    throw Failure{std::string("unreadable (") + std::strerror(errno) + ")"};
  }
  std::int64_t n = 0;
  const auto cap = static_cast<std::int64_t>(s.raw.size());
  while (n < cap) {
    ssize_t got = ::read(fd, s.raw.data() + n, static_cast<std::size_t>(cap - n));
    if (got < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw Failure{std::string("unreadable (") + std::strerror(err) + ")"};
    }
    if (got == 0) break;
    n += got;
  }
  ::close(fd);
  if (n >= cap) throw Failure{"chunk file larger than any chunk of this array can be"};
  return n;
}

// Decodes the blocks of the blosc chunk `body` (length `len`) that hold decoded bytes
// [lo, hi) into s.chunk (the same offsets); other bytes of s.chunk are left as they were.
void decode_blosc(const WindowJob& job, const unsigned char* body, std::int64_t len, std::int64_t lo, std::int64_t hi,
                  Scratch& s) {
  const auto n = static_cast<std::int64_t>(s.chunk.size());
  if (len < kHeader) throw Failure{"shorter than a blosc header"};
  const unsigned flags = body[2];
  const std::int64_t nbytes = le32(body + 4), blocksize = le32(body + 8), cbytes = le32(body + 12);
  if (nbytes != n)
    throw Failure{"decompressed to " + std::to_string(nbytes) + " bytes, expected " + std::to_string(n)};
  if (cbytes != len)
    throw Failure{"blosc header says " + std::to_string(cbytes) + " bytes, the chunk has " + std::to_string(len)};
  if (flags & kMemcpyed) {
    if (cbytes != kHeader + n)
      throw Failure{"stored chunk of " + std::to_string(cbytes - kHeader) + " bytes, expected " + std::to_string(n)};
    std::memcpy(s.chunk.data() + lo, body + kHeader + lo, static_cast<std::size_t>(hi - lo));
    return;
  }
  if (blocksize <= 0 || blocksize > n)
    throw Failure{"blosc block size " + std::to_string(blocksize) + " invalid for a " + std::to_string(n) +
                  "-byte chunk"};
  const std::int64_t nblocks = (n + blocksize - 1) / blocksize;
  const std::int64_t table = kHeader + 4 * nblocks;
  if (len < table) throw Failure{"blosc block table runs past the chunk"};
  auto& starts = s.starts;
  auto& ends = s.ends;
  auto& order = s.order;
  starts.resize(static_cast<std::size_t>(nblocks));
  ends.resize(starts.size());
  order.resize(starts.size());
  for (std::int64_t k = 0; k < nblocks; ++k) {
    starts[k] = static_cast<std::int32_t>(le32(body + kHeader + 4 * k));
    order[k] = k;
  }
  std::sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return starts[a] < starts[b]; });
  if (starts[order.front()] < table || starts[order.back()] >= len) throw Failure{"blosc block offsets outside the chunk"};
  for (std::int64_t k = 0; k < nblocks; ++k) {
    std::int64_t next = k + 1 < nblocks ? starts[order[k + 1]] : len;
    if (next == starts[order[k]]) throw Failure{"blosc block offsets overlap"};
    ends[order[k]] = next;
  }
  std::int64_t b0 = 0, b1 = nblocks;
  if (n % blocksize == 0) {
    b0 = lo / blocksize;
    b1 = (hi + blocksize - 1) / blocksize;
  }
  int got;
  if (b0 == 0 && b1 == nblocks) {
    got = job.decode(body, s.chunk.data(), static_cast<std::size_t>(n), 1);
  } else {
    // A blosc stream of blocks b0..b1 only: same header with the shorter sizes, shifted offsets.
    const std::int64_t m = b1 - b0;
    const std::int64_t head = kHeader + 4 * m;
    std::int64_t at = head;
    for (std::int64_t k = b0; k < b1; ++k) at += ends[k] - starts[k];
    if (static_cast<std::int64_t>(s.frame.size()) < at) s.frame.resize(static_cast<std::size_t>(at));
    unsigned char* f = s.frame.data();
    std::memcpy(f, body, kHeader);
    put32(f + 4, static_cast<std::uint32_t>(m * blocksize));
    put32(f + 12, static_cast<std::uint32_t>(at));
    at = head;
    for (std::int64_t k = b0; k < b1; ++k) {
      put32(f + kHeader + 4 * (k - b0), static_cast<std::uint32_t>(at));
      std::memcpy(f + at, body + starts[k], static_cast<std::size_t>(ends[k] - starts[k]));
      at += ends[k] - starts[k];
    }
    got = job.decode(f, s.chunk.data() + b0 * blocksize, static_cast<std::size_t>(m * blocksize), 1);
    if (got >= 0 && got != m * blocksize) got = -100;
  }
  if (got < 0 || (b0 == 0 && b1 == nblocks && got != n))
    throw Failure{"does not decompress (blosc error " + std::to_string(got) + ")"};
}

// Copies nz x ny rows of R bytes (R a constant: inlined moves).
template <std::size_t R>
void copy_rows(const unsigned char* in, unsigned char* out, std::int64_t nz, std::int64_t ny, std::int64_t from_z,
               std::int64_t from_y, std::int64_t to_z, std::int64_t to_y) {
  for (std::int64_t z = 0; z < nz; ++z)
    for (std::int64_t y = 0; y < ny; ++y) std::memcpy(out + z * to_z + y * to_y, in + z * from_z + y * from_y, R);
}

void read_part(const WindowJob& job, const std::string& path, const ChunkPart& p, Scratch& s) {
  const std::int64_t n = read_file(path, s);
  if (n < 4) throw Failure{"chunk shorter than its checksum"};
  const std::int64_t len = n - 4;
  if (crc32c(s.raw.data(), static_cast<std::size_t>(len)) != le32(s.raw.data() + len))
    throw Failure{"crc32c checksum mismatch (corrupt chunk)"};
  // Decoded bytes the copy reads: from its first voxel to its last.
  const std::int64_t is = job.itemsize;
  const std::int64_t lo = ((p.src[0] * job.chunk[1] + p.src[1]) * job.chunk[2] + p.src[2]) * is;
  const std::int64_t hi =
      (((p.src[0] + p.ext[0] - 1) * job.chunk[1] + p.src[1] + p.ext[1] - 1) * job.chunk[2] + p.src[2] + p.ext[2]) * is;
  decode_blosc(job, s.raw.data(), len, lo, hi, s);
  const std::int64_t row = p.ext[2] * is;
  const std::int64_t to0 = ((p.dst[0] * job.window[1] + p.dst[1]) * job.window[2] + p.dst[2]) * is;
  const std::int64_t from_y = job.chunk[2] * is, from_z = job.chunk[1] * from_y;
  const std::int64_t to_y = job.window[2] * is, to_z = job.window[1] * to_y;
  const unsigned char* in = s.chunk.data() + lo;
  unsigned char* out = job.out + to0;
  // Whole rows of 32 int16 / 16 float32 voxels (32-voxel chunk rows) and of 64 int16 are the
  // common cases: a copy of constant size compiles to a few vector moves instead of a call.
  if (row == 64) {
    copy_rows<64>(in, out, p.ext[0], p.ext[1], from_z, from_y, to_z, to_y);
  } else if (row == 128) {
    copy_rows<128>(in, out, p.ext[0], p.ext[1], from_z, from_y, to_z, to_y);
  } else {
    for (std::int64_t z = 0; z < p.ext[0]; ++z)
      for (std::int64_t y = 0; y < p.ext[1]; ++y)
        std::memcpy(out + z * to_z + y * to_y, in + z * from_z + y * from_y, static_cast<std::size_t>(row));
  }
}

// This thread's buffers, sized for the job's chunks.
Scratch& scratch_for(const WindowJob& job) {
  thread_local std::unique_ptr<Scratch> kept;
  if (!kept) kept = std::make_unique<Scratch>();
  kept->raw.resize(static_cast<std::size_t>(job.max_file_bytes + 1));
  kept->chunk.resize(static_cast<std::size_t>(job.chunk[0] * job.chunk[1] * job.chunk[2] * job.itemsize));
  return *kept;
}

// Runs item(j, scratch) for j in [0, n) on `threads` threads (each claims the next j); stops claiming past
// the lowest failing j, whose Failure is returned (part -1: none).
template <class Item>
ChunkError run_items(const WindowJob& job, std::int64_t n, int threads, const Item& item) {
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> first_bad{n};
  std::mutex mu;
  ChunkError err;
  const std::int64_t tasks = std::max<std::int64_t>(1, std::min<std::int64_t>(threads, n));
  parallel_for(tasks, 1, static_cast<int>(tasks), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t t = b; t < e; ++t) {
      Scratch& s = scratch_for(job);
      for (;;) {
        const std::int64_t j = next.fetch_add(1);
        if (j >= n || j > first_bad.load()) break;
        try {
          item(j, s);
        } catch (const Failure& f) {
          std::lock_guard<std::mutex> lock(mu);
          if (j < first_bad.load()) {
            first_bad.store(j);
            err.part = j;
            err.reason = f.reason;
          }
        }
      }
    }
  });
  return err;
}

}  // namespace

ChunkError read_window(const WindowJob& job, int threads) {
  const auto nparts = static_cast<std::int64_t>(job.parts.size());
  return run_items(job, nparts, threads, [&](std::int64_t j, Scratch& s) {
    read_part(job, job.files[static_cast<std::size_t>(j)], job.parts[static_cast<std::size_t>(j)], s);
  });
}

BoxResult read_box(const BoxJob& job, int threads, ReadFlags* opened) {
  BoxResult res;
  const WindowJob& io = job.io;
  Box3 chunk{io.chunk[0], io.chunk[1], io.chunk[2]}, grid{};
  const std::int64_t n = chunks_in_box(chunk, job.lo, job.hi, grid);
  if (opened != nullptr) opened->assign(static_cast<std::size_t>(n), 0);
  std::atomic<std::int64_t> read{0};
  res.err = run_items(io, n, threads, [&](std::int64_t j, Scratch& s) {
    PlannedChunk pc;
    if (!plan_chunk(chunk, job.lo, job.hi, grid, j, job.fp, job.slab, 3 - job.key_axes, pc)) return;
    ChunkPart p;
    for (int k = 0; k < 3; ++k) {
      p.src[k] = pc.first[k] - pc.idx[k] * chunk[k];
      p.dst[k] = pc.first[k] - job.lo[k];
      p.ext[k] = pc.last[k] - pc.first[k];
    }
    std::string& path = s.path;
    path.assign(job.base);
    for (int k = 3 - job.key_axes; k < 3; ++k) {
      if (k > 3 - job.key_axes) path.push_back('/');
      path.append(std::to_string(pc.idx[k]));
    }
    read.fetch_add(1);
    if (opened != nullptr) (*opened)[static_cast<std::size_t>(j)] = 1;  // each j is claimed once
    read_part(io, path, p, s);
  });
  if (res.err.part >= 0) {
    PlannedChunk pc;
    plan_chunk(chunk, job.lo, job.hi, grid, res.err.part, nullptr, job.slab, 0, pc);
    res.err_idx = pc.idx;
  }
  res.read = read.load();
  return res;
}

}  // namespace fm::store
