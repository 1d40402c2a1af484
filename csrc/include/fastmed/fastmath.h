// Branch-free float approximations of log2, exp2 and sincos(2*pi*u), written so
// the host compiler vectorizes loops over them (libm calls do not vectorize
// without -ffast-math) and so CPU and GPU evaluate the very same formulas.
// Accuracy: about 1e-7 relative over the ranges used (normal inputs); checked
// through the gamma and noise tests in tests/transforms/test_intensity_ops.py
// (against numpy and fastmed._core.fill_normal's libm Box-Muller). NVRTC-safe.
#pragma once

#include "fastmed/common.h"

namespace fm {

FM_HD u32 float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  union {
    float f;
    u32 u;
  } b;
  b.f = f;
  return b.u;
#endif
}

FM_HD float bits_float(u32 u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  union {
    u32 u;
    float f;
  } b;
  b.u = u;
  return b.f;
#endif
}

// log2(x) for x > 0 (x = 0 gives -127; denormals are not exact).
FM_HD float fast_log2(float x) {
  const u32 b = float_bits(x);
  float e = static_cast<float>(static_cast<i32>((b >> 23) & 0xFFu) - 127);
  float m = bits_float((b & 0x7FFFFFu) | 0x3F800000u);  // [1, 2)
  // Both sides computed before the select: with trapping math on, the compiler will
  // not speculate a float op out of a branch, and the loop would stay scalar.
  const bool big = m > 1.41421356f;
  const float m_half = m * 0.5f, e_next = e + 1.0f;
  m = big ? m_half : m;  // [0.707, 1.414]
  e = big ? e_next : e;
  const float f = m - 1.0f;
  const float s = f / (2.0f + f);  // ln(1 + f) = 2 atanh(s), |s| <= 0.1716
  const float s2 = s * s;
  const float ln = 2.0f * s *
                   (1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f))));
  return e + ln * 1.44269504f;
}

// 2^x, clamped to the float range (underflow gives ~1e-38, never a denormal).
FM_HD float fast_exp2(float x) {
  x = x < -126.0f ? -126.0f : x;  // two flat selects (a nested one keeps the loop scalar)
  x = x > 127.0f ? 127.0f : x;
  const float h = x + 0.5f;
  i32 i = static_cast<i32>(h);
  i -= (h < static_cast<float>(i)) ? 1 : 0;  // floor(x + 0.5): |f| <= 0.5
  const float f = (x - static_cast<float>(i)) * 0.693147181f;
  const float p =
      1.0f + f * (1.0f + f * (0.5f + f * (0.166666667f + f * (0.0416666667f + f * (0.00833333333f +
                                                                              f * 0.00138888889f)))));
  return p * bits_float(static_cast<u32>(i + 127) << 23);
}

// sin and cos of 2*pi*u for any u (used with u in [0, 1)).
FM_HD void fast_sincos2pi(float u, float* s_out, float* c_out) {
  const float q4 = u * 4.0f + 0.5f;
  i32 q = static_cast<i32>(q4);
  q -= (q4 < static_cast<float>(q)) ? 1 : 0;  // nearest quarter turn
  const float r = (u - static_cast<float>(q) * 0.25f) * 6.28318531f;  // [-pi/4, pi/4]
  const float r2 = r * r;
  const float s = r * (1.0f + r2 * (-0.166666667f + r2 * (0.00833333333f + r2 * (-1.98412698e-4f +
                                                                             r2 * 2.75573192e-6f))));
  const float c = 1.0f + r2 * (-0.5f + r2 * (0.0416666667f + r2 * (-0.00138888889f + r2 * (2.48015873e-5f +
                                                                                      r2 * -2.75573192e-7f))));
  const i32 k = q & 3;
  const float ns = -s, nc = -c;
  *s_out = k == 0 ? s : (k == 1 ? c : (k == 2 ? ns : nc));
  *c_out = k == 0 ? c : (k == 1 ? ns : (k == 2 ? nc : s));
}

// Two standard normals from two Philox words (Box-Muller; the first uniform is
// shifted into (0, 1] so the log is finite): the layout of fm::box_muller.
FM_HD void fast_box_muller(u32 a, u32 b, float* z0, float* z1) {
  const float u1 = (static_cast<float>(a >> 8) + 1.0f) * (1.0f / 16777216.0f);
  const float u2 = static_cast<float>(b >> 8) * (1.0f / 16777216.0f);
  float l = -1.38629436f * fast_log2(u1);  // -2 ln(u1)
  l = l > 1e-30f ? l : 1e-30f;
  // sqrt as exp2(log2 / 2): sqrtf keeps a host loop scalar (errno), this vectorizes.
  const float r = fast_exp2(0.5f * fast_log2(l));
  float s, c;
  fast_sincos2pi(u2, &s, &c);
  *z0 = r * c;
  *z1 = r * s;
}

// t^g for t in [0, 1] and g > 0 (0^g = 0). Branch-free so loops over it vectorize: the
// zero case multiplies by 0 or 1 (r is finite), since a select of r is kept as a branch
// in GCC's AVX clones.
FM_HD float fast_pow01(float t, float g) {
  const float safe = t > 1e-30f ? t : 1e-30f;
  const float r = fast_exp2(g * fast_log2(safe));
  const float keep = t > 0.0f ? 1.0f : 0.0f;
  return r * keep;
}

}  // namespace fm
