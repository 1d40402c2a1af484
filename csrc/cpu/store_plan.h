// Which chunks (and which z-slices of them) a store window reads: the chunks a box overlaps, cut
// to what a plan's source footprint can read. The footprint is the compiled form of
// fastmed.transforms.footprint_shape.SourceFootprint (its separating-axis test, same arithmetic
// in the same order), and the slab cut is fastmed.store.box_plan.trim's; the Python code is the
// oracle of both (tests/store/test_native_plan.py). Host-only.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace fm::store {

using Box3 = std::array<std::int64_t, 3>;

// One cell of a footprint axis: taps [t0, t1] map to voxel s * t + o (s == 0: always voxel o).
struct TapCell {
  std::int64_t t0 = 0, t1 = 0, s = 0, o = 0;
};

// Taps of one (interpolation, padding) pair: the tap support w and the cells of each axis.
struct TapKind {
  double w = 0.0;
  std::array<std::vector<TapCell>, 3> cells;
};

struct Footprint {
  std::vector<std::array<double, 3>> axes;  // separating-axis candidates (unit vectors)
  std::vector<double> c, r, tol;            // per axis: P's centre and radius along it, tolerance
  std::array<double, 3> below{}, above{};   // displacement box D = [-below, above]
  std::vector<TapKind> kinds;

  // Whether the plan's output can read a voxel of the half-open box [lo, hi) (3 axes).
  bool touches(const Box3& lo, const Box3& hi) const;

 private:
  // Whether P meets the closed box [x0, x1] (separating axes).
  bool meets(const double* x0, const double* x1) const;
};

// The part of one chunk a window reads: its overlap [first, last) with the box, in array
// coordinates, z cut to the footprint's kept slabs.
struct PlannedChunk {
  Box3 idx{}, first{}, last{};
};

// Number of chunks of shape `chunk` the non-empty box [lo, hi) overlaps; `grid` gets the count per axis.
std::int64_t chunks_in_box(const Box3& chunk, const Box3& lo, const Box3& hi, Box3& grid);

// Chunk number j (C order) of the box: its index and overlap. Then, when `fp` is given, cut to the
// slabs of `slab` slices along axis `za` (the array's first axis: 0, or 1 for a 2-D array padded to 3
// axes), aligned to the chunk's start, that fp reads; false when it reads none.
bool plan_chunk(const Box3& chunk, const Box3& lo, const Box3& hi, const Box3& grid, std::int64_t j,
                const Footprint* fp, std::int64_t slab, int za, PlannedChunk& out);

}  // namespace fm::store
