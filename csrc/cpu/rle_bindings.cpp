// Bindings of the batch RLE decoder (rle_decode.h): frames of buffers or of files straight
// into a preallocated output, the GIL released. Returns (error, min, max): error is None or
// the first failing frame as (frame, kind, errno, reason), which
// fastmed/dicom/codecs/rle_native.py raises as the fastmed error; min and max are the
// decoded values' range when rescaling (else 0, 0).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "rle_decode.h"

namespace py = pybind11;

namespace fm {
namespace {

using Int64Array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

struct Args {
  rle::Batch batch;
  rle::Layout layout;
  u8* out = nullptr;
};

// The frame layout and the output of `nframes` frames, checked.
Args make_layout(py::array& out, i64 nframes, std::int64_t rows, std::int64_t columns, std::int64_t samples,
                 std::int64_t bytes_per_sample, std::int64_t unused_bits, bool is_signed, const py::object& rescale) {
  if (rows <= 0 || columns <= 0 || samples <= 0 || bytes_per_sample <= 0 || unused_bits < 0 || unused_bits >= 64)
    throw py::value_error("invalid RLE frame layout");
  if (!(out.flags() & py::array::c_style) || !out.writeable())
    throw py::value_error("out must be a writeable C-contiguous array");
  Args a;
  a.layout.rows = static_cast<u64>(rows);
  a.layout.columns = static_cast<u64>(columns);
  a.layout.samples = static_cast<u64>(samples);
  a.layout.bytes_per_sample = static_cast<u64>(bytes_per_sample);
  a.layout.unused_bits = static_cast<u32>(unused_bits);
  a.layout.is_signed = is_signed;
  if (!rescale.is_none()) {
    // (slope, intercept) modulo 2^16: only those bits matter to the wrapping int16 result.
    const auto si = rescale.cast<std::pair<std::int64_t, std::int64_t>>();
    if (si.first < 0 || si.first > 0xFFFF || si.second < 0 || si.second > 0xFFFF)
      throw py::value_error("rescale slope and intercept must be given modulo 2**16");
    a.layout.rescale = true;
    a.layout.slope = static_cast<u16>(si.first);
    a.layout.intercept = static_cast<u16>(si.second);
  }
  try {
    rle::check_layout(a.layout);
  } catch (const rle::Error& e) {
    throw py::value_error(e.reason);
  }
  const u64 need = a.layout.frame_bytes() * static_cast<u64>(nframes);
  if (static_cast<u64>(out.nbytes()) != need)
    throw py::value_error("out holds " + std::to_string(out.nbytes()) + " bytes, the frames need " +
                          std::to_string(need));
  a.out = static_cast<u8*>(out.mutable_data());
  return a;
}

Args make_args(const Int64Array& pieces, const Int64Array& frame_index, const Int64Array& frame_source, py::array& out,
               std::int64_t rows, std::int64_t columns, std::int64_t samples, std::int64_t bytes_per_sample,
               std::int64_t unused_bits, bool is_signed, const py::object& rescale) {
  if (pieces.ndim() != 2 || pieces.shape(1) != 2) throw py::value_error("pieces must be an (n, 2) int64 array");
  if (frame_index.ndim() != 1 || frame_source.ndim() != 1 || frame_index.shape(0) != frame_source.shape(0) + 1)
    throw py::value_error("frame_index must hold one more entry than frame_source");
  Args a = make_layout(out, frame_source.shape(0), rows, columns, samples, bytes_per_sample, unused_bits, is_signed,
                       rescale);
  a.batch.pieces = pieces.data();
  a.batch.npieces = pieces.shape(0);
  a.batch.frame_index = frame_index.data();
  a.batch.frame_source = frame_source.data();
  a.batch.nframes = frame_source.shape(0);
  return a;
}

py::object to_python(const rle::BatchResult& r, bool rescale) {
  py::object err = py::none();
  if (r.failed) err = py::make_tuple(r.frame, static_cast<int>(r.kind), r.err, r.reason);
  const bool seen = rescale && !r.failed && r.range.min <= r.range.max;
  return py::make_tuple(err, seen ? r.range.min : 0, seen ? r.range.max : 0);
}

py::object decode_buffers_py(const py::list& buffers, const Int64Array& pieces, const Int64Array& frame_index,
                             const Int64Array& frame_source, py::array out, std::int64_t rows, std::int64_t columns,
                             std::int64_t samples, std::int64_t bytes_per_sample, std::int64_t unused_bits,
                             bool is_signed, const py::object& rescale, int threads) {
  const Args a = make_args(pieces, frame_index, frame_source, out, rows, columns, samples, bytes_per_sample,
                           unused_bits, is_signed, rescale);
  std::vector<py::buffer_info> infos;
  std::vector<rle::Source> sources;
  infos.reserve(buffers.size());
  for (const py::handle& h : buffers) {
    infos.push_back(py::reinterpret_borrow<py::buffer>(h).request());
    const py::buffer_info& info = infos.back();
    if (!PyBuffer_IsContiguous(info.view(), 'C')) throw py::value_error("source buffers must be contiguous");
    sources.push_back({static_cast<const u8*>(info.ptr), static_cast<u64>(info.size) * static_cast<u64>(info.itemsize)});
  }
  rle::BatchResult r;
  {
    py::gil_scoped_release release;
    r = rle::decode_batch(sources, a.batch, a.layout, a.out, threads);
  }
  return to_python(r, !rescale.is_none());
}

py::object decode_files_py(const std::vector<std::string>& paths, const Int64Array& pieces,
                           const Int64Array& frame_index, const Int64Array& frame_source, py::array out,
                           std::int64_t rows, std::int64_t columns, std::int64_t samples,
                           std::int64_t bytes_per_sample, std::int64_t unused_bits, bool is_signed,
                           const py::object& rescale, int threads) {
  const Args a = make_args(pieces, frame_index, frame_source, out, rows, columns, samples, bytes_per_sample,
                           unused_bits, is_signed, rescale);
  rle::BatchResult r;
  {
    py::gil_scoped_release release;
    r = rle::decode_batch_files(paths, a.batch, a.layout, a.out, threads);
  }
  return to_python(r, !rescale.is_none());
}

py::object decode_series_py(const std::vector<std::string>& paths,
                            const std::vector<std::pair<std::uint32_t, std::string>>& tags, py::array out,
                            std::int64_t rows, std::int64_t columns, std::int64_t bytes_per_sample,
                            std::int64_t unused_bits, bool is_signed, const py::object& rescale, int threads) {
  const Args a = make_layout(out, static_cast<i64>(paths.size()), rows, columns, 1, bytes_per_sample, unused_bits,
                             is_signed, rescale);
  std::vector<dicom::Request> requests;
  for (const auto& t : tags) {
    const u16 vr = t.second.size() == 2 ? dicom::vr_code(t.second[0], t.second[1]) : dicom::kVrNone;
    requests.push_back({t.first, vr});
  }
  rle::SeriesResult r;
  {
    py::gil_scoped_release release;
    r = rle::decode_series_files(paths, requests, a.layout, a.out, threads);
  }
  if (r.mismatch >= 0) return py::make_tuple(py::str("mismatch"), r.mismatch, 0);
  py::object res = to_python(r.batch, !rescale.is_none());
  if (r.batch.failed) {
    // (frame, kind, offset, reason): no I/O errors here (unreadable files are mismatches).
    res = py::make_tuple(py::make_tuple(r.batch.frame, static_cast<int>(r.batch.kind), r.batch.offset, r.batch.reason),
                         0, 0);
  }
  return res;
}

}  // namespace

void bind_rle(py::module_& m) {
  const char* doc =
      "Decode RLE Lossless frames into `out` (frames x rows x columns x samples x bytes, planar little endian),\n"
      "threaded across frames. Frame f is pieces[frame_index[f]:frame_index[f+1]] of source frame_source[f].\n"
      "rescale: None, or (slope, intercept) modulo 2**16: write int16 value * slope + intercept (mod 2**16).\n"
      "Returns (error, min, max): error None or (frame, kind, errno, reason) of the first failing frame;\n"
      "min, max: the decoded values' range when rescaling.";
  m.def("rle_decode_buffers", &decode_buffers_py, py::arg("buffers"), py::arg("pieces"), py::arg("frame_index"),
        py::arg("frame_source"), py::arg("out"), py::arg("rows"), py::arg("columns"), py::arg("samples"),
        py::arg("bytes_per_sample"), py::arg("unused_bits"), py::arg("is_signed"), py::arg("rescale"),
        py::arg("threads"), doc);
  m.def("rle_decode_files", &decode_files_py, py::arg("paths"), py::arg("pieces"), py::arg("frame_index"),
        py::arg("frame_source"), py::arg("out"), py::arg("rows"), py::arg("columns"), py::arg("samples"),
        py::arg("bytes_per_sample"), py::arg("unused_bits"), py::arg("is_signed"), py::arg("rescale"),
        py::arg("threads"), doc);
  m.def("rle_decode_series", &decode_series_py, py::arg("paths"), py::arg("tags"), py::arg("out"), py::arg("rows"),
        py::arg("columns"), py::arg("bytes_per_sample"), py::arg("unused_bits"), py::arg("is_signed"),
        py::arg("rescale"), py::arg("threads"),
        "Plane i of `out` = the one RLE frame of paths[i], each file read whole and its header parsed natively.\n"
        "Returns ('mismatch', i, 0) when file i's pixel-module elements (`tags`) differ from file 0's or it does\n"
        "not parse (take the per-file path), else (error, min, max) as rle_decode_files, error being\n"
        "(file index, kind, byte offset, reason).");
}

}  // namespace fm
