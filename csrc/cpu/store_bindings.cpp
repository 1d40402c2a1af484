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

}  // namespace

void bind_store(py::module_& m) {
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
