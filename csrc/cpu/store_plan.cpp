// Window planning of store reads (store_plan.h): chunk enumeration, the footprint's
// separating-axis test and the z-slab cut, in the arithmetic order of the Python oracle
// (footprint_shape.SourceFootprint.touches_boxes / _meets, box_plan.trim).
#include "store_plan.h"

#include <algorithm>
#include <cmath>

namespace fm::store {
namespace {

// The taps of cell `cell` landing in voxels [v0, v1] of its axis: [ta, tb] (empty when ta > tb).
void cell_taps(const TapCell& cell, std::int64_t v0, std::int64_t v1, std::int64_t& ta, std::int64_t& tb) {
  if (cell.s == 1) {
    ta = std::max(v0 - cell.o, cell.t0);
    tb = std::min(v1 - cell.o, cell.t1);
  } else if (cell.s == -1) {
    ta = std::max(cell.o - v1, cell.t0);
    tb = std::min(cell.o - v0, cell.t1);
  } else {
    const bool inside = v0 <= cell.o && cell.o <= v1;
    ta = inside ? cell.t0 : 1;
    tb = inside ? cell.t1 : 0;
  }
}

// Per axis and cell of one tap kind: whether a tap lands in the box, and the coordinate range of those taps.
struct CellRanges {
  std::array<std::vector<double>, 3> lo_x, hi_x;
  std::array<std::vector<char>, 3> ok;
};

}  // namespace

bool Footprint::meets(const double* x0, const double* x1) const {
  double centre[3], half[3];
  for (int k = 0; k < 3; ++k) {
    centre[k] = (x0[k] + x1[k]) / 2.0;
    half[k] = (x1[k] - x0[k]) / 2.0;
  }
  for (std::size_t a = 0; a < axes.size(); ++a) {
    const auto& u = axes[a];
    const double dot = centre[0] * u[0] + centre[1] * u[1] + centre[2] * u[2];
    const double gap = std::abs(dot - c[a]);
    const double reach = half[0] * std::abs(u[0]) + half[1] * std::abs(u[1]) + half[2] * std::abs(u[2]) + r[a] + tol[a];
    if (!(gap <= reach)) return false;
  }
  return true;
}

bool Footprint::touches(const Box3& lo, const Box3& hi) const {
  for (int k = 0; k < 3; ++k)
    if (lo[k] > hi[k] - 1) return false;  // empty box
  for (const TapKind& kind : kinds) {
    // Per axis and cell: whether a tap lands in the box, and the coordinate range [x0, x1] of those taps
    // moved back by the displacement box.
    thread_local CellRanges scratch;  // reused: no allocation per test once grown
    auto& lo_x = scratch.lo_x;
    auto& hi_x = scratch.hi_x;
    auto& ok = scratch.ok;
    bool any_axis_empty = false;
    for (int k = 0; k < 3; ++k) {
      const auto& cells = kind.cells[k];
      lo_x[k].resize(cells.size());
      hi_x[k].resize(cells.size());
      ok[k].resize(cells.size());
      bool any = false;
      for (std::size_t i = 0; i < cells.size(); ++i) {
        std::int64_t ta = 0, tb = 0;
        cell_taps(cells[i], lo[k], hi[k] - 1, ta, tb);
        ok[k][i] = ta <= tb;
        any = any || ok[k][i];
        lo_x[k][i] = static_cast<double>(ta) - kind.w - above[k];
        hi_x[k][i] = static_cast<double>(tb) + kind.w + below[k];
      }
      if (!any) any_axis_empty = true;
    }
    if (any_axis_empty) continue;
    for (std::size_t i = 0; i < ok[0].size(); ++i) {
      if (!ok[0][i]) continue;
      for (std::size_t j = 0; j < ok[1].size(); ++j) {
        if (!ok[1][j]) continue;
        for (std::size_t l = 0; l < ok[2].size(); ++l) {
          if (!ok[2][l]) continue;
          const double x0[3] = {lo_x[0][i], lo_x[1][j], lo_x[2][l]};
          const double x1[3] = {hi_x[0][i], hi_x[1][j], hi_x[2][l]};
          if (meets(x0, x1)) return true;
        }
      }
    }
  }
  return false;
}

std::int64_t chunks_in_box(const Box3& chunk, const Box3& lo, const Box3& hi, Box3& grid) {
  std::int64_t n = 1;
  for (int k = 0; k < 3; ++k) {
    const std::int64_t a = lo[k] / chunk[k], b = (hi[k] + chunk[k] - 1) / chunk[k];
    grid[k] = std::max<std::int64_t>(0, b - a);
    n *= grid[k];
  }
  return n;
}

bool plan_chunk(const Box3& chunk, const Box3& lo, const Box3& hi, const Box3& grid, std::int64_t j,
                const Footprint* fp, std::int64_t slab, int za, PlannedChunk& out) {
  std::int64_t rest = j;
  for (int k = 2; k >= 0; --k) {
    out.idx[k] = lo[k] / chunk[k] + rest % grid[k];
    rest /= grid[k];
    out.first[k] = std::max(out.idx[k] * chunk[k], lo[k]);
    out.last[k] = std::min((out.idx[k] + 1) * chunk[k], hi[k]);
  }
  if (fp == nullptr) return true;
  if (!fp->touches(out.first, out.last)) return false;
  const std::int64_t z0 = out.first[za], z1 = out.last[za];
  const std::int64_t c0 = out.idx[za] * chunk[za];
  const std::int64_t s0 = c0 + (z0 - c0) / slab * slab;  // first slab's start (z0 >= c0)
  const std::int64_t count = (z1 - s0 + slab - 1) / slab;
  auto slab_hit = [&](std::int64_t local) {
    Box3 a = out.first, b = out.last;
    a[za] = std::max(s0 + local * slab, z0);
    b[za] = std::min(s0 + local * slab + slab, z1);
    return fp->touches(a, b);
  };
  std::int64_t lo_hit = 0;
  while (lo_hit < count && !slab_hit(lo_hit)) ++lo_hit;
  if (lo_hit == count) return false;
  std::int64_t hi_hit = count - 1;
  while (hi_hit > lo_hit && !slab_hit(hi_hit)) --hi_hit;
  out.first[za] = std::max(s0 + lo_hit * slab, z0);
  out.last[za] = std::min(s0 + (hi_hit + 1) * slab, z1);
  return true;
}

}  // namespace fm::store
