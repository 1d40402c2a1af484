// Philox4x32-10 over a run of consecutive blocks, 16 (AVX-512) or 8 (AVX2) blocks per
// vector, picked at run time (the build stays baseline x86-64). The words equal
// philox_block (rng.h) bit for bit: the same rounds, with the 32x32 -> 64-bit products
// of the even and odd lanes recombined into the high and low words.
#include "augment_cpu.h"
#include "fastmed/rng.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define FM_PHILOX_SIMD 1
#endif
// GCC 12 warns inside its own AVX-512 intrinsics (the undefined passthrough operand of the
// masked builtins, GCC bug 105593); nothing here reads an uninitialized value.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace fm {
namespace aug {
namespace {

void philox_scalar(u64 b0, i64 from, i64 nb, u32 stream_lo, u32 stream_hi, const u32 key[2], u32* const w[4]) {
  for (i64 b = from; b < nb; ++b) {
    const Philox4x32 r = philox_block(b0 + static_cast<u64>(b), stream_lo, stream_hi, key);
    for (int k = 0; k < 4; ++k) w[k][b] = r.v[k];
  }
}

#if FM_PHILOX_SIMD

// The key of each of the ten rounds (philox4x32_10's schedule).
void round_keys(const u32 key[2], u32 ka[10], u32 kb[10]) {
  ka[0] = key[0];
  kb[0] = key[1];
  for (int r = 1; r < 10; ++r) {
    ka[r] = ka[r - 1] + detail::kPhiloxW0;
    kb[r] = kb[r - 1] + detail::kPhiloxW1;
  }
}

// Blocks [0, end) with end a multiple of 16 whose low counter word does not wrap inside a vector.
__attribute__((target("avx512f"))) i64 philox_avx512(u64 b0, i64 nb, u32 stream_lo, u32 stream_hi,
                                                     const u32 key[2], u32* const w[4]) {
  const __m512i m0 = _mm512_set1_epi32(static_cast<int>(detail::kPhiloxM0));
  const __m512i m1 = _mm512_set1_epi32(static_cast<int>(detail::kPhiloxM1));
  const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  u32 ka[10], kb[10];
  round_keys(key, ka, kb);
  __m512i k0[10], k1[10];
  for (int r = 0; r < 10; ++r) {
    k0[r] = _mm512_set1_epi32(static_cast<int>(ka[r]));
    k1[r] = _mm512_set1_epi32(static_cast<int>(kb[r]));
  }
  i64 b = 0;
  for (; b + 16 <= nb; b += 16) {
    const u64 first = b0 + static_cast<u64>(b);
    if (static_cast<u32>(first) > 0xFFFFFFFFu - 15u) break;  // the low word would wrap: scalar from here
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(static_cast<u32>(first))), iota);
    __m512i c1 = _mm512_set1_epi32(static_cast<int>(static_cast<u32>(first >> 32)));
    __m512i c2 = _mm512_set1_epi32(static_cast<int>(stream_lo));
    __m512i c3 = _mm512_set1_epi32(static_cast<int>(stream_hi));
    for (int r = 0; r < 10; ++r) {
      const __m512i pe0 = _mm512_mul_epu32(c0, m0), po0 = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
      const __m512i pe1 = _mm512_mul_epu32(c2, m1), po1 = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
      const __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe0, 32), po0);
      const __m512i lo0 = _mm512_mask_blend_epi32(0xAAAA, pe0, _mm512_slli_epi64(po0, 32));
      const __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(pe1, 32), po1);
      const __m512i lo1 = _mm512_mask_blend_epi32(0xAAAA, pe1, _mm512_slli_epi64(po1, 32));
      c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), k0[r]);
      c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), k1[r]);
      c1 = lo1;
      c3 = lo0;
    }
    _mm512_storeu_si512(w[0] + b, c0);
    _mm512_storeu_si512(w[1] + b, c1);
    _mm512_storeu_si512(w[2] + b, c2);
    _mm512_storeu_si512(w[3] + b, c3);
  }
  return b;
}

__attribute__((target("avx2"))) i64 philox_avx2(u64 b0, i64 nb, u32 stream_lo, u32 stream_hi, const u32 key[2],
                                                u32* const w[4]) {
  const __m256i m0 = _mm256_set1_epi32(static_cast<int>(detail::kPhiloxM0));
  const __m256i m1 = _mm256_set1_epi32(static_cast<int>(detail::kPhiloxM1));
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  u32 ka[10], kb[10];
  round_keys(key, ka, kb);
  __m256i k0[10], k1[10];
  for (int r = 0; r < 10; ++r) {
    k0[r] = _mm256_set1_epi32(static_cast<int>(ka[r]));
    k1[r] = _mm256_set1_epi32(static_cast<int>(kb[r]));
  }
  i64 b = 0;
  for (; b + 8 <= nb; b += 8) {
    const u64 first = b0 + static_cast<u64>(b);
    if (static_cast<u32>(first) > 0xFFFFFFFFu - 7u) break;
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(static_cast<int>(static_cast<u32>(first))), iota);
    __m256i c1 = _mm256_set1_epi32(static_cast<int>(static_cast<u32>(first >> 32)));
    __m256i c2 = _mm256_set1_epi32(static_cast<int>(stream_lo));
    __m256i c3 = _mm256_set1_epi32(static_cast<int>(stream_hi));
    for (int r = 0; r < 10; ++r) {
      const __m256i pe0 = _mm256_mul_epu32(c0, m0), po0 = _mm256_mul_epu32(_mm256_srli_epi64(c0, 32), m0);
      const __m256i pe1 = _mm256_mul_epu32(c2, m1), po1 = _mm256_mul_epu32(_mm256_srli_epi64(c2, 32), m1);
      const __m256i hi0 = _mm256_blend_epi32(_mm256_srli_epi64(pe0, 32), po0, 0xAA);
      const __m256i lo0 = _mm256_blend_epi32(pe0, _mm256_slli_epi64(po0, 32), 0xAA);
      const __m256i hi1 = _mm256_blend_epi32(_mm256_srli_epi64(pe1, 32), po1, 0xAA);
      const __m256i lo1 = _mm256_blend_epi32(pe1, _mm256_slli_epi64(po1, 32), 0xAA);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), k0[r]);
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), k1[r]);
      c1 = lo1;
      c3 = lo0;
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[0] + b), c0);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[1] + b), c1);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[2] + b), c2);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(w[3] + b), c3);
  }
  return b;
}

int philox_level() {
  static const int level = __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") ? 1 : 0);
  return level;
}

#endif

}  // namespace

void philox_words(u64 b0, i64 nb, u32 stream_lo, u32 stream_hi, const u32 key[2], u32* const w[4]) {
  i64 done = 0;
#if FM_PHILOX_SIMD
  const int level = philox_level();
  if (level == 2) done = philox_avx512(b0, nb, stream_lo, stream_hi, key, w);
  else if (level == 1) done = philox_avx2(b0, nb, stream_lo, stream_hi, key, w);
#endif
  philox_scalar(b0, done, nb, stream_lo, stream_hi, key, w);
}

}  // namespace aug
}  // namespace fm
