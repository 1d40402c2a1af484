// The fused CPU kernel: walk the output patch row by row (x innermost), map each
// output voxel to a source coordinate (matrix, plus elastic grid collapsed per
// row), sample all channels from the typed source, run the intensity program
// over the row and store the requested dtype.
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "augment_cpu.h"
#include "thread_pool.h"

namespace fm {
namespace aug {
namespace {

enum OutKind : int { kOutF32 = 0, kOutF16 = 1, kOutBF16 = 2, kOutSame = 3 };

struct Scratch {
  std::vector<float> buf;  // C * W samples of the current row
  std::vector<float> cz, cy, cx;
  std::vector<float> erow;  // elastic grid collapsed along z, y
  std::vector<float> ewx;   // x B-spline weights per output column (4 each)
  std::vector<i64> ex0;     // first grid column per output column
};

// Source coordinates of row (z, y) into s.cz/cy/cx.
void row_coords(const SpatialMap& m, i64 W, float oz, float oy, Scratch& s) {
  const float bz = m.m[0] * oz + m.m[1] * oy + m.m[3];
  const float by = m.m[4] * oz + m.m[5] * oy + m.m[7];
  const float bx = m.m[8] * oz + m.m[9] * oy + m.m[11];
  const float sz = m.m[2], sy = m.m[6], sx = m.m[10];
  float* __restrict cz = s.cz.data();
  float* __restrict cy = s.cy.data();
  float* __restrict cx = s.cx.data();
  for (i64 x = 0; x < W; ++x) {
    const float fx = static_cast<float>(x);
    cz[x] = bz + sz * fx;
    cy[x] = by + sy * fx;
    cx[x] = bx + sx * fx;
  }
  if (!m.grid) return;
  elastic_row(m, oz, oy, s.erow.data());
  const i64 gx = m.gshape[2];
  const float* e = s.erow.data();
  for (i64 x = 0; x < W; ++x) {
    const float* w = &s.ewx[4 * x];
    const i64 x0 = s.ex0[x];
    float d0 = 0.0f, d1 = 0.0f, d2 = 0.0f;
    for (int c = 0; c < 4; ++c) {
      const i64 g = clamp_i64(x0 + c, 0, gx - 1);
      d0 += w[c] * e[3 * g];
      d1 += w[c] * e[3 * g + 1];
      d2 += w[c] * e[3 * g + 2];
    }
    cz[x] += d0;
    cy[x] += d1;
    cx[x] += d2;
  }
}

template <typename S>
void sample_row_linear(const Job& j, i64 W, Scratch& s) {
  const S* base = static_cast<const S*>(j.src.data);
  const i64 C = j.src.shape[0];
  const i64 nz = j.src.shape[1], ny = j.src.shape[2], nx = j.src.shape[3];
  const i64 sc = j.src.stride[0], sz = j.src.stride[1], sy = j.src.stride[2], sx = j.src.stride[3];
  float* buf = s.buf.data();
  for (i64 x = 0; x < W; ++x) {
    const float cz = s.cz[x], cy = s.cy[x], cx = s.cx[x];
    const float fz = floorf(cz), fy = floorf(cy), fx = floorf(cx);
    const i64 iz = static_cast<i64>(fz), iy = static_cast<i64>(fy), ix = static_cast<i64>(fx);
    const float tz = cz - fz, ty = cy - fy, tx = cx - fx;
    i64 dz, dy, dx;
    if (axis_inside(iz, tz, nz, sz, &dz) && axis_inside(iy, ty, ny, sy, &dy) &&
        axis_inside(ix, tx, nx, sx, &dx)) {
      const S* p = base + iz * sz + iy * sy + ix * sx;
      for (i64 c = 0; c < C; ++c) buf[c * W + x] = trilinear_inside(p + c * sc, dz, dy, dx, tz, ty, tx);
    } else {
      for (i64 c = 0; c < C; ++c) {
        const SourceView<S> v{base + c * sc, {nz, ny, nx}, {sz, sy, sx}};
        buf[c * W + x] = sample_linear_padded(v, iz, iy, ix, tz, ty, tx, j.pad_mode, j.cval);
      }
    }
  }
}

template <typename S>
void sample_row_nearest(const Job& j, i64 W, Scratch& s) {
  const S* base = static_cast<const S*>(j.src.data);
  const i64 C = j.src.shape[0];
  const i64 nz = j.src.shape[1], ny = j.src.shape[2], nx = j.src.shape[3];
  const i64 sc = j.src.stride[0], sz = j.src.stride[1], sy = j.src.stride[2], sx = j.src.stride[3];
  float* buf = s.buf.data();
  for (i64 x = 0; x < W; ++x) {
    const i64 z = pad_index(floor_to_i64(s.cz[x] + 0.5f), nz, j.pad_mode);
    const i64 y = pad_index(floor_to_i64(s.cy[x] + 0.5f), ny, j.pad_mode);
    const i64 xx = pad_index(floor_to_i64(s.cx[x] + 0.5f), nx, j.pad_mode);
    if (z < 0 || y < 0 || xx < 0) {
      for (i64 c = 0; c < C; ++c) buf[c * W + x] = j.cval;
    } else {
      const S* p = base + z * sz + y * sy + xx * sx;
      for (i64 c = 0; c < C; ++c) buf[c * W + x] = static_cast<float>(p[c * sc]);
    }
  }
}

template <typename S, int K>
void store_row(const Job& j, i64 W, i64 z, i64 y, const Scratch& s) {
  const i64 C = j.out.shape[0];
  for (i64 c = 0; c < C; ++c) {
    const float* __restrict v = s.buf.data() + c * W;
    const i64 off = c * j.out.stride[0] + z * j.out.stride[1] + y * j.out.stride[2];
    if (K == kOutF32) {
      float* __restrict o = static_cast<float*>(j.out.data) + off;
      for (i64 x = 0; x < W; ++x) o[x] = v[x];
    } else if (K == kOutF16) {
      u16* __restrict o = static_cast<u16*>(j.out.data) + off;
      for (i64 x = 0; x < W; ++x) o[x] = float_to_half_bits(v[x]);
    } else if (K == kOutBF16) {
      u16* __restrict o = static_cast<u16*>(j.out.data) + off;
      for (i64 x = 0; x < W; ++x) o[x] = float_to_bf16_bits(v[x]);
    } else {
      S* __restrict o = static_cast<S*>(j.out.data) + off;
      for (i64 x = 0; x < W; ++x) o[x] = static_cast<S>(v[x]);
    }
  }
}

template <typename S, int K>
void run_rows(const Job& j, i64 r0, i64 r1, Scratch& s) {
  const i64 C = j.out.shape[0], D = j.out.shape[1], H = j.out.shape[2], W = j.out.shape[3];
  s.buf.resize(static_cast<size_t>(C * W));
  s.cz.resize(W);
  s.cy.resize(W);
  s.cx.resize(W);
  if (j.map.grid) {
    const i64 gx = j.map.gshape[2];
    s.erow.resize(static_cast<size_t>(3 * gx));
    s.ewx.resize(static_cast<size_t>(4 * W));
    s.ex0.resize(W);
    for (i64 x = 0; x < W; ++x) {
      s.ex0[x] = grid_taps(static_cast<float>(x), j.map.ginv[2], gx, &s.ewx[4 * x]);
    }
  }
  const i64 oshape[4] = {C, D, H, W};
  for (i64 r = r0; r < r1; ++r) {
    const i64 z = r / H, y = r % H;
    row_coords(j.map, W, static_cast<float>(z), static_cast<float>(y), s);
    if (j.interp == kInterpNearest) sample_row_nearest<S>(j, W, s);
    else sample_row_linear<S>(j, W, s);
    if (j.program.n_ops > 0) {
      for (i64 c = 0; c < C; ++c) program_row(s.buf.data() + c * W, W, c, z, y, oshape, j.program, false);
    }
    store_row<S, K>(j, W, z, y, s);
  }
}

using RowFn = void (*)(const Job&, i64, i64, Scratch&);

template <typename S>
RowFn pick_out(DType out, DType src) {
  switch (out) {
    case DType::kF32:
      return src == DType::kF32 ? &run_rows<S, kOutSame> : &run_rows<S, kOutF32>;
    case DType::kF16:
      return &run_rows<S, kOutF16>;
    case DType::kBF16:
      return &run_rows<S, kOutBF16>;
    default:
      if (out != src) throw std::invalid_argument("integer output must have the source dtype");
      return &run_rows<S, kOutSame>;
  }
}

RowFn pick(const Job& j) {
  switch (j.src.dtype) {
    case DType::kU8:
      return pick_out<u8>(j.out.dtype, j.src.dtype);
    case DType::kI16:
      return pick_out<i16>(j.out.dtype, j.src.dtype);
    case DType::kU16:
      return pick_out<u16>(j.out.dtype, j.src.dtype);
    case DType::kI32:
      return pick_out<i32>(j.out.dtype, j.src.dtype);
    case DType::kF32:
      return pick_out<float>(j.out.dtype, j.src.dtype);
    default:
      throw std::invalid_argument("unsupported source dtype");
  }
}

}  // namespace

void run_jobs(const std::vector<Job>& jobs, int threads) {
  // Rows of every job laid end to end, so one parallel loop covers a whole batch.
  std::vector<i64> first_row(jobs.size() + 1, 0);
  std::vector<RowFn> fns(jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k) {
    fns[k] = pick(jobs[k]);
    first_row[k + 1] = first_row[k] + jobs[k].out.shape[1] * jobs[k].out.shape[2];
  }
  const i64 total = first_row.back();
  parallel_for(total, 8, threads, [&](i64 b, i64 e) {
    Scratch s;
    size_t k = static_cast<size_t>(std::upper_bound(first_row.begin(), first_row.end(), b) -
                                   first_row.begin()) - 1;
    while (b < e) {
      const i64 stop = std::min(e, first_row[k + 1]);
      if (stop > b) fns[k](jobs[k], b - first_row[k], stop - first_row[k], s);
      b = stop;
      ++k;
    }
  });
}

}  // namespace aug
}  // namespace fm
