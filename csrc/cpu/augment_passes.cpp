// Row-wise intensity program (the op loop outside, voxels inside, so each op's
// loop vectorizes and dispatch costs one switch per row) and the patch passes
// that cannot fuse into the gather: Gaussian blur and program segments after it.
// Every row loop calls the per-voxel FM_HD op of fastmed/intensity.h (the code the GPU
// and cpu-reference run), inlined: the row forms only hoist what is fixed along a row.
// No errno from sqrtf (its argument is never negative) and no assumption that float
// ops may trap (nothing here reads FP exception flags): with these the compiler
// if-converts the selects in fastmath.h and the noise and gamma loops vectorize.
// Results are unchanged: both options only widen what the optimizer may reorder
// around, not the arithmetic (no reassociation). No FMA contraction either, so the
// SIMD clones (FM_SIMD_CLONES, augment_cpu.h) round exactly as the baseline code does.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "no-trapping-math", "fp-contract=off")
#endif

#include <algorithm>
#include <cmath>
#include <vector>

#include "augment_cpu.h"
#include "fastmed/blur.h"
#include "thread_pool.h"

namespace fm {
namespace aug {
namespace {

// Adds std * N(0,1) with the numbers of normal_at(). Structure of arrays throughout so
// every loop vectorizes without shuffles: Philox word k of block b into w[k * nb + b],
// Box-Muller on the pairs (word 0, word 1) and (word 2, word 3) of each block into
// z[lane * nb + b], interleaved back into counter order (normal i = 4 b + lane), added.
FM_SIMD_CLONES void noise_row(float* __restrict row, i64 W, u64 first, float stddev, const ProgramView& p, u32 stream) {
  const u64 b0 = first >> 2;
  const i64 lead = static_cast<i64>(first & 3u);
  const i64 nb = (lead + W + 3) / 4;
  thread_local std::vector<u32> words;
  thread_local std::vector<float> z;
  words.resize(static_cast<size_t>(4 * nb));
  z.resize(static_cast<size_t>(4 * nb));
  u32* __restrict w0 = words.data();
  u32* __restrict w1 = w0 + nb;
  u32* __restrict w2 = w1 + nb;
  u32* __restrict w3 = w2 + nb;
  u32* const w[4] = {w0, w1, w2, w3};
  philox_words(b0, nb, p.index, stream | kKernelStreamBit, p.key, w);
  float* __restrict z0 = z.data();
  float* __restrict z1 = z0 + nb;
  float* __restrict z2 = z1 + nb;
  float* __restrict z3 = z2 + nb;
  for (i64 b = 0; b < nb; ++b) fast_box_muller(w0[b], w1[b], &z0[b], &z1[b]);
  for (i64 b = 0; b < nb; ++b) fast_box_muller(w2[b], w3[b], &z2[b], &z3[b]);
  thread_local std::vector<float> zi;  // back in counter order: normal i at zi[i]
  zi.resize(static_cast<size_t>(4 * nb));
  float* __restrict n = zi.data();
  for (i64 b = 0; b < nb; ++b) {
    n[4 * b] = z0[b];
    n[4 * b + 1] = z1[b];
    n[4 * b + 2] = z2[b];
    n[4 * b + 3] = z3[b];
  }
  const float* __restrict src = n + lead;
  for (i64 x = 0; x < W; ++x) row[x] = op_noise(row[x], stddev, src[x]);
}

// op_gamma over a row: the span test and the invert flag hoisted out of the loop.
FM_SIMD_CLONES void gamma_row(float* __restrict row, i64 W, float lo, float span, float g, bool invert) {
  if (invert) {
    for (i64 x = 0; x < W; ++x) row[x] = op_gamma_span(row[x], lo, span, g, true);
  } else {
    for (i64 x = 0; x < W; ++x) row[x] = op_gamma_span(row[x], lo, span, g, false);
  }
}

FM_SIMD_CLONES void clip_row(float* __restrict row, i64 W, float lo, float hi) {
  for (i64 x = 0; x < W; ++x) row[x] = op_clip(row[x], lo, hi);
}

// The bias polynomial collapsed at (zn, yn) once per row, then Horner per voxel.
void bias_row(float* row, i64 W, i64 Wn, const float* q, float zn, float yn) {
  const int order = static_cast<int>(q[0]);
  float a[kBiasMaxOrder + 1];
  bias_collapse(q + 1, order, zn, yn, a);
  for (i64 x = 0; x < W; ++x) row[x] = op_bias(row[x], bias_horner(a, order, normalized_coord(x, Wn)));
}

}  // namespace

void program_row(float* __restrict row, i64 W, i64 c, i64 z, i64 y, const i64 shape[4],
                 const ProgramView& p, bool skip_random) {
  const u64 first = static_cast<u64>(((c * shape[1] + z) * shape[2] + y) * shape[3]);
  for (i64 k = 0; k < p.n_ops; ++k) {
    const i32* op = p.ops + 4 * k;
    if (!op_applies(op, static_cast<i32>(c))) continue;
    if (skip_random && op_is_per_voxel_random(op[0])) continue;
    const float* q = p.params + op[2];
    switch (op[0]) {
      case kOpClip:
        clip_row(row, W, q[0], q[1]);
        break;
      case kOpAffine: {
        const float mul = q[0], add = q[1];
        for (i64 x = 0; x < W; ++x) row[x] = op_affine(row[x], mul, add);
        break;
      }
      case kOpGamma: {
        const float span = q[1] - q[0];
        if (span > 0.0f) gamma_row(row, W, q[0], span, q[2], q[3] != 0.0f);
        break;
      }
      case kOpNoise:
        noise_row(row, W, first, q[0], p, static_cast<u32>(op[3]));
        break;
      case kOpBiasField:
        bias_row(row, W, shape[3], q, normalized_coord(z, shape[1]), normalized_coord(y, shape[2]));
        break;
      default: {
        // Ops without a row form here run apply_op voxel by voxel, so a new intensity op
        // needs no case in this file.
        VoxelCtx ctx{first, static_cast<i32>(c), normalized_coord(z, shape[1]), normalized_coord(y, shape[2]),
                     0.0f};
        for (i64 x = 0; x < W; ++x) {
          ctx.linear = first + static_cast<u64>(x);
          ctx.xn = normalized_coord(x, shape[3]);
          row[x] = apply_op(p, op, row[x], ctx);
        }
        break;
      }
    }
  }
}

void apply_program_f32(float* data, const i64 shape[4], const ProgramView& p, bool skip_random,
                       int threads) {
  const i64 C = shape[0], D = shape[1], H = shape[2], W = shape[3];
  parallel_for(C * D * H, 16, threads, [&](i64 b, i64 e) {
    for (i64 r = b; r < e; ++r) {
      const i64 c = r / (D * H), z = (r / H) % D, y = r % H;
      program_row(data + r * W, W, c, z, y, shape, p, skip_random);
    }
  });
}

void gaussian_blur_f32(float* data, const i64 shape[4], const double sigma[3], double truncate,
                       int threads) {
  const i64 C = shape[0];
  const i64 n3[3] = {shape[1], shape[2], shape[3]};
  const i64 st[3] = {shape[2] * shape[3], shape[3], 1};
  const i64 plane = shape[1] * shape[2] * shape[3];
  for (int axis = 0; axis < 3; ++axis) {
    if (!(sigma[axis] > 0.0) || n3[axis] <= 1) continue;
    const i64 radius = blur_radius(sigma[axis], truncate);
    std::vector<float> w(static_cast<size_t>(2 * radius + 1));
    blur_weights(sigma[axis], radius, w.data());
    const i64 n = n3[axis], stride = st[axis];
    const i64 lines_per_channel = plane / n;
    // A line is identified by its start: every index with coordinate 0 on `axis`.
    parallel_for(C * lines_per_channel, 64, threads, [&](i64 b, i64 e) {
      std::vector<float> pad(static_cast<size_t>(n + 2 * radius));
      for (i64 l = b; l < e; ++l) {
        const i64 c = l / lines_per_channel, rest = l % lines_per_channel;
        i64 start;
        if (axis == 0) start = rest;
        else if (axis == 1) start = (rest / shape[3]) * shape[2] * shape[3] + rest % shape[3];
        else start = rest * shape[3];
        float* line = data + c * plane + start;
        // The line with its symmetric extension, so the tap loop below is branch-free.
        for (i64 k = -radius; k < n + radius; ++k) pad[k + radius] = line[blur_reflect(k, n) * stride];
        for (i64 i = 0; i < n; ++i) {
          float acc = 0.0f;
          const float* src = pad.data() + i;
          for (i64 k = 0; k <= 2 * radius; ++k) acc += w[k] * src[k];
          line[i * stride] = acc;
        }
      }
    });
  }
}

}  // namespace aug
}  // namespace fm
