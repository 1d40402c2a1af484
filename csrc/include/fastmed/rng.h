// Counter-based RNG: Philox4x32-10 (Salmon et al., SC'11; Random123).
//
// A draw is a pure function of (key, counter), so the same sample gets the same
// numbers on any thread, any device and after a resume. fastmed keys a stream by
// the user seed (key) and places (epoch, sample index, op position, draw number)
// in the counter; see fastmed/rng.py for the layout.
#pragma once

#include "fastmed/common.h"

namespace fm {

struct Philox4x32 {
  u32 v[4];
};

namespace detail {
constexpr u32 kPhiloxM0 = 0xD2511F53u;
constexpr u32 kPhiloxM1 = 0xCD9E8D57u;
constexpr u32 kPhiloxW0 = 0x9E3779B9u;  // golden ratio
constexpr u32 kPhiloxW1 = 0xBB67AE85u;  // sqrt(3) - 1

FM_HD u32 mulhilo32(u32 a, u32 b, u32* hi) {
  const u64 p = static_cast<u64>(a) * static_cast<u64>(b);
  *hi = static_cast<u32>(p >> 32);
  return static_cast<u32>(p);
}

FM_HD void philox_round(u32 c[4], const u32 k[2]) {
  u32 hi0, hi1;
  const u32 lo0 = mulhilo32(kPhiloxM0, c[0], &hi0);
  const u32 lo1 = mulhilo32(kPhiloxM1, c[2], &hi1);
  const u32 n0 = hi1 ^ c[1] ^ k[0];
  const u32 n2 = hi0 ^ c[3] ^ k[1];
  c[0] = n0;
  c[1] = lo1;
  c[2] = n2;
  c[3] = lo0;
}
}  // namespace detail

// Ten rounds of Philox4x32 on `counter` under `key`.
FM_HD Philox4x32 philox4x32_10(const u32 counter[4], const u32 key[2]) {
  u32 c[4] = {counter[0], counter[1], counter[2], counter[3]};
  u32 k[2] = {key[0], key[1]};
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k[0] += detail::kPhiloxW0;
      k[1] += detail::kPhiloxW1;
    }
    detail::philox_round(c, k);
  }
  Philox4x32 out;
  out.v[0] = c[0];
  out.v[1] = c[1];
  out.v[2] = c[2];
  out.v[3] = c[3];
  return out;
}

// Uniform float in [0, 1): the top 24 bits, so every value is exact in float32.
FM_HD float u32_to_unit_float(u32 x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// Uniform double in [0, 1) from two words (53 bits).
FM_HD double u32x2_to_unit_double(u32 hi, u32 lo) {
  const u64 bits = (static_cast<u64>(hi) << 21) ^ static_cast<u64>(lo >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1ull)) * (1.0 / 9007199254740992.0);
}

// Two standard normals from two words (Box-Muller); the first uniform is shifted
// into (0, 1] so the log never sees zero.
FM_HD void box_muller(u32 a, u32 b, float* z0, float* z1) {
  const float u1 = (static_cast<float>(a >> 8) + 1.0f) * (1.0f / 16777216.0f);
  const float u2 = u32_to_unit_float(b);
  const float r = sqrtf(-2.0f * logf(u1));
  const float t = 6.2831853071795864769f * u2;
  *z0 = r * cosf(t);
  *z1 = r * sinf(t);
}

// The counter block for element `i` of a stream identified by (stream_hi, stream_lo):
// word 0/1 carry the 64-bit element index, words 2/3 the stream.
FM_HD Philox4x32 philox_block(u64 i, u32 stream_lo, u32 stream_hi, const u32 key[2]) {
  const u32 ctr[4] = {static_cast<u32>(i), static_cast<u32>(i >> 32), stream_lo, stream_hi};
  return philox4x32_10(ctr, key);
}

// The stream key for (seed, epoch): one Philox block of the epoch under the seed,
// so neighbouring seeds or epochs give unrelated keys.
FM_HD void derive_key(u64 seed, u64 epoch, u32 out_key[2]) {
  const u32 seed_key[2] = {static_cast<u32>(seed), static_cast<u32>(seed >> 32)};
  const u32 ctr[4] = {static_cast<u32>(epoch), static_cast<u32>(epoch >> 32), 0u, 0x46415354u};
  const Philox4x32 b = philox4x32_10(ctr, seed_key);
  out_key[0] = b.v[0];
  out_key[1] = b.v[1];
}

}  // namespace fm
