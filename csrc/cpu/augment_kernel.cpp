// The fused CPU kernel: walk the output patch row by row (x innermost), map each
// output voxel to a source coordinate (matrix, plus elastic grid collapsed per
// row), sample all channels from the typed source, run the intensity program
// over the row and store the requested dtype.
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
  std::vector<float> corners;   // 8 corner values per voxel
  std::vector<float> grid_zyk;  // the elastic grid as (gz, gy, 3, gx)
  std::vector<float> erow;  // elastic grid collapsed along z, y
  std::vector<float> et;    // B-spline fraction t per output column
  std::vector<i64> ex0;     // first grid tap per output column
  std::vector<i64> seg;     // output columns where the grid interval changes, then W
  std::vector<u8> done;     // blocks of 8 columns the gather path sampled
};

// Source coordinates of row (z, y) into s.cz/cy/cx.
FM_SIMD_CLONES void row_coords(const SpatialMap& m, i64 W, float oz, float oy, Scratch& s) {
  const float bz = m.m[0] * oz + m.m[1] * oy + m.m[3];
  const float by = m.m[4] * oz + m.m[5] * oy + m.m[7];
  const float bx = m.m[8] * oz + m.m[9] * oy + m.m[11];
  const float sz = m.m[2], sy = m.m[6], sx = m.m[10];
  float* __restrict cz = s.cz.data();
  float* __restrict cy = s.cy.data();
  float* __restrict cx = s.cx.data();
  for (i64 x = 0; x < W; ++x) {
    const float fx = static_cast<float>(static_cast<i32>(x));  // int32 converts in SIMD; W < 2^31
    cz[x] = bz + sz * fx;
    cy[x] = by + sy * fx;
    cx[x] = bx + sx * fx;
  }
  if (!m.grid) return;
  // The collapsed row is a 1D cubic B-spline in x: inside one grid interval the four
  // control values are fixed, so the displacement is a cubic in t there. Evaluate it
  // per interval with Horner (a vectorizable inner loop) instead of 4 taps per voxel.
  elastic_row(m, s.grid_zyk.data(), oz, oy, s.erow.data());
  const i64 gx = m.gshape[2];
  const float* e = s.erow.data();
  const float* t = s.et.data();
  for (size_t k = 0; k + 1 < s.seg.size(); ++k) {
    const i64 x0 = s.seg[k], x1 = s.seg[k + 1];
    const i64 first = s.ex0[x0];
    float a[3][4];
    for (int comp = 0; comp < 3; ++comp) {
      const float* ec = e + comp * gx;
      const float c0 = ec[clamp_i64(first, 0, gx - 1)];
      const float c1 = ec[clamp_i64(first + 1, 0, gx - 1)];
      const float c2 = ec[clamp_i64(first + 2, 0, gx - 1)];
      const float c3 = ec[clamp_i64(first + 3, 0, gx - 1)];
      a[comp][0] = (c0 + 4.0f * c1 + c2) * (1.0f / 6.0f);
      a[comp][1] = (c2 - c0) * 0.5f;
      a[comp][2] = (c0 - 2.0f * c1 + c2) * 0.5f;
      a[comp][3] = (3.0f * (c1 - c2) + c3 - c0) * (1.0f / 6.0f);
    }
    for (i64 x = x0; x < x1; ++x) {
      const float u = t[x];
      cz[x] += ((a[0][3] * u + a[0][2]) * u + a[0][1]) * u + a[0][0];
      cy[x] += ((a[1][3] * u + a[1][2]) * u + a[1][1]) * u + a[1][0];
      cx[x] += ((a[2][3] * u + a[2][2]) * u + a[2][1]) * u + a[2][0];
    }
  }
}

// Cells (floor) and fractions of a row's source coordinates: t* in, fractions out.
FM_SIMD_CLONES void cells_row(i64 W, float* __restrict tz, float* __restrict ty, float* __restrict tx,
                              i32* __restrict iz, i32* __restrict iy, i32* __restrict ix) {
  const float lim = 1073741824.0f;  // keeps cells in int32; anything that far is padding anyway
  for (i64 x = 0; x < W; ++x) {
    // std::min(std::max(v, -lim), lim) as flat selects (nested ones stay branches in the clones).
    float cz = tz[x] < -lim ? -lim : tz[x];
    float cy = ty[x] < -lim ? -lim : ty[x];
    float cx = tx[x] < -lim ? -lim : tx[x];
    cz = lim < cz ? lim : cz;
    cy = lim < cy ? lim : cy;
    cx = lim < cx ? lim : cx;
    i32 a = static_cast<i32>(cz), b = static_cast<i32>(cy), c = static_cast<i32>(cx);
    a -= (cz < static_cast<float>(a)) ? 1 : 0;
    b -= (cy < static_cast<float>(b)) ? 1 : 0;
    c -= (cx < static_cast<float>(c)) ? 1 : 0;
    iz[x] = a;
    iy[x] = b;
    ix[x] = c;
    tz[x] = cz - static_cast<float>(a);
    ty[x] = cy - static_cast<float>(b);
    tx[x] = cx - static_cast<float>(c);
  }
}

// Volume cells to window cells: subtract the window origin (exact integer steps).
FM_SIMD_CLONES void window_cells(i64 W, i32 oz, i32 oy, i32 ox, i32* __restrict iz, i32* __restrict iy,
                                 i32* __restrict ix) {
  for (i64 x = 0; x < W; ++x) {
    iz[x] -= oz;
    iy[x] -= oy;
    ix[x] -= ox;
  }
}

template <typename S>
void sample_row_linear(const Job& j, i64 W, Scratch& s) {
  const S* base = static_cast<const S*>(j.src.data);
  const i64 C = j.src.shape[0];
  // Window extents (what the source holds); padding is decided against j.vol.
  const i64 nz = j.src.shape[1], ny = j.src.shape[2], nx = j.src.shape[3];
  const i64 sc = j.src.stride[0], sz = j.src.stride[1], sy = j.src.stride[2], sx = j.src.stride[3];
  const i64 oz = j.origin[0], oy = j.origin[1], ox = j.origin[2];
  s.iz.resize(W);
  s.iy.resize(W);
  s.ix.resize(W);
  s.corners.resize(static_cast<size_t>(8 * W));
  float* __restrict tz = s.cz.data();
  float* __restrict ty = s.cy.data();
  float* __restrict tx = s.cx.data();
  i32* __restrict iz = s.iz.data();
  i32* __restrict iy = s.iy.data();
  i32* __restrict ix = s.ix.data();
  cells_row(W, tz, ty, tx, iz, iy, ix);
  // Cells in volume space, then the integer origin subtracted (window indices; the
  // fractions stay those of the volume coordinates, so a window changes no value).
  if (oz != 0 || oy != 0 || ox != 0) window_cells(W, static_cast<i32>(oz), static_cast<i32>(oy),
                                                  static_cast<i32>(ox), iz, iy, ix);
  // The 8 taps of column x (padding per tap near and beyond the border).
  auto corners_at = [&](const S* src, i64 x, float* o) {
    i64 dz, dy, dx;
    if (axis_inside(iz[x], tz[x], nz, sz, &dz) && axis_inside(iy[x], ty[x], ny, sy, &dy) &&
        axis_inside(ix[x], tx[x], nx, sx, &dx)) {
      const S* p = src + iz[x] * sz + iy[x] * sy + ix[x] * sx;
      o[0] = static_cast<float>(p[0]);
      o[1] = static_cast<float>(p[dx]);
      o[2] = static_cast<float>(p[dy]);
      o[3] = static_cast<float>(p[dy + dx]);
      o[4] = static_cast<float>(p[dz]);
      o[5] = static_cast<float>(p[dz + dx]);
      o[6] = static_cast<float>(p[dz + dy]);
      o[7] = static_cast<float>(p[dz + dy + dx]);
    } else {
      const SourceView<S> view{src, {j.vol[0], j.vol[1], j.vol[2]}, {sz, sy, sx}, {oz, oy, ox}, {nz, ny, nx}};
      for (int k = 0; k < 8; ++k) {
        const i64 z = pad_index(iz[x] + oz + ((k >> 2) & 1), j.vol[0], j.pad_mode);
        const i64 y = pad_index(iy[x] + oy + ((k >> 1) & 1), j.vol[1], j.pad_mode);
        const i64 xx = pad_index(ix[x] + ox + (k & 1), j.vol[2], j.pad_mode);
        o[k] = (z < 0 || y < 0 || xx < 0) ? j.cval : load_voxel(view, z, y, xx);
      }
    }
  };
  auto blend = [&](const float* q, i64 x) {
    const float c00 = lerp(q[0], q[1], tx[x]);
    const float c01 = lerp(q[2], q[3], tx[x]);
    const float c10 = lerp(q[4], q[5], tx[x]);
    const float c11 = lerp(q[6], q[7], tx[x]);
    return lerp(lerp(c00, c01, ty[x]), lerp(c10, c11, ty[x]), tz[x]);
  };
  constexpr int kind = std::is_same<S, i16>::value   ? kGatherI16
                       : std::is_same<S, u16>::value ? kGatherU16
                       : std::is_same<S, i32>::value ? kGatherI32
                       : std::is_same<S, float>::value ? kGatherF32
                                                       : -1;  // uint8: the taps below
  if (kind >= 0 && gather_available() && gather_fits(nz, ny, nx, sz, sy, sx)) {
    // AVX2 gathers for the blocks of 8 columns inside the source, the taps above for the rest.
    s.done.resize(static_cast<size_t>(W / 8 + 1));
    for (i64 c = 0; c < C; ++c) {
      const S* src = base + c * sc;
      float* __restrict out = s.buf.data() + c * W;
      const GatherRow g{src, nz, ny, nx, sz, sy, iz, iy, ix, tz, ty, tx};
      gather_linear(g, static_cast<GatherKind>(kind), W, out, s.done.data());
      const i64 full = W - W % 8;
      float q[8];
      for (i64 x = 0; x < W; ++x) {
        if (x < full && s.done[x / 8]) {
          x += 7;  // the whole block is done
          continue;
        }
        corners_at(src, x, q);
        out[x] = blend(q, x);
      }
    }
    return;
  }
  float* __restrict v = s.corners.data();
  for (i64 c = 0; c < C; ++c) {
    const S* src = base + c * sc;
    for (i64 x = 0; x < W; ++x) corners_at(src, x, v + 8 * x);
    float* __restrict out = s.buf.data() + c * W;
    for (i64 x = 0; x < W; ++x) out[x] = blend(v + 8 * x, x);
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
    // Volume indices (padding against the volume), read at their window index.
    const i64 z = pad_index(floor_to_i64(s.cz[x] + 0.5f), j.vol[0], j.pad_mode);
    const i64 y = pad_index(floor_to_i64(s.cy[x] + 0.5f), j.vol[1], j.pad_mode);
    const i64 xx = pad_index(floor_to_i64(s.cx[x] + 0.5f), j.vol[2], j.pad_mode);
    if (z < 0 || y < 0 || xx < 0) {
      for (i64 c = 0; c < C; ++c) buf[c * W + x] = j.cval;
    } else {
      const S* p = base + window_index(z, j.origin[0], nz) * sz + window_index(y, j.origin[1], ny) * sy +
                   window_index(xx, j.origin[2], nx) * sx;
      for (i64 c = 0; c < C; ++c) buf[c * W + x] = static_cast<float>(p[c * sc]);
    }
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
    s.et.resize(W);
    s.ex0.resize(W);
    s.seg.clear();
    for (i64 x = 0; x < W; ++x) {
      // The same float steps as grid_taps (spatial.h).
      const float g = static_cast<float>(x) * j.map.ginv[2] + 1.0f;
      const float f = floorf(g);
      s.et[x] = g - f;
      s.ex0[x] = static_cast<i64>(f) - 1;
      if (x == 0 || s.ex0[x] != s.ex0[x - 1]) s.seg.push_back(x);
    }
    s.seg.push_back(W);
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
