// GPU fused augmentation: thin wrappers over the same headers the CPU kernel uses
// (augment.h over sample.h, spatial.h, intensity.h). One thread per output voxel
// (all channels); a batch is one launch: blockIdx.z picks the job from a table of
// fm::DeviceJob in device memory. Loaded by CuPy (NVRTC) at run time; compiled by
// nvcc in CI.
#include "fastmed/augment.h"
#include "fastmed/common.h"

// Grid: x covers the voxels of the largest job (grid-stride), z = job index.
extern "C" __global__ void fm_augment_batch(const fm::DeviceJob* jobs, int n_jobs) {
  if (static_cast<int>(blockIdx.z) >= n_jobs) return;
  const fm::DeviceJob& j = jobs[blockIdx.z];
  const fm::i64 n = j.out_shape[1] * j.out_shape[2] * j.out_shape[3];
  const fm::i64 stride = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 v = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; v < n; v += stride) {
    fm::augment_voxel(j, v);
  }
}

// The intensity program alone, in place on a float32 (C, D, H, W) patch (the
// segments after a patch pass such as blur). grid x covers C * D * H * W.
extern "C" __global__ void fm_apply_program(float* patch, fm::i64 C, fm::i64 D, fm::i64 H, fm::i64 W,
                                            const fm::i32* ops, fm::i64 n_ops, const float* params,
                                            fm::u32 key0, fm::u32 key1, fm::u32 index) {
  fm::ProgramView prog;
  prog.ops = ops;
  prog.n_ops = n_ops;
  prog.params = params;
  prog.key[0] = key0;
  prog.key[1] = key1;
  prog.index = index;
  const fm::i64 total = C * D * H * W;
  const fm::i64 stride = static_cast<fm::i64>(blockDim.x) * gridDim.x;
  for (fm::i64 i = static_cast<fm::i64>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const fm::i64 x = i % W, y = (i / W) % H, z = (i / (W * H)) % D, c = i / (W * H * D);
    fm::VoxelCtx ctx;
    ctx.linear = static_cast<fm::u64>(i);
    ctx.channel = static_cast<fm::i32>(c);
    ctx.zn = fm::normalized_coord(z, D);
    ctx.yn = fm::normalized_coord(y, H);
    ctx.xn = fm::normalized_coord(x, W);
    patch[i] = fm::run_program(prog, patch[i], ctx);
  }
}

// sizeof(fm::DeviceJob) and its field offsets as the device compiler lays them out,
// in the order of fastmed.backends.cuda_jobs.FIELDS (the GPU test compares them with
// the host's and with the numpy dtype the backend packs). One thread.
// (NVRTC has no offsetof: the distance of each member from a local object's start.)
#define FM_OFF(f) static_cast<fm::i64>(reinterpret_cast<const char*>(&j.f) - base)
extern "C" __global__ void fm_device_job_layout(fm::i64* out) {
  if (blockIdx.x != 0 || threadIdx.x != 0) return;
  fm::DeviceJob j{};
  const char* base = reinterpret_cast<const char*>(&j);
  const fm::i64 v[] = {static_cast<fm::i64>(sizeof(fm::DeviceJob)),
                       FM_OFF(src), FM_OFF(out), FM_OFF(grid), FM_OFF(ops), FM_OFF(params),
                       FM_OFF(src_shape), FM_OFF(src_stride), FM_OFF(out_shape), FM_OFF(gshape),
                       FM_OFF(vol_shape), FM_OFF(origin),
                       FM_OFF(n_ops), FM_OFF(m), FM_OFF(ginv), FM_OFF(cval), FM_OFF(key),
                       FM_OFF(index), FM_OFF(src_dtype), FM_OFF(out_kind), FM_OFF(interp),
                       FM_OFF(pad_mode)};
  for (int k = 0; k < static_cast<int>(sizeof(v) / sizeof(v[0])); ++k) out[k] = v[k];
}
#undef FM_OFF
