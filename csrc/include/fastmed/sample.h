// Sampling a typed source volume at a continuous (z, y, x) voxel coordinate.
//
// Nearest and trilinear reads straight from int16/uint16/uint8/int32/float32
// sources (never a float copy of the volume), with three padding modes for taps
// that fall outside: constant (a value), edge (clamp; scipy "nearest") and
// reflect (mirror without repeating the edge voxel; numpy "reflect", scipy
// "mirror"). Padding is decided per tap, so trilinear near the border blends
// the padding value in (scipy's "grid-constant"). NVRTC-safe: no std headers.
#pragma once

#include "fastmed/common.h"

namespace fm {

enum PadMode : int { kPadConstant = 0, kPadEdge = 1, kPadReflect = 2 };
enum Interp : int { kInterpNearest = 0, kInterpLinear = 1 };

// One channel of a source, (z, y, x). `shape` is the whole volume's extents (padding is
// decided against it); `data` points at voxel `origin` of the volume and holds the window
// [origin, origin + win) with element strides (not bytes) `stride`. Indices are computed
// in volume space and the integer origin subtracted only at the read, so a window gives
// exactly the whole volume's values. A read outside the window (a window that does not
// cover the footprint, see SamplePlan.source_bbox) is clamped into it: never out of bounds.
template <typename T>
struct SourceView {
  const T* data;
  i64 shape[3];
  i64 stride[3];
  i64 origin[3];
  i64 win[3];
};

// A view of a whole volume (window = volume).
template <typename T>
FM_HD SourceView<T> whole_view(const T* data, i64 nz, i64 ny, i64 nx, i64 sz, i64 sy, i64 sx) {
  SourceView<T> v;
  v.data = data;
  v.shape[0] = v.win[0] = nz;
  v.shape[1] = v.win[1] = ny;
  v.shape[2] = v.win[2] = nx;
  v.stride[0] = sz;
  v.stride[1] = sy;
  v.stride[2] = sx;
  v.origin[0] = v.origin[1] = v.origin[2] = 0;
  return v;
}

FM_HD i64 floor_to_i64(float v) {
  const i64 t = static_cast<i64>(v);
  return (static_cast<float>(t) > v) ? t - 1 : t;
}

// Index `i` of an axis of length `n` after padding; -1 means "use the constant".
FM_HD i64 pad_index(i64 i, i64 n, int mode) {
  if (i >= 0 && i < n) return i;
  if (mode == kPadEdge) return i < 0 ? 0 : n - 1;
  if (mode == kPadReflect) {
    if (n == 1) return 0;
    const i64 period = 2 * (n - 1);
    i64 r = i % period;
    if (r < 0) r += period;
    return r < n ? r : period - r;
  }
  return -1;
}

// Window index of volume index i on an axis (clamped into the window).
FM_HD i64 window_index(i64 i, i64 origin, i64 win) {
  const i64 w = i - origin;
  return w < 0 ? 0 : (w >= win ? win - 1 : w);
}

// The voxel at volume index (z, y, x), read from the window.
template <typename T>
FM_HD float load_voxel(const SourceView<T>& s, i64 z, i64 y, i64 x) {
  const i64 wz = window_index(z, s.origin[0], s.win[0]);
  const i64 wy = window_index(y, s.origin[1], s.win[1]);
  const i64 wx = window_index(x, s.origin[2], s.win[2]);
  return static_cast<float>(s.data[wz * s.stride[0] + wy * s.stride[1] + wx * s.stride[2]]);
}

// Nearest neighbour (round half up, as floor(c + 0.5)).
template <typename T>
FM_HD float sample_nearest(const SourceView<T>& s, float cz, float cy, float cx, int mode,
                           float cval) {
  const i64 z = pad_index(floor_to_i64(cz + 0.5f), s.shape[0], mode);
  const i64 y = pad_index(floor_to_i64(cy + 0.5f), s.shape[1], mode);
  const i64 x = pad_index(floor_to_i64(cx + 0.5f), s.shape[2], mode);
  if (z < 0 || y < 0 || x < 0) return cval;
  return load_voxel(s, z, y, x);
}

FM_HD float lerp(float a, float b, float t) { return a + t * (b - a); }

// Trilinear from the 8 voxels at `p` (all inside). d* are the element steps to
// the upper neighbour along each axis (0 where the weight is exactly zero at the
// last voxel, so no read leaves the array).
template <typename T>
FM_HD float trilinear_inside(const T* p, i64 dz, i64 dy, i64 dx, float tz, float ty, float tx) {
  const float c00 = lerp(static_cast<float>(p[0]), static_cast<float>(p[dx]), tx);
  const float c01 = lerp(static_cast<float>(p[dy]), static_cast<float>(p[dy + dx]), tx);
  const float c10 = lerp(static_cast<float>(p[dz]), static_cast<float>(p[dz + dx]), tx);
  const float c11 = lerp(static_cast<float>(p[dz + dy]), static_cast<float>(p[dz + dy + dx]), tx);
  return lerp(lerp(c00, c01, ty), lerp(c10, c11, ty), tz);
}

// Whether axis index i (with fraction t) has both taps inside; sets the upper step.
FM_HD bool axis_inside(i64 i, float t, i64 n, i64 stride, i64* step) {
  if (i < 0 || i >= n) return false;
  if (i + 1 < n) {
    *step = stride;
    return true;
  }
  *step = 0;
  return t == 0.0f;
}

// Trilinear with per-tap padding (the slow path near and beyond the border).
template <typename T>
FM_HD float sample_linear_padded(const SourceView<T>& s, i64 iz, i64 iy, i64 ix, float tz, float ty,
                                 float tx, int mode, float cval) {
  float v[8];
  for (int k = 0; k < 8; ++k) {
    const i64 z = pad_index(iz + ((k >> 2) & 1), s.shape[0], mode);
    const i64 y = pad_index(iy + ((k >> 1) & 1), s.shape[1], mode);
    const i64 x = pad_index(ix + (k & 1), s.shape[2], mode);
    v[k] = (z < 0 || y < 0 || x < 0) ? cval : load_voxel(s, z, y, x);
  }
  const float c00 = lerp(v[0], v[1], tx);
  const float c01 = lerp(v[2], v[3], tx);
  const float c10 = lerp(v[4], v[5], tx);
  const float c11 = lerp(v[6], v[7], tx);
  return lerp(lerp(c00, c01, ty), lerp(c10, c11, ty), tz);
}

// Largest cell magnitude: keeps cells in int32 (coordinates are validated to lie within
// 2^30 voxels, so the clamp never changes a value).
constexpr float kCellLimit = 1073741824.0f;

// Cell floor(c) and fraction c - floor(c) of a coordinate, branch-free (flat selects and an
// int32 cast, so a loop over it vectorizes; equal to floorf within kCellLimit).
FM_HD i32 split_cell(float c, float* t) {
  float v = c < -kCellLimit ? -kCellLimit : c;
  v = kCellLimit < v ? kCellLimit : v;
  i32 i = static_cast<i32>(v);
  i -= (v < static_cast<float>(i)) ? 1 : 0;
  *t = v - static_cast<float>(i);
  return i;
}

// Trilinear at volume cell (iz, iy, ix) with fractions (tz, ty, tx): the 8 taps straight
// from the window when all lie in it, else with padding per tap.
template <typename T>
FM_HD float sample_linear_cell(const SourceView<T>& s, i64 iz, i64 iy, i64 ix, float tz, float ty, float tx,
                               int mode, float cval) {
  // Both taps inside the window (window indices): then inside the volume too, and with a
  // window covering the footprint this is the same test as against the volume.
  const i64 wz = iz - s.origin[0], wy = iy - s.origin[1], wx = ix - s.origin[2];
  i64 dz, dy, dx;
  if (axis_inside(wz, tz, s.win[0], s.stride[0], &dz) &&
      axis_inside(wy, ty, s.win[1], s.stride[1], &dy) &&
      axis_inside(wx, tx, s.win[2], s.stride[2], &dx)) {
    const T* p = s.data + wz * s.stride[0] + wy * s.stride[1] + wx * s.stride[2];
    return trilinear_inside(p, dz, dy, dx, tz, ty, tx);
  }
  return sample_linear_padded(s, iz, iy, ix, tz, ty, tx, mode, cval);
}

template <typename T>
FM_HD float sample_linear(const SourceView<T>& s, float cz, float cy, float cx, int mode,
                          float cval) {
  float tz, ty, tx;
  const i32 iz = split_cell(cz, &tz), iy = split_cell(cy, &ty), ix = split_cell(cx, &tx);
  return sample_linear_cell(s, iz, iy, ix, tz, ty, tx, mode, cval);
}

template <typename T>
FM_HD float sample(const SourceView<T>& s, float cz, float cy, float cx, int interp, int mode,
                   float cval) {
  return interp == kInterpNearest ? sample_nearest(s, cz, cy, cx, mode, cval)
                                  : sample_linear(s, cz, cy, cx, mode, cval);
}

}  // namespace fm
