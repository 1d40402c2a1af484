// The fused CPU kernel: walk the output patch row by row (x innermost), map each
// output voxel to a source coordinate (matrix, plus elastic grid collapsed per
// row), sample all channels from the typed source, run the intensity program
// over the row and store the requested dtype. The per-voxel maths is that of the
// shared headers (spatial.h, sample.h, intensity.h: what cpu-reference and the GPU run),
// called inside row loops; only what is fixed along a row is hoisted out of them.
// As in augment_passes.cpp: no errno, no trapping assumptions (so selects if-convert and
// the coordinate loops vectorize) and no FMA contraction (so every clone rounds alike).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-math-errno", "no-trapping-math", "fp-contract=off")
#endif
#include <algorithm>
#include <stdexcept>
#include <type_traits>
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
  std::vector<i32> iz, iy, ix;  // cells of the linear path
  std::vector<float> grid_zyk;  // the elastic grid as (gz, gy, 3, gx)
  std::vector<float> erow;  // elastic grid collapsed along z, y
  std::vector<float> ew;    // B-spline x weights per output column: (4, W)
  std::vector<i64> ex0;     // first grid tap per output column
  std::vector<i64> seg;     // output columns where the grid interval changes, then W
  std::vector<u8> done;     // blocks of 8 columns the gather path sampled
};

// The x step of elastic_displacement for columns [x0, x1) of one grid interval: the four
// taps v[comp][0..4) are fixed there, the weights w0..w3 vary per column. Parameters, not
// locals, carry __restrict so the loop vectorizes without run-time alias checks.
inline void elastic_x_step(i64 x0, i64 x1, const float* __restrict w0, const float* __restrict w1,
                           const float* __restrict w2, const float* __restrict w3, const float v[3][4],
                           float* __restrict cz, float* __restrict cy, float* __restrict cx) {
  for (i64 x = x0; x < x1; ++x) {
    cz[x] += bspline_sum(w0[x], w1[x], w2[x], w3[x], v[0][0], v[0][1], v[0][2], v[0][3]);
    cy[x] += bspline_sum(w0[x], w1[x], w2[x], w3[x], v[1][0], v[1][1], v[1][2], v[1][3]);
    cx[x] += bspline_sum(w0[x], w1[x], w2[x], w3[x], v[2][0], v[2][1], v[2][2], v[2][3]);
  }
}

// Source coordinates of row (z, y) into s.cz/cy/cx: map_voxel (spatial.h) along the row.
FM_SIMD_CLONES void row_coords(const SpatialMap& m, i64 W, float oz, float oy, Scratch& s) {
  float b[3];
  affine_row_base(m.m, oz, oy, b);
  float* __restrict cz = s.cz.data();
  float* __restrict cy = s.cy.data();
  float* __restrict cx = s.cx.data();
  for (i64 x = 0; x < W; ++x) {
    const float fx = static_cast<float>(static_cast<i32>(x));  // int32 converts in SIMD; W < 2^31
    affine_at(m.m, b, fx, &cz[x], &cy[x], &cx[x]);
  }
  if (!m.grid) return;
  // elastic_displacement in two steps: the grid collapsed along z and y once per row
  // (elastic_row), then per voxel the x step over its four taps. Inside one grid interval
  // the four taps are fixed, so each interval is a loop over its columns' weights.
  elastic_row(m, s.grid_zyk.data(), oz, oy, s.erow.data());
  const i64 gx = m.gshape[2];
  const float* e = s.erow.data();
  const float* w = s.ew.data();
  for (size_t k = 0; k + 1 < s.seg.size(); ++k) {
    const i64 x0 = s.seg[k], x1 = s.seg[k + 1];
    const i64 first = s.ex0[x0];
    float v[3][4];
    for (int comp = 0; comp < 3; ++comp) {
      for (int c = 0; c < 4; ++c) v[comp][c] = e[comp * gx + clamp_i64(first + c, 0, gx - 1)];
    }
    elastic_x_step(x0, x1, w, w + W, w + 2 * W, w + 3 * W, v, cz, cy, cx);
  }
}

// The x taps of the elastic grid for every output column (grid_taps), once per job.
void elastic_columns(const SpatialMap& m, i64 W, Scratch& s) {
  s.ew.resize(static_cast<size_t>(4 * W));
  s.ex0.resize(W);
  s.seg.clear();
  for (i64 x = 0; x < W; ++x) {
    float w[4];
    s.ex0[x] = grid_taps(static_cast<float>(x), m.ginv[2], m.gshape[2], w);
    for (int c = 0; c < 4; ++c) s.ew[c * W + x] = w[c];
    if (x == 0 || s.ex0[x] != s.ex0[x - 1]) s.seg.push_back(x);
  }
  s.seg.push_back(W);
}

// Cells and fractions of a row's source coordinates (split_cell): t* in, fractions out.
FM_SIMD_CLONES void cells_row(i64 W, float* __restrict tz, float* __restrict ty, float* __restrict tx,
                              i32* __restrict iz, i32* __restrict iy, i32* __restrict ix) {
  for (i64 x = 0; x < W; ++x) {
    iz[x] = split_cell(tz[x], &tz[x]);
    iy[x] = split_cell(ty[x], &ty[x]);
    ix[x] = split_cell(tx[x], &tx[x]);
  }
}

// Channel c of a job's source as sample.h sees it (the window inside the volume).
template <typename S>
SourceView<S> channel_view(const Job& j, i64 c) {
  return SourceView<S>{static_cast<const S*>(j.src.data) + c * j.src.stride[0],
                       {j.vol[0], j.vol[1], j.vol[2]},
                       {j.src.stride[1], j.src.stride[2], j.src.stride[3]},
                       {j.origin[0], j.origin[1], j.origin[2]},
                       {j.src.shape[1], j.src.shape[2], j.src.shape[3]}};
}

// Trilinear samples of a row: sample_linear_cell per voxel, after the cells are split
// for the whole row; the AVX2 gather (augment_gather.cpp, the same lerps) takes the blocks
// of 8 columns whose taps all lie inside the window.
template <typename S>
void sample_row_linear(const Job& j, i64 W, Scratch& s) {
  const i64 C = j.src.shape[0];
  s.iz.resize(W);
  s.iy.resize(W);
  s.ix.resize(W);
  float* __restrict tz = s.cz.data();
  float* __restrict ty = s.cy.data();
  float* __restrict tx = s.cx.data();
  i32* __restrict iz = s.iz.data();
  i32* __restrict iy = s.iy.data();
  i32* __restrict ix = s.ix.data();
  cells_row(W, tz, ty, tx, iz, iy, ix);
  constexpr int kind = std::is_same<S, i16>::value     ? kGatherI16
                       : std::is_same<S, u16>::value   ? kGatherU16
                       : std::is_same<S, i32>::value   ? kGatherI32
                       : std::is_same<S, float>::value ? kGatherF32
                                                       : -1;  // uint8: per voxel only
  const i64 nz = j.src.shape[1], ny = j.src.shape[2], nx = j.src.shape[3];
  const i64 sz = j.src.stride[1], sy = j.src.stride[2], sx = j.src.stride[3];
  const bool gather = kind >= 0 && gather_available() && gather_fits(nz, ny, nx, sz, sy, sx);
  s.done.assign(static_cast<size_t>(W / 8 + 1), 0);
  const u8* done = s.done.data();
  const int mode = j.pad_mode;
  const float cval = j.cval;
  for (i64 c = 0; c < C; ++c) {
    const SourceView<S> view = channel_view<S>(j, c);
    float* __restrict out = s.buf.data() + c * W;
    if (gather) {
      const GatherRow g{view.data, nz, ny, nx, sz, sy, j.origin[0], j.origin[1], j.origin[2], iz, iy, ix, tz, ty, tx};
      gather_linear(g, static_cast<GatherKind>(kind), W, out, s.done.data());
    }
    for (i64 b = 0; b < W; b += 8) {  // blocks of 8 columns; the gather's are done
      if (done[b / 8]) continue;
      const i64 e = std::min(b + 8, W);
      for (i64 x = b; x < e; ++x) out[x] = sample_linear_cell(view, iz[x], iy[x], ix[x], tz[x], ty[x], tx[x], mode, cval);
    }
  }
}

// Nearest samples of a row: sample_nearest per voxel and channel.
template <typename S>
void sample_row_nearest(const Job& j, i64 W, Scratch& s) {
  for (i64 c = 0; c < j.src.shape[0]; ++c) {
    const SourceView<S> view = channel_view<S>(j, c);
    float* __restrict out = s.buf.data() + c * W;
    for (i64 x = 0; x < W; ++x) out[x] = sample_nearest(view, s.cz[x], s.cy[x], s.cx[x], j.pad_mode, j.cval);
  }
}

// A map that is a signed axis permutation with an integer translation and no elastic
// grid (crop, flips, rot90 and their products): every output voxel reads one source
// voxel, and trilinear and nearest sampling both return exactly that voxel (all taps
// but one have weight 0). perm[k] is the source axis output axis k walks, sign[k] its
// direction, off[k] the source index of output voxel (0, 0, 0) on source axis k.
struct AxisPermutation {
  int perm[3];
  i64 sign[3];
  i64 off[3];
};

bool integer_permutation(const SpatialMap& m, AxisPermutation* out) {
  if (m.grid) return false;
  const float lim = 16777216.0f;  // integers exact in float32
  int used[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) out->perm[k] = -1;
  for (int i = 0; i < 3; ++i) {    // source axis
    for (int k = 0; k < 3; ++k) {  // output axis
      const float v = m.m[4 * i + k];
      if (v == 0.0f) continue;
      if ((v != 1.0f && v != -1.0f) || out->perm[k] >= 0) return false;
      out->perm[k] = i;
      out->sign[k] = v > 0.0f ? 1 : -1;
      ++used[i];
    }
    const float t = m.m[4 * i + 3];
    if (!(t > -lim && t < lim) || t != floorf(t)) return false;
    out->off[i] = static_cast<i64>(t);
  }
  return used[0] == 1 && used[1] == 1 && used[2] == 1;
}

// Output row (z, y) of a job whose map is an integer permutation: a strided copy of
// one source line (with padding where it leaves the volume) into s.buf as float.
template <typename S>
void copy_row(const Job& j, const AxisPermutation& ap, i64 W, i64 z, i64 y, Scratch& s) {
  const S* base = static_cast<const S*>(j.src.data);
  const i64 C = j.src.shape[0], sc = j.src.stride[0];
  const i64 o[2] = {z, y};
  i64 fixed = 0;  // element offset of the two source axes output z and y walk
  bool pad_row = false;
  for (int k = 0; k < 2; ++k) {
    const int i = ap.perm[k];
    const i64 at = pad_index(ap.off[i] + ap.sign[k] * o[k], j.vol[i], j.pad_mode);  // volume index
    if (at < 0) pad_row = true;
    else fixed += window_index(at, j.origin[i], j.src.shape[i + 1]) * j.src.stride[i + 1];
  }
  float* buf = s.buf.data();
  if (pad_row) {
    for (i64 x = 0; x < C * W; ++x) buf[x] = j.cval;
    return;
  }
  const int ix = ap.perm[2];
  const i64 n = j.vol[ix], org = j.origin[ix], nw = j.src.shape[ix + 1];
  const i64 st = j.src.stride[ix + 1], a = ap.off[ix], sx = ap.sign[2];
  // Columns whose volume index a + sx * x lies inside the window [org, org + nw).
  i64 lo = sx > 0 ? org - a : a - org - nw + 1, hi = sx > 0 ? org + nw - a : a - org + 1;
  lo = std::min(std::max(lo, i64{0}), W);
  hi = std::min(std::max(hi, lo), W);
  for (i64 c = 0; c < C; ++c) {
    const S* src = base + c * sc + fixed;
    float* __restrict out = buf + c * W;
    for (i64 x = 0; x < lo; ++x) {
      const i64 at = pad_index(a + sx * x, n, j.pad_mode);
      out[x] = at < 0 ? j.cval : static_cast<float>(src[window_index(at, org, nw) * st]);
    }
    const S* p = src + (a + sx * lo - org) * st;
    const i64 step = sx * st;
    if (step == 1) {
      for (i64 x = lo; x < hi; ++x) out[x] = static_cast<float>(p[x - lo]);
    } else {
      for (i64 x = lo; x < hi; ++x) out[x] = static_cast<float>(p[(x - lo) * step]);
    }
    for (i64 x = hi; x < W; ++x) {
      const i64 at = pad_index(a + sx * x, n, j.pad_mode);
      out[x] = at < 0 ? j.cval : static_cast<float>(src[window_index(at, org, nw) * st]);
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

template <typename S, int K, bool Copy>
void run_rows(const Job& j, i64 r0, i64 r1, Scratch& s) {
  const i64 C = j.out.shape[0], D = j.out.shape[1], H = j.out.shape[2], W = j.out.shape[3];
  AxisPermutation ap{};
  if (Copy) integer_permutation(j.map, &ap);
  s.buf.resize(static_cast<size_t>(C * W));
  s.cz.resize(W);
  s.cy.resize(W);
  s.cx.resize(W);
  if (j.map.grid) {
    const i64 gx = j.map.gshape[2];
    s.erow.resize(static_cast<size_t>(3 * gx));
    s.grid_zyk.resize(static_cast<size_t>(3 * j.map.gshape[0] * j.map.gshape[1] * gx));
    elastic_grid_zyk(j.map, s.grid_zyk.data());
    elastic_columns(j.map, W, s);
  }
  const i64 oshape[4] = {C, D, H, W};
  for (i64 r = r0; r < r1; ++r) {
    const i64 z = r / H, y = r % H;
    if (Copy) {
      copy_row<S>(j, ap, W, z, y, s);
    } else {
      row_coords(j.map, W, static_cast<float>(z), static_cast<float>(y), s);
      if (j.interp == kInterpNearest) sample_row_nearest<S>(j, W, s);
      else sample_row_linear<S>(j, W, s);
    }
    if (j.program.n_ops > 0) {
      for (i64 c = 0; c < C; ++c) program_row(s.buf.data() + c * W, W, c, z, y, oshape, j.program, false);
    }
    store_row<S, K>(j, W, z, y, s);
  }
}

using RowFn = void (*)(const Job&, i64, i64, Scratch&);

template <typename S, bool Copy>
RowFn pick_out(DType out, DType src) {
  switch (out) {
    case DType::kF32:
      return src == DType::kF32 ? &run_rows<S, kOutSame, Copy> : &run_rows<S, kOutF32, Copy>;
    case DType::kF16:
      return &run_rows<S, kOutF16, Copy>;
    case DType::kBF16:
      return &run_rows<S, kOutBF16, Copy>;
    default:
      if (out != src) throw std::invalid_argument("integer output must have the source dtype");
      return &run_rows<S, kOutSame, Copy>;
  }
}

template <bool Copy>
RowFn pick_src(const Job& j) {
  switch (j.src.dtype) {
    case DType::kU8:
      return pick_out<u8, Copy>(j.out.dtype, j.src.dtype);
    case DType::kI16:
      return pick_out<i16, Copy>(j.out.dtype, j.src.dtype);
    case DType::kU16:
      return pick_out<u16, Copy>(j.out.dtype, j.src.dtype);
    case DType::kI32:
      return pick_out<i32, Copy>(j.out.dtype, j.src.dtype);
    case DType::kF32:
      return pick_out<float, Copy>(j.out.dtype, j.src.dtype);
    default:
      throw std::invalid_argument("unsupported source dtype");
  }
}

// A pure integer crop / flip / rot90 map takes the copy path (the same values: every
// tap but one has weight 0), anything else the resampling path.
RowFn pick(const Job& j) {
  AxisPermutation ap;
  return integer_permutation(j.map, &ap) ? pick_src<true>(j) : pick_src<false>(j);
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
