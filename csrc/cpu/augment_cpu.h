// CPU execution of fused augmentation plans (shared by the augment_*.cpp files).
#pragma once

#include <cstdint>
#include <vector>

#include "fastmed/intensity.h"
#include "fastmed/sample.h"
#include "fastmed/spatial.h"

namespace fm {
namespace aug {

enum class DType : int { kU8 = 0, kI16 = 1, kU16 = 2, kI32 = 3, kF32 = 4, kF16 = 5, kBF16 = 6 };

// A strided (C, D, H, W) array; strides in elements.
struct ArrayRef {
  void* data = nullptr;
  DType dtype = DType::kF32;
  i64 shape[4] = {0, 0, 0, 0};
  i64 stride[4] = {0, 0, 0, 0};
};

// One array of one sample: resample `src` through `map` into `out` and run the
// fused intensity program on every written voxel.
struct Job {
  ArrayRef src;
  ArrayRef out;
  SpatialMap map{};
  int interp = kInterpLinear;
  int pad_mode = kPadConstant;
  float cval = 0.0f;
  ProgramView program{};
};

// Runs every job's rows on `threads` threads (<= 0: the pool size). The result
// does not depend on the thread count: every voxel is a pure function of the job.
void run_jobs(const std::vector<Job>& jobs, int threads);

// The intensity program over one row of one channel of a float (C, D, H, W) patch.
// `skip_random` leaves out noise and bias field (used for statistics prefixes).
void program_row(float* row, i64 W, i64 c, i64 z, i64 y, const i64 shape[4],
                 const ProgramView& p, bool skip_random);

// In place on a C-contiguous float32 (C, D, H, W) array.
void apply_program_f32(float* data, const i64 shape[4], const ProgramView& p, bool skip_random,
                       int threads);

// Separable Gaussian blur in place (scipy.ndimage.gaussian_filter, mode "reflect"),
// sigma per spatial axis (z, y, x) in voxels, 0 leaves an axis alone.
void gaussian_blur_f32(float* data, const i64 shape[4], const double sigma[3], double truncate,
                       int threads);

}  // namespace aug
}  // namespace fm
