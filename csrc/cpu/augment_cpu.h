// CPU execution of fused augmentation plans (shared by the augment_*.cpp files).
#pragma once

#include <cstdint>
#include <vector>

#include "fastmed/intensity.h"
#include "fastmed/sample.h"
#include "fastmed/spatial.h"

// Hot loops get AVX2 and AVX-512 clones picked at load time; the build itself stays
// baseline x86-64 (no host -march). Files that use it compile with fp-contract=off, so
// no clone contracts to FMA and every clone rounds exactly as the baseline code.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define FM_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FM_SIMD_CLONES
#endif

namespace fm {
namespace aug {

// Codes from the op schema (fastmed/opcodes.h).
enum class DType : int {
  kU8 = dtype_code::kU8,
  kI16 = dtype_code::kI16,
  kU16 = dtype_code::kU16,
  kI32 = dtype_code::kI32,
  kF32 = dtype_code::kF32,
  kF16 = dtype_code::kF16,
  kBF16 = dtype_code::kBF16
};

// A strided (C, D, H, W) array; strides in elements.
struct ArrayRef {
  void* data = nullptr;
  DType dtype = DType::kF32;
  i64 shape[4] = {0, 0, 0, 0};
  i64 stride[4] = {0, 0, 0, 0};
};

// One array of one sample: resample `src` through `map` into `out` and run the
// fused intensity program on every written voxel.
// `src` holds the window [origin, origin + src extents) of a volume of extents `vol`
// (z, y, x): padding is decided against the volume, reads subtract the origin.
struct Job {
  ArrayRef src;
  ArrayRef out;
  i64 vol[3] = {0, 0, 0};
  i64 origin[3] = {0, 0, 0};
  SpatialMap map{};
  int interp = kInterpLinear;
  int pad_mode = kPadConstant;
  float cval = 0.0f;
  ProgramView program{};
};

// Runs every job's rows on `threads` threads (<= 0: the pool size). The result
// does not depend on the thread count: every voxel is a pure function of the job.
void run_jobs(const std::vector<Job>& jobs, int threads);

// One channel of a source window (x stride 1; extents nz, ny, nx; first voxel at volume
// index (oz, oy, ox)) and the volume cells and fractions of a row.
struct GatherRow {
  const void* src;
  i64 nz, ny, nx, sz, sy;
  i64 oz, oy, ox;
  const i32 *iz, *iy, *ix;
  const float *tz, *ty, *tx;
};

// Source element types the gather path reads.
enum GatherKind : int { kGatherI16 = 0, kGatherU16 = 1, kGatherI32 = 2, kGatherF32 = 3 };

// Whether this CPU has the AVX2 gather path, and whether a source's extents and strides
// suit it (unit x stride, positive strides, offsets within int32; depth 1 allowed).
bool gather_available();
bool gather_fits(i64 nz, i64 ny, i64 nx, i64 sz, i64 sy, i64 sx);

// Trilinear samples (sample_linear_cell's lerps, in its order) of every block of 8 columns
// whose 8 taps all lie strictly inside the window: out[x] for those, done[block] = 1;
// done[block] = 0 for the other blocks (left for the caller). Columns past the last whole
// block are not touched. Without AVX2 every block is left to the caller.
void gather_linear(const GatherRow& g, GatherKind kind, i64 W, float* out, u8* done);

// Philox blocks b0 .. b0 + nb - 1 of the stream (stream_lo, stream_hi): word k of block
// b0 + b into w[k][b], equal to philox_block (SIMD where the CPU has it).
void philox_words(u64 b0, i64 nb, u32 stream_lo, u32 stream_hi, const u32 key[2], u32* const w[4]);

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
