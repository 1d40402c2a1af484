// One fused-augmentation job as plain data, and the per-voxel work on it.
//
// The CUDA kernel (csrc/cuda/augment_kernels.cu) runs augment_voxel once per thread;
// the CPU build runs the same function in a plain loop as the reference path
// (fastmed._core.augment_reference), so CPU tests check the exact code the GPU
// runs. The fast CPU kernel (csrc/cpu/augment_kernel.cpp) is row-wise around the
// same per-voxel functions and equals it bit for bit (docs/backends.md). NVRTC-safe.
#pragma once

#include "fastmed/common.h"
#include "fastmed/intensity.h"
#include "fastmed/rng.h"
#include "fastmed/sample.h"
#include "fastmed/spatial.h"

namespace fm {

// Source element types (DeviceDType) and output kinds (DeviceOut) come from the op
// schema through fastmed/opcodes.h (included by intensity.h).

// One array of one sample, plain old data packed by the host (8-byte aligned fields first).
struct DeviceJob {
  const void* src;
  void* out;
  const float* grid;  // (3, gz, gy, gx) or null
  const i32* ops;     // (n_ops, 4)
  const float* params;
  i64 src_shape[4];   // C, D, H, W of the window the source holds
  i64 src_stride[4];  // elements
  i64 out_shape[4];   // C, D, H, W (C-contiguous)
  i64 gshape[3];
  i64 vol_shape[3];   // D, H, W of the whole volume (padding is decided against it)
  i64 origin[3];      // the window's first voxel in the volume (z, y, x)
  i64 n_ops;
  float m[12];
  float ginv[3];
  float cval;
  u32 key[2];
  u32 index;
  i32 src_dtype;
  i32 out_kind;
  i32 interp;
  i32 pad_mode;
};

template <typename S>
FM_HD float sample_channel(const DeviceJob& j, i64 c, float cz, float cy, float cx) {
  SourceView<S> v;
  v.data = static_cast<const S*>(j.src) + c * j.src_stride[0];
  for (int k = 0; k < 3; ++k) {
    v.shape[k] = j.vol_shape[k];
    v.stride[k] = j.src_stride[k + 1];
    v.origin[k] = j.origin[k];
    v.win[k] = j.src_shape[k + 1];
  }
  return sample(v, cz, cy, cx, j.interp, j.pad_mode, j.cval);
}

FM_HD float sample_any(const DeviceJob& j, i64 c, float cz, float cy, float cx) {
  switch (j.src_dtype) {
    case kDevU8:
      return sample_channel<u8>(j, c, cz, cy, cx);
    case kDevI16:
      return sample_channel<i16>(j, c, cz, cy, cx);
    case kDevU16:
      return sample_channel<u16>(j, c, cz, cy, cx);
    case kDevI32:
      return sample_channel<i32>(j, c, cz, cy, cx);
    default:
      return sample_channel<float>(j, c, cz, cy, cx);
  }
}

FM_HD void store_any(const DeviceJob& j, i64 at, float v) {
  switch (j.out_kind) {
    case kDevOutF32:
      static_cast<float*>(j.out)[at] = v;
      return;
    case kDevOutF16:
      static_cast<u16*>(j.out)[at] = float_to_half_bits(v);
      return;
    case kDevOutBF16:
      static_cast<u16*>(j.out)[at] = float_to_bf16_bits(v);
      return;
    default:
      switch (j.src_dtype) {
        case kDevU8:
          static_cast<u8*>(j.out)[at] = static_cast<u8>(v);
          return;
        case kDevI16:
          static_cast<i16*>(j.out)[at] = static_cast<i16>(v);
          return;
        case kDevU16:
          static_cast<u16*>(j.out)[at] = static_cast<u16>(v);
          return;
        case kDevI32:
          static_cast<i32*>(j.out)[at] = static_cast<i32>(v);
          return;
        default:
          static_cast<float*>(j.out)[at] = v;
          return;
      }
  }
}

}  // namespace fm

namespace fm {

// Output voxel v (linear over D*H*W) of job j, every channel.
FM_HD void augment_voxel(const DeviceJob& j, i64 v) {
  const i64 C = j.out_shape[0], D = j.out_shape[1], H = j.out_shape[2], W = j.out_shape[3];
  const i64 n = D * H * W;
  SpatialMap map;
  for (int k = 0; k < 12; ++k) map.m[k] = j.m[k];
  map.grid = j.grid;
  for (int k = 0; k < 3; ++k) {
    map.gshape[k] = j.gshape[k];
    map.ginv[k] = j.ginv[k];
  }
  ProgramView prog;
  prog.ops = j.ops;
  prog.n_ops = j.n_ops;
  prog.params = j.params;
  prog.key[0] = j.key[0];
  prog.key[1] = j.key[1];
  prog.index = j.index;
  const i64 x = v % W, y = (v / W) % H, z = v / (W * H);
  float cz, cy, cx;
  map_voxel(map, static_cast<float>(z), static_cast<float>(y), static_cast<float>(x), &cz, &cy, &cx);
  VoxelCtx ctx;
  ctx.zn = normalized_coord(z, D);
  ctx.yn = normalized_coord(y, H);
  ctx.xn = normalized_coord(x, W);
  for (i64 c = 0; c < C; ++c) {
    float val = sample_any(j, c, cz, cy, cx);
    ctx.linear = static_cast<u64>(c * n + v);
    ctx.channel = static_cast<i32>(c);
    val = run_program(prog, val, ctx);
    store_any(j, c * n + v, val);
  }
}

}  // namespace fm
