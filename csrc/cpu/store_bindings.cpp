// Bindings of the store window reader (store_chunks.h) and of crc32c. fastmed/store/native.py
// turns a returned (part, reason) into fm.CacheError naming the series, array and chunk.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "crc32c.h"
#include "store_chunks.h"

namespace py = pybind11;

namespace fm {
namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

py::object read_window_py(const std::vector<std::string>& files, const Int64Array& parts, py::array& out,
                          const std::vector<std::int64_t>& chunk, std::int64_t max_file_bytes, std::uintptr_t decode,
                          int threads) {
  if (!(out.flags() & py::array::c_style) || !out.writeable())
    throw py::value_error("out must be a writeable C-contiguous array");
  if (out.ndim() != 3 || chunk.size() != 3) throw py::value_error("store windows are read as 3-D arrays");
  if (parts.ndim() != 2 || parts.shape(1) != 9 || static_cast<std::size_t>(parts.shape(0)) != files.size())
    throw py::value_error("parts must be (len(files), 9): src, dst, extent per axis");
  if (decode == 0) throw py::value_error("no blosc decoder");
  store::WindowJob job;
  job.files = files;
  job.itemsize = out.itemsize();
  job.max_file_bytes = max_file_bytes;
  job.out = static_cast<unsigned char*>(out.mutable_data());
  job.decode = reinterpret_cast<store::BloscDecompressCtx>(decode);
  for (int a = 0; a < 3; ++a) {
    job.chunk[a] = chunk[a];
    job.window[a] = out.shape(a);
    if (chunk[a] <= 0) throw py::value_error("chunk shape must be positive");
  }
  if (max_file_bytes <= 0 || max_file_bytes > (std::int64_t{1} << 40)) throw py::value_error("invalid max_file_bytes");
  auto r = parts.unchecked<2>();
  job.parts.resize(files.size());
  for (py::ssize_t j = 0; j < parts.shape(0); ++j) {
    store::ChunkPart& p = job.parts[static_cast<std::size_t>(j)];
    for (int a = 0; a < 3; ++a) {
      p.src[a] = r(j, a);
      p.dst[a] = r(j, 3 + a);
      p.ext[a] = r(j, 6 + a);
      if (p.ext[a] <= 0 || p.src[a] < 0 || p.dst[a] < 0 || p.src[a] > job.chunk[a] - p.ext[a] ||
          p.dst[a] > job.window[a] - p.ext[a])
        throw py::value_error("a chunk part lies outside its chunk or the window");
    }
  }
  store::ChunkError err;
  {
    py::gil_scoped_release release;
    err = store::read_window(job, threads);
  }
  if (err.part < 0) return py::none();
  return py::make_tuple(err.part, err.reason);
}

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// The footprint from SourceFootprint.compiled(): (axes (A, 3), c (A), r (A), tol (A), below (3), above (3),
// w (K), cells (M, 6): kind, axis, t0, t1, s, o). Every length and index checked.
store::Footprint to_footprint(const py::tuple& t) {
  if (t.size() != 8) throw py::value_error("a compiled footprint is a tuple of 8 arrays");
  const auto axes = t[0].cast<DoubleArray>(), c = t[1].cast<DoubleArray>(), r = t[2].cast<DoubleArray>(),
             tol = t[3].cast<DoubleArray>(), below = t[4].cast<DoubleArray>(), above = t[5].cast<DoubleArray>(),
             w = t[6].cast<DoubleArray>();
  const auto cells = t[7].cast<Int64Array>();
  const py::ssize_t na = axes.ndim() == 2 ? axes.shape(0) : -1;
  if (na < 0 || axes.shape(1) != 3 || c.ndim() != 1 || c.shape(0) != na || r.ndim() != 1 || r.shape(0) != na ||
      tol.ndim() != 1 || tol.shape(0) != na)
    throw py::value_error("footprint axes must be (A, 3) with c, r, tol of length A");
  if (below.ndim() != 1 || below.shape(0) != 3 || above.ndim() != 1 || above.shape(0) != 3)
    throw py::value_error("footprint below/above must have 3 values");
  if (w.ndim() != 1 || cells.ndim() != 2 || cells.shape(1) != 6)
    throw py::value_error("footprint w must be (K,) and cells (M, 6)");
  store::Footprint fp;
  fp.axes.resize(static_cast<std::size_t>(na));
  for (py::ssize_t a = 0; a < na; ++a) {
    for (int k = 0; k < 3; ++k) fp.axes[static_cast<std::size_t>(a)][k] = axes.at(a, k);
    fp.c.push_back(c.at(a));
    fp.r.push_back(r.at(a));
    fp.tol.push_back(tol.at(a));
  }
  for (int k = 0; k < 3; ++k) {
    fp.below[k] = below.at(k);
    fp.above[k] = above.at(k);
  }
  fp.kinds.resize(static_cast<std::size_t>(w.shape(0)));
  for (py::ssize_t q = 0; q < w.shape(0); ++q) fp.kinds[static_cast<std::size_t>(q)].w = w.at(q);
  for (py::ssize_t i = 0; i < cells.shape(0); ++i) {
    const std::int64_t kind = cells.at(i, 0), axis = cells.at(i, 1), s = cells.at(i, 4);
    if (kind < 0 || kind >= w.shape(0) || axis < 0 || axis > 2 || s < -1 || s > 1)
      throw py::value_error("footprint cell with an invalid kind, axis or slope");
    fp.kinds[static_cast<std::size_t>(kind)].cells[static_cast<std::size_t>(axis)].push_back(
        store::TapCell{cells.at(i, 2), cells.at(i, 3), s, cells.at(i, 5)});
  }
  return fp;
}

store::Box3 to_box(const std::vector<std::int64_t>& v, const char* what) {
  if (v.size() != 3) throw py::value_error(std::string(what) + " must have 3 values");
  return {v[0], v[1], v[2]};
}

// Checks a box of an array of chunk shape `chunk`: 0 <= lo < hi <= 2^40, chunk > 0 (per axis), and at
// most 2^40 chunks in the box (their count and every index fit in 64 bits).
void check_box(const store::Box3& chunk, const store::Box3& lo, const store::Box3& hi) {
  constexpr std::int64_t kMax = std::int64_t{1} << 40;
  std::int64_t count = 1;
  for (int k = 0; k < 3; ++k) {
    if (chunk[k] <= 0 || chunk[k] > kMax) throw py::value_error("chunk shape must be positive");
    if (lo[k] < 0 || hi[k] <= lo[k] || hi[k] > kMax) throw py::value_error("box must be non-empty with 0 <= lo < hi");
    const std::int64_t along = (hi[k] + chunk[k] - 1) / chunk[k] - lo[k] / chunk[k];
    if (along > kMax / count) throw py::value_error("box spans too many chunks");
    count *= along;
  }
}

// The last key_axes values of a chunk index, as named in its file path.
py::tuple key_tuple(const store::Box3& idx, int key_axes) {
  py::tuple t(key_axes);
  for (int k = 0; k < key_axes; ++k) t[k] = idx[static_cast<std::size_t>(3 - key_axes + k)];
  return t;
}

py::tuple read_box_py(const std::string& base, int key_axes, const std::vector<std::int64_t>& lo,
                      const std::vector<std::int64_t>& hi, py::array& out, const std::vector<std::int64_t>& chunk,
                      std::int64_t max_file_bytes, std::uintptr_t decode, int threads, const py::object& footprint,
                      std::int64_t slab, bool record) {
  if (!(out.flags() & py::array::c_style) || !out.writeable())
    throw py::value_error("out must be a writeable C-contiguous array");
  if (out.ndim() != 3) throw py::value_error("store windows are read as 3-D arrays");
  if (decode == 0) throw py::value_error("no blosc decoder");
  if (key_axes < 1 || key_axes > 3) throw py::value_error("key_axes must be 1, 2 or 3");
  if (slab < 1) throw py::value_error("slab must be >= 1");
  if (max_file_bytes <= 0 || max_file_bytes > (std::int64_t{1} << 40)) throw py::value_error("invalid max_file_bytes");
  store::BoxJob job;
  job.base = base;
  job.key_axes = key_axes;
  job.lo = to_box(lo, "lo");
  job.hi = to_box(hi, "hi");
  const store::Box3 ch = to_box(chunk, "chunk");
  check_box(ch, job.lo, job.hi);
  for (int a = 0; a < 3; ++a) {
    job.io.chunk[a] = ch[a];
    job.io.window[a] = out.shape(a);
    if (out.shape(a) != job.hi[a] - job.lo[a]) throw py::value_error("out must have the box's shape");
    if (a < 3 - key_axes && (ch[a] != 1 || job.hi[a] != 1)) throw py::value_error("unnamed axes must be of size 1");
  }
  job.io.itemsize = out.itemsize();
  job.io.max_file_bytes = max_file_bytes;
  job.io.out = static_cast<unsigned char*>(out.mutable_data());
  job.io.decode = reinterpret_cast<store::BloscDecompressCtx>(decode);
  job.slab = slab;
  store::Footprint fp;
  if (!footprint.is_none()) {
    fp = to_footprint(footprint.cast<py::tuple>());
    job.fp = &fp;
  }
  store::BoxResult res;
  store::ReadFlags opened;
  {
    py::gil_scoped_release release;
    res = store::read_box(job, threads, record ? &opened : nullptr);
  }
  py::list chunks;  // with `record`: the chunk indices opened, C order
  if (record) {
    store::Box3 grid{};
    store::chunks_in_box(ch, job.lo, job.hi, grid);
    for (std::size_t j = 0; j < opened.size(); ++j) {
      if (!opened[j]) continue;
      store::PlannedChunk pc;
      store::plan_chunk(ch, job.lo, job.hi, grid, static_cast<std::int64_t>(j), nullptr, slab, 0, pc);
      chunks.append(key_tuple(pc.idx, key_axes));
    }
  }
  py::object err = py::none();
  if (res.err.part >= 0) err = py::make_tuple(key_tuple(res.err_idx, key_axes), res.err.reason);
  return py::make_tuple(res.read, err, chunks);
}

// The planning of read_box alone: (idx, first, last), each (N, 3), of the chunks read, in C order.
py::tuple plan_box_py(const std::vector<std::int64_t>& chunk, const std::vector<std::int64_t>& lo,
                      const std::vector<std::int64_t>& hi, const py::object& footprint, std::int64_t slab,
                      int key_axes) {
  if (slab < 1) throw py::value_error("slab must be >= 1");
  if (key_axes < 1 || key_axes > 3) throw py::value_error("key_axes must be 1, 2 or 3");
  const store::Box3 ch = to_box(chunk, "chunk"), a = to_box(lo, "lo"), b = to_box(hi, "hi");
  check_box(ch, a, b);
  store::Footprint fp;
  const bool has_fp = !footprint.is_none();
  if (has_fp) fp = to_footprint(footprint.cast<py::tuple>());
  store::Box3 grid{};
  const std::int64_t n = store::chunks_in_box(ch, a, b, grid);
  std::vector<store::PlannedChunk> kept;
  for (std::int64_t j = 0; j < n; ++j) {
    store::PlannedChunk pc;
    if (store::plan_chunk(ch, a, b, grid, j, has_fp ? &fp : nullptr, slab, 3 - key_axes, pc)) kept.push_back(pc);
  }
  const auto m = static_cast<py::ssize_t>(kept.size());
  Int64Array idx({m, py::ssize_t{3}}), first({m, py::ssize_t{3}}), last({m, py::ssize_t{3}});
  auto i = idx.mutable_unchecked<2>();
  auto f = first.mutable_unchecked<2>();
  auto l = last.mutable_unchecked<2>();
  for (py::ssize_t j = 0; j < m; ++j)
    for (int k = 0; k < 3; ++k) {
      i(j, k) = kept[static_cast<std::size_t>(j)].idx[k];
      f(j, k) = kept[static_cast<std::size_t>(j)].first[k];
      l(j, k) = kept[static_cast<std::size_t>(j)].last[k];
    }
  return py::make_tuple(idx, first, last);
}

py::array_t<bool> touches_py(const py::tuple& footprint, const Int64Array& lo, const Int64Array& hi) {
  if (lo.ndim() != 2 || lo.shape(1) != 3 || hi.ndim() != 2 || hi.shape(0) != lo.shape(0) || hi.shape(1) != 3)
    throw py::value_error("lo and hi must be (N, 3)");
  const store::Footprint fp = to_footprint(footprint);
  py::array_t<bool> hit(lo.shape(0));
  auto h = hit.mutable_unchecked<1>();
  for (py::ssize_t j = 0; j < lo.shape(0); ++j)
    h(j) = fp.touches({lo.at(j, 0), lo.at(j, 1), lo.at(j, 2)}, {hi.at(j, 0), hi.at(j, 1), hi.at(j, 2)});
  return hit;
}

}  // namespace

void bind_store(py::module_& m) {
  m.def("store_read_box", &read_box_py, py::arg("base"), py::arg("key_axes"), py::arg("lo"), py::arg("hi"),
        py::arg("out"), py::arg("chunk"), py::arg("max_file_bytes"), py::arg("decode"), py::arg("threads"),
        py::arg("footprint"), py::arg("slab"), py::arg("record") = false,
        "Read the box [lo, hi) (3 axes) of a store array into `out` (GIL released), planning natively: every chunk "
        "the box overlaps, cut to the z-slabs of `slab` slices that `footprint` (SourceFootprint.compiled() or "
        "None) reads. Chunk files are base + the last key_axes chunk indices joined by '/'. Returns (chunks read, "
        "None or (chunk index, reason) of the first failing chunk, [chunk indices opened] when record else []).");
  m.def("store_plan_box", &plan_box_py, py::arg("chunk"), py::arg("lo"), py::arg("hi"), py::arg("footprint"),
        py::arg("slab"), py::arg("key_axes") = 3,
        "The plan of store_read_box: (idx, first, last), each (N, 3), of the chunks it reads.");
  m.def("store_footprint_touches", &touches_py, py::arg("footprint"), py::arg("lo"), py::arg("hi"),
        "SourceFootprint.touches_boxes natively, for (N, 3) boxes, from SourceFootprint.compiled().");
  m.def("store_read_window", &read_window_py, py::arg("files"), py::arg("parts"), py::arg("out"), py::arg("chunk"),
        py::arg("max_file_bytes"), py::arg("decode"), py::arg("threads"),
        "Read chunk parts of a store array into the window `out` (GIL released). parts[j] = src(3), dst(3), "
        "extent(3); decode = address of c-blosc's blosc_decompress_ctx. Returns None or (part, reason) of the "
        "first failing part.");
  m.def(
      "crc32c",
      [](const py::buffer& data) {
        py::buffer_info b = data.request();
        if (!PyBuffer_IsContiguous(b.view(), 'C')) throw py::value_error("crc32c needs a contiguous buffer");
        const auto n = static_cast<std::size_t>(b.size * b.itemsize);
        const void* p = b.ptr;
        std::uint32_t c;
        {
          py::gil_scoped_release release;
          c = crc32c(p, n);
        }
        return c;
      },
      py::arg("data"), "CRC-32C of a contiguous buffer (as zarr's crc32c codec and the crc32c package).");
}

}  // namespace fm
