// GPU fill of a Philox stream: the same words as fastmed._core.fill_uniform/fill_normal.
// Loaded by CuPy (NVRTC) at run time; compiled by nvcc and NVRTC in CI.
#include "fastmed/rng.h"

extern "C" __global__ void fm_fill_uniform(float* out, fm::i64 n, fm::u32 key0, fm::u32 key1,
                                           fm::u32 stream_lo, fm::u32 stream_hi) {
  const fm::u32 key[2] = {key0, key1};
  const fm::i64 stride = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 blk = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; blk * 4 < n;
       blk += stride) {
    const fm::Philox4x32 r = fm::philox_block(static_cast<fm::u64>(blk), stream_lo, stream_hi, key);
    for (int w = 0; w < 4 && blk * 4 + w < n; ++w) out[blk * 4 + w] = fm::u32_to_unit_float(r.v[w]);
  }
}

extern "C" __global__ void fm_fill_normal(float* out, fm::i64 n, fm::u32 key0, fm::u32 key1,
                                          fm::u32 stream_lo, fm::u32 stream_hi) {
  const fm::u32 key[2] = {key0, key1};
  const fm::i64 stride = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 blk = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; blk * 4 < n;
       blk += stride) {
    const fm::Philox4x32 r = fm::philox_block(static_cast<fm::u64>(blk), stream_lo, stream_hi, key);
    float z[4];
    fm::box_muller(r.v[0], r.v[1], &z[0], &z[1]);
    fm::box_muller(r.v[2], r.v[3], &z[2], &z[3]);
    for (int w = 0; w < 4 && blk * 4 + w < n; ++w) out[blk * 4 + w] = z[w];
  }
}
