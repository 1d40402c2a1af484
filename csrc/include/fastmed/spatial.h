// The map from an output voxel (z, y, x) to a source coordinate (z, y, x):
//
//   source = M * (z, y, x, 1) + D(z, y, x)
//
// M is the fused 3x4 matrix of every spatial op (crop, flip, rot90, affine,
// resample), D an optional smooth displacement (already in source voxel units)
// given on a coarse control grid over the output patch and evaluated with cubic
// B-splines. Control node g of an axis sits at output coordinate (g - 1) / inv,
// so the four taps of every output voxel exist (the grid carries one extra node
// before and two after). B-spline weights are non-negative and sum to one, so
// |D| never exceeds the largest control vector. NVRTC-safe.
#pragma once

#include "fastmed/common.h"

namespace fm {

struct SpatialMap {
  float m[12];         // row-major 3x4: source (z, y, x) from output (z, y, x, 1)
  const float* grid;   // (3, gz, gy, gx) displacements in source voxels, or null
  i64 gshape[3];       // gz, gy, gx
  float ginv[3];       // grid nodes per output voxel along z, y, x
};

// Cubic uniform B-spline weights of the four taps around fraction t in [0, 1).
FM_HD void bspline_weights(float t, float w[4]) {
  const float t2 = t * t, t3 = t2 * t;
  const float s = 1.0f - t;
  w[0] = s * s * s * (1.0f / 6.0f);
  w[1] = (3.0f * t3 - 6.0f * t2 + 4.0f) * (1.0f / 6.0f);
  w[2] = (-3.0f * t3 + 3.0f * t2 + 3.0f * t + 1.0f) * (1.0f / 6.0f);
  w[3] = t3 * (1.0f / 6.0f);
}

FM_HD i64 clamp_i64(i64 v, i64 lo, i64 hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The first tap index and the four weights of output coordinate o on one grid axis.
FM_HD i64 grid_taps(float o, float inv, i64 n, float w[4]) {
  const float g = o * inv + 1.0f;
  const float f = floorf(g);
  bspline_weights(g - f, w);
  return static_cast<i64>(f) - 1;
}

// The part of the affine map shared by one output row (z, y): b = M * (z, y, 0, 1).
FM_HD void affine_row_base(const float m[12], float oz, float oy, float b[3]) {
  b[0] = m[0] * oz + m[1] * oy + m[3];
  b[1] = m[4] * oz + m[5] * oy + m[7];
  b[2] = m[8] * oz + m[9] * oy + m[11];
}

// Source coordinate of output column ox of the row whose base is b.
FM_HD void affine_at(const float m[12], const float b[3], float ox, float* cz, float* cy, float* cx) {
  *cz = b[0] + m[2] * ox;
  *cy = b[1] + m[6] * ox;
  *cx = b[2] + m[10] * ox;
}

FM_HD void affine_point(const float m[12], float oz, float oy, float ox, float* cz, float* cy,
                        float* cx) {
  float b[3];
  affine_row_base(m, oz, oy, b);
  affine_at(m, b, ox, cz, cy, cx);
}

// The x step of the B-spline: w0 v0 + w1 v1 + w2 v2 + w3 v3, summed in this order.
FM_HD float bspline_sum(float w0, float w1, float w2, float w3, float v0, float v1, float v2, float v3) {
  float d = w0 * v0;
  d += w1 * v1;
  d += w2 * v2;
  d += w3 * v3;
  return d;
}

// Displacement at one output voxel (the GPU path: one thread per voxel). The order of the
// sums is the CPU kernel's: the grid collapsed along z and y first (the 16 weights wz * wy,
// z outer, y inner, from 0), at each of the four x taps, then bspline_sum along x. The CPU
// kernel collapses a whole grid row once per output row (elastic_row) and runs only the
// x step per voxel, so both give the same bits.
FM_HD void elastic_displacement(const SpatialMap& s, float oz, float oy, float ox, float d[3]) {
  float wz[4], wy[4], wx[4];
  const i64 z0 = grid_taps(oz, s.ginv[0], s.gshape[0], wz);
  const i64 y0 = grid_taps(oy, s.ginv[1], s.gshape[1], wy);
  const i64 x0 = grid_taps(ox, s.ginv[2], s.gshape[2], wx);
  const i64 plane = s.gshape[0] * s.gshape[1] * s.gshape[2];
  i64 xs[4];
  for (int c = 0; c < 4; ++c) xs[c] = clamp_i64(x0 + c, 0, s.gshape[2] - 1);
  float r[3][4];
  for (int k = 0; k < 3; ++k) r[k][0] = r[k][1] = r[k][2] = r[k][3] = 0.0f;
  for (int a = 0; a < 4; ++a) {
    const i64 z = clamp_i64(z0 + a, 0, s.gshape[0] - 1);
    for (int b = 0; b < 4; ++b) {
      const i64 y = clamp_i64(y0 + b, 0, s.gshape[1] - 1);
      const float w = wz[a] * wy[b];
      const i64 row = (z * s.gshape[1] + y) * s.gshape[2];
      for (int k = 0; k < 3; ++k) {
        for (int c = 0; c < 4; ++c) r[k][c] += w * s.grid[k * plane + row + xs[c]];
      }
    }
  }
  for (int k = 0; k < 3; ++k) d[k] = bspline_sum(wx[0], wx[1], wx[2], wx[3], r[k][0], r[k][1], r[k][2], r[k][3]);
}

// The grid re-laid as (gz, gy, 3, gx): the three components of one grid row side by
// side, so elastic_row sums whole 3 * gx runs (long vectorizable loops).
FM_HD void elastic_grid_zyk(const SpatialMap& s, float* out) {
  const i64 gx = s.gshape[2], rows = s.gshape[0] * s.gshape[1];
  const i64 plane = rows * gx;
  for (i64 r = 0; r < rows; ++r) {
    for (int k = 0; k < 3; ++k) {
      for (i64 x = 0; x < gx; ++x) out[(3 * r + k) * gx + x] = s.grid[k * plane + r * gx + x];
    }
  }
}

// The grid (laid out by elastic_grid_zyk) collapsed along z and y for one output row, in
// elastic_displacement's order: row[k * gx + x] holds component k at grid column x. The
// CPU kernel then runs only the x step (grid_taps on x, bspline_sum) per voxel.
FM_HD void elastic_row(const SpatialMap& s, const float* zyk, float oz, float oy, float* row) {
  float wz[4], wy[4];
  const i64 z0 = grid_taps(oz, s.ginv[0], s.gshape[0], wz);
  const i64 y0 = grid_taps(oy, s.ginv[1], s.gshape[1], wy);
  const i64 n = 3 * s.gshape[2];
  for (i64 i = 0; i < n; ++i) row[i] = 0.0f;
  for (int a = 0; a < 4; ++a) {
    const i64 z = clamp_i64(z0 + a, 0, s.gshape[0] - 1);
    for (int b = 0; b < 4; ++b) {
      const i64 y = clamp_i64(y0 + b, 0, s.gshape[1] - 1);
      const float w = wz[a] * wy[b];
      const float* g = zyk + (z * s.gshape[1] + y) * n;
      for (i64 i = 0; i < n; ++i) row[i] += w * g[i];
    }
  }
}

// Source coordinate of one output voxel (affine + elastic).
FM_HD void map_voxel(const SpatialMap& s, float oz, float oy, float ox, float* cz, float* cy,
                     float* cx) {
  affine_point(s.m, oz, oy, ox, cz, cy, cx);
  if (s.grid) {
    float d[3];
    elastic_displacement(s, oz, oy, ox, d);
    *cz += d[0];
    *cy += d[1];
    *cx += d[2];
  }
}

}  // namespace fm
