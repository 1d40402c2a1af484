// CRC-32C: software tables and the SSE4.2 path with three interleaved streams combined by
// "append zeros" operators (after Mark Adler's crc32c.c, zlib licence). The hardware path is
// compiled with a target attribute and chosen at run time, so the extension keeps portable flags.
#include "crc32c.h"

#include <cstring>
#include <initializer_list>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace fm {
namespace {

constexpr std::uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial
constexpr std::size_t kLong = 8192;
constexpr std::size_t kShort = 256;

struct Tables {
  std::uint32_t byte[8][256];      // slicing-by-8
  std::uint32_t longz[4][256];     // shift a crc over kLong zero bytes
  std::uint32_t shortz[4][256];    // ... over kShort zero bytes
};

std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) {
  std::uint32_t sum = 0;
  while (vec) {
    if (vec & 1) sum ^= *mat;
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void gf2_square(std::uint32_t* square, const std::uint32_t* mat) {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

// Operator appending `len` zero bytes (len a power of two) to a crc.
void zeros_op(std::uint32_t* even, std::size_t len) {
  std::uint32_t odd[32];
  odd[0] = kPoly;
  std::uint32_t row = 1;
  for (int n = 1; n < 32; ++n) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_square(even, odd);  // 2 zero bits
  gf2_square(odd, even);  // 4 zero bits
  do {
    gf2_square(even, odd);
    len >>= 1;
    if (len == 0) return;
    gf2_square(odd, even);
    len >>= 1;
  } while (len);
  std::memcpy(even, odd, sizeof(odd));
}

void zeros_table(std::uint32_t zeros[][256], std::size_t len) {
  std::uint32_t op[32];
  zeros_op(op, len);
  for (std::uint32_t n = 0; n < 256; ++n) {
    zeros[0][n] = gf2_times(op, n);
    zeros[1][n] = gf2_times(op, n << 8);
    zeros[2][n] = gf2_times(op, n << 16);
    zeros[3][n] = gf2_times(op, n << 24);
  }
}

Tables make_tables() {
  Tables t{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
    t.byte[0][n] = c;
  }
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = t.byte[0][n];
    for (int k = 1; k < 8; ++k) {
      c = t.byte[0][c & 0xff] ^ (c >> 8);
      t.byte[k][n] = c;
    }
  }
  zeros_table(t.longz, kLong);
  zeros_table(t.shortz, kShort);
  return t;
}

const Tables& tables() {
  static const Tables t = make_tables();
  return t;
}

std::uint32_t shift(const std::uint32_t zeros[][256], std::uint32_t crc) {
  return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

std::uint32_t crc_sw(const Tables& t, std::uint32_t crc, const unsigned char* p, std::size_t len) {
  while (len >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);  // little endian (x86-64, aarch64)
    w ^= crc;
    crc = t.byte[7][w & 0xff] ^ t.byte[6][(w >> 8) & 0xff] ^ t.byte[5][(w >> 16) & 0xff] ^
          t.byte[4][(w >> 24) & 0xff] ^ t.byte[3][(w >> 32) & 0xff] ^ t.byte[2][(w >> 40) & 0xff] ^
          t.byte[1][(w >> 48) & 0xff] ^ t.byte[0][w >> 56];
    p += 8;
    len -= 8;
  }
  while (len--) crc = t.byte[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_hw(const Tables& t, std::uint32_t crc0, const unsigned char* p,
                                                       std::size_t len) {
  auto word = [](const unsigned char* q) {
    std::uint64_t w;
    std::memcpy(&w, q, 8);
    return w;
  };
  for (std::size_t stride : {kLong, kShort}) {
    const auto& zeros = stride == kLong ? t.longz : t.shortz;
    while (len >= 3 * stride) {
      std::uint64_t c0 = crc0, c1 = 0, c2 = 0;
      const unsigned char* end = p + stride;
      do {
        c0 = _mm_crc32_u64(c0, word(p));
        c1 = _mm_crc32_u64(c1, word(p + stride));
        c2 = _mm_crc32_u64(c2, word(p + 2 * stride));
        p += 8;
      } while (p < end);
      crc0 = shift(zeros, static_cast<std::uint32_t>(c0)) ^ static_cast<std::uint32_t>(c1);
      crc0 = shift(zeros, crc0) ^ static_cast<std::uint32_t>(c2);
      p += 2 * stride;
      len -= 3 * stride;
    }
  }
  std::uint64_t c = crc0;
  while (len >= 8) {
    c = _mm_crc32_u64(c, word(p));
    p += 8;
    len -= 8;
  }
  crc0 = static_cast<std::uint32_t>(c);
  while (len--) crc0 = _mm_crc32_u8(crc0, *p++);
  return crc0;
}

bool have_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}
#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t len) {
  const Tables& t = tables();
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xffffffffu;
#if defined(__x86_64__)
  if (have_sse42()) return crc_hw(t, crc, p, len) ^ 0xffffffffu;
#endif
  return crc_sw(t, crc, p, len) ^ 0xffffffffu;
}

}  // namespace fm
