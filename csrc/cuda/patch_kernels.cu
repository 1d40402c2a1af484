// GPU patch passes that run after the fused kernel (fastmed/backends/cuda.py):
// one axis of the separable Gaussian blur (the taps and weights of fastmed/blur.h,
// shared with the CPU pass) and the final float32 -> float16/bfloat16 conversion
// (the rounding of fastmed/intensity.h via augment.h, shared with the fused kernel's stores).
// Loaded by CuPy (NVRTC) at run time; compiled by nvcc and NVRTC in CI.
#include "fastmed/blur.h"
#include "fastmed/common.h"
#include "fastmed/augment.h"

// Blur of a C-contiguous float32 (C, D, H, W) patch along `axis` (0 = z, 1 = y, 2 = x),
// `in` -> `out` (distinct buffers). One thread per output voxel, grid-stride.
extern "C" __global__ void fm_blur_axis(const float* in, float* out, fm::i64 C, fm::i64 D, fm::i64 H,
                                        fm::i64 W, int axis, const float* weights, fm::i64 radius) {
  const fm::i64 total = C * D * H * W;
  const fm::i64 n = axis == 0 ? D : (axis == 1 ? H : W);
  const fm::i64 stride = axis == 0 ? H * W : (axis == 1 ? W : 1);
  const fm::i64 step = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 i = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const fm::i64 pos = (i / stride) % n;  // coordinate along the axis
    const float* line = in + (i - pos * stride);
    out[i] = fm::blur_tap_sum(line, stride, n, pos, weights, radius);
  }
}

// float32 -> IEEE half (kind 1) or bfloat16 (kind 2) bits, round to nearest even.
extern "C" __global__ void fm_f32_to_16bit(const float* in, fm::u16* out, fm::i64 n, int kind) {
  const fm::i64 step = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 i = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    out[i] = kind == fm::kDevOutBF16 ? fm::float_to_bf16_bits(in[i]) : fm::float_to_half_bits(in[i]);
  }
}
