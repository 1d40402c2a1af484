// Separable Gaussian blur: the kernel weights and the per-voxel tap sum.
//
// Shared by the CPU blur pass (csrc/cpu/augment_passes.cpp) and the GPU one
// (csrc/cuda/patch_kernels.cu), so both use the same radius, the same float
// weights and the same summation order: scipy.ndimage.gaussian_filter with mode
// "reflect" (symmetric extension d c b a | a b c d | d c b a). NVRTC-safe.
#pragma once

#include "fastmed/common.h"

namespace fm {

// scipy's radius: int(truncate * sigma + 0.5).
FM_HD i64 blur_radius(double sigma, double truncate) {
  return static_cast<i64>(truncate * sigma + 0.5);
}

// Normalised weights exp(-k^2 / 2 sigma^2), k = -radius .. radius, computed in double
// and rounded once to float (w must hold 2 * radius + 1 values).
FM_HD void blur_weights(double sigma, i64 radius, float* w) {
  double sum = 0.0;
  for (i64 k = -radius; k <= radius; ++k) sum += exp(-0.5 * static_cast<double>(k * k) / (sigma * sigma));
  for (i64 k = -radius; k <= radius; ++k) {
    w[k + radius] = static_cast<float>(exp(-0.5 * static_cast<double>(k * k) / (sigma * sigma)) / sum);
  }
}

// Index k of a line of length n after symmetric extension (period 2n).
FM_HD i64 blur_reflect(i64 k, i64 n) {
  i64 m = k % (2 * n);
  if (m < 0) m += 2 * n;
  return m >= n ? 2 * n - 1 - m : m;
}

// Output i of one line (`line[j * stride]`, j < n): taps summed from the leftmost up,
// the order of the CPU pass.
FM_HD float blur_tap_sum(const float* line, i64 stride, i64 n, i64 i, const float* w, i64 radius) {
  float acc = 0.0f;
  for (i64 k = 0; k <= 2 * radius; ++k) acc += w[k] * line[blur_reflect(i - radius + k, n) * stride];
  return acc;
}

}  // namespace fm
