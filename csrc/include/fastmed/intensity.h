// The per-voxel intensity program: a short list of ops interpreted per voxel.
//
// A program is plain data: `ops` holds n rows of four int32 (opcode, channel
// (-1 = every channel), offset of the op's floats in `params`, op position in
// the pipeline = its RNG stream) and `params` the floats. The same FM_HD op
// functions serve the CPU kernel (which runs one op over a whole row) and the
// GPU kernel (one thread per voxel, run_program). The opcode enum comes from the
// op schema (fastmed/transforms/schema.py) through the generated opcodes.h. NVRTC-safe.
#pragma once

#include "fastmed/common.h"
#include "fastmed/fastmath.h"
#include "fastmed/opcodes.h"
#include "fastmed/rng.h"

namespace fm {

// Opcodes (opcodes.h): clip (lo, hi); affine (mul, add): v * mul + add; gamma (lo, hi,
// gamma, invert) on t = clamp((v - lo) / (hi - lo), 0, 1); noise (std): v + std * N(0, 1)
// from Philox per voxel; bias field (order, coefficients): v * exp(poly(zn, yn, xn)),
// coords in [-1, 1].

constexpr u32 kKernelStreamBit = 0x80000000u;

struct ProgramView {
  const i32* ops;  // (n, 4)
  i64 n_ops;
  const float* params;
  u32 key[2];  // derive_key(seed, epoch)
  u32 index;   // sample index (counter word 2)
};

// Where a voxel sits: linear index in the output patch (C, D, H, W), channel,
// and position normalised to [-1, 1] along each output axis (0 for a length-1 axis).
struct VoxelCtx {
  u64 linear;
  i32 channel;
  float zn, yn, xn;
};

// Two flat selects (both sides computed first): loops over it vectorize in every clone.
FM_HD float op_clip(float v, float lo, float hi) {
  const float below_hi = v > hi ? hi : v;
  return v < lo ? lo : below_hi;
}

FM_HD float op_affine(float v, float mul, float add) { return v * mul + add; }

// op_gamma with span = hi - lo > 0 known (row loops hoist the test and the invert flag).
FM_HD float op_gamma_span(float v, float lo, float span, float gamma, bool invert) {
  const float t = op_clip((v - lo) / span, 0.0f, 1.0f);
  const float r = invert ? 1.0f - fast_pow01(1.0f - t, gamma) : fast_pow01(t, gamma);
  return lo + span * r;
}

FM_HD float op_gamma(float v, float lo, float hi, float gamma, float invert) {
  const float span = hi - lo;
  if (!(span > 0.0f)) return v;
  return op_gamma_span(v, lo, span, gamma, invert != 0.0f);
}

// v plus std times the standard normal z (normal_at).
FM_HD float op_noise(float v, float stddev, float z) { return v + stddev * z; }

// Standard normal number `i` of the kernel stream (index, stream | kKernelStreamBit):
// lane i % 4 of Philox block i / 4, Box-Muller on word pairs (lanes 0-1 from words
// 0-1, lanes 2-3 from words 2-3): the layout of fastmed._core.fill_normal, with the
// vectorizable log/sincos of fastmath.h.
FM_HD float normal_at(u64 i, u32 index, u32 stream, const u32 key[2]) {
  const Philox4x32 r = philox_block(i >> 2, index, stream | kKernelStreamBit, key);
  float z0, z1;
  const int lane = static_cast<int>(i & 3u);
  if (lane < 2) fast_box_muller(r.v[0], r.v[1], &z0, &z1);
  else fast_box_muller(r.v[2], r.v[3], &z0, &z1);
  return (lane & 1) ? z1 : z0;
}

// The bias-field polynomial: terms z^i y^j x^k with i + j + k <= order, enumerated
// i outer, j, then k inner; coefficient c[t] for term t. Evaluated in two steps, in this
// order on every backend: bias_collapse sums the z and y powers into coefficients a[k] of
// x^k (c[t] * z^i * y^j added in term order), bias_horner evaluates sum a[k] x^k by
// Horner. The CPU kernel collapses once per row; a GPU thread does both per voxel.
constexpr int kBiasMaxOrder = 8;

FM_HD void bias_collapse(const float* c, int order, float zn, float yn, float a[kBiasMaxOrder + 1]) {
  for (int k = 0; k <= kBiasMaxOrder; ++k) a[k] = 0.0f;
  int t = 0;
  float zp = 1.0f;
  for (int i = 0; i <= order; ++i) {
    float yp = 1.0f;
    for (int j = 0; j <= order - i; ++j) {
      for (int k = 0; k <= order - i - j; ++k) a[k] += c[t++] * zp * yp;
      yp *= yn;
    }
    zp *= zn;
  }
}

FM_HD float bias_horner(const float a[kBiasMaxOrder + 1], int order, float xn) {
  float acc = a[order];
  for (int k = order - 1; k >= 0; --k) acc = acc * xn + a[k];
  return acc;
}

FM_HD float bias_poly(const float* c, int order, float zn, float yn, float xn) {
  float a[kBiasMaxOrder + 1];
  bias_collapse(c, order, zn, yn, a);
  return bias_horner(a, order, xn);
}

// v times exp(poly): the bias field's multiplicative gain.
FM_HD float op_bias(float v, float poly) { return v * expf(poly); }

// Piecewise-linear map through n control points (np.interp): q = (n, x[0..n), y[0..n)),
// x ascending; constant y[0] below x[0] and y[n-1] above x[n-1]; NaN stays NaN. The
// segment is found by counting the inner points <= v (no data-dependent branch).
FM_HD float op_histogram_shift(float v, const float* q) {
  const int n = static_cast<int>(q[0]);
  const float* x = q + 1;
  const float* y = q + 1 + n;
  if (v <= x[0]) return y[0];
  if (v >= x[n - 1]) return y[n - 1];
  int i = 0;
  for (int k = 1; k < n - 1; ++k) i += v >= x[k] ? 1 : 0;
  const float r = y[i] + (v - x[i]) * ((y[i + 1] - y[i]) / (x[i + 1] - x[i]));
  return v == v ? r : v;
}

FM_HD bool op_applies(const i32* op, i32 channel) { return op[1] < 0 || op[1] == channel; }

// One op on one voxel.
FM_HD float apply_op(const ProgramView& p, const i32* op, float v, const VoxelCtx& c) {
  const float* q = p.params + op[2];
  switch (op[0]) {
    case kOpClip:
      return op_clip(v, q[0], q[1]);
    case kOpAffine:
      return op_affine(v, q[0], q[1]);
    case kOpGamma:
      return op_gamma(v, q[0], q[1], q[2], q[3]);
    case kOpNoise:
      return op_noise(v, q[0], normal_at(c.linear, p.index, static_cast<u32>(op[3]), p.key));
    case kOpBiasField:
      return op_bias(v, bias_poly(q + 1, static_cast<int>(q[0]), c.zn, c.yn, c.xn));
    case kOpHistogramShift:
      return op_histogram_shift(v, q);
    default:
      return v;
  }
}

// The whole program on one voxel.
FM_HD float run_program(const ProgramView& p, float v, const VoxelCtx& c) {
  for (i64 k = 0; k < p.n_ops; ++k) {
    const i32* op = p.ops + 4 * k;
    if (op_applies(op, c.channel)) v = apply_op(p, op, v, c);
  }
  return v;
}

FM_HD float normalized_coord(i64 i, i64 n) {
  return n > 1 ? 2.0f * static_cast<float>(i) / static_cast<float>(n - 1) - 1.0f : 0.0f;
}

// ---- output conversion -------------------------------------------------------

// IEEE binary16 bits of f, round to nearest even (overflow to inf, NaN kept).
FM_HD u16 float_to_half_bits(float f) {
  const u32 x = float_bits(f);
  const u32 sign = (x >> 16) & 0x8000u;
  u32 a = x & 0x7FFFFFFFu;
  if (a >= 0x7F800000u) return static_cast<u16>(sign | (a > 0x7F800000u ? 0x7E00u : 0x7C00u));
  if (a >= 0x477FF000u) return static_cast<u16>(sign | 0x7C00u);  // rounds past 65504
  if (a < 0x38800000u) {                                          // half subnormal or zero
    const int e = static_cast<int>(a >> 23);
    const int shift = 126 - e;
    if (shift > 25) return static_cast<u16>(sign);
    const u32 m = (a & 0x7FFFFFu) | 0x800000u;
    u32 r = m >> shift;
    const u32 rem = m & ((1u << shift) - 1u);
    const u32 half = 1u << (shift - 1);
    if (rem > half || (rem == half && (r & 1u))) ++r;
    return static_cast<u16>(sign | r);
  }
  a += 0xC8000FFFu + ((a >> 13) & 1u);  // rebias exponent, round to nearest even
  return static_cast<u16>(sign | (a >> 13));
}

// bfloat16 bits of f, round to nearest even (NaN stays NaN).
FM_HD u16 float_to_bf16_bits(float f) {
  const u32 x = float_bits(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<u16>((x >> 16) | 0x0040u);
  return static_cast<u16>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);
}

}  // namespace fm
