// Bindings of the DICOM header parser: parse a buffer, a file (mmap) or many files in
// threads. Parsing runs with the GIL released; only the conversion of the few found
// values to Python objects holds it. Errors come back as DicomNativeError(kind,
// offset, reason); fastmed/dicom/header.py maps them to the fastmed.DicomError family.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "dicom.h"
#include "dicom_file.h"
#include "dicom_values.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
namespace {

using namespace fm::dicom;

constexpr u64 kMaxValueCopy = u64(1) << 20;  // values above this are returned as a range only

// Everything the Python side needs, copied out of the buffer so a mapped file can be closed.
struct Parsed {
  Header h;
  std::vector<std::string> raw;  // raw value bytes of h.elements (empty if over kMaxValueCopy)
  bool failed = false;
  int kind = 0;  // ErrorKind, or 3 for an I/O error (then offset holds errno)
  u64 offset = 0;
  std::string reason;
};

std::vector<Request> to_requests(const std::vector<std::pair<u32, std::string>>& tags) {
  std::vector<Request> out;
  out.reserve(tags.size());
  for (const auto& t : tags) {
    const u16 vr = t.second.size() == 2 ? vr_code(t.second[0], t.second[1]) : kVrNone;
    out.push_back({t.first, vr});
  }
  return out;
}

void parse_into(Parsed& out, const u8* data, u64 size, const std::vector<Request>& req, const ParseOptions& opts) {
  try {
    out.h = parse(data, size, req, opts);
    out.raw.reserve(out.h.elements.size());
    for (const Element& e : out.h.elements) {
      if (e.vr == kVrSQ || e.length > kMaxValueCopy) {
        out.raw.emplace_back();
      } else {
        out.raw.emplace_back(reinterpret_cast<const char*>(data + e.value_offset), static_cast<size_t>(e.length));
      }
    }
  } catch (const Error& e) {
    out.failed = true;
    out.kind = static_cast<int>(e.kind());
    out.offset = e.offset();
    out.reason = e.what();
  }
}

void parse_path(Parsed& out, const std::string& path, const std::vector<Request>& req, const ParseOptions& opts) {
  try {
    MappedFile f(path);
    parse_into(out, f.data(), f.size(), req, opts);
  } catch (const IoError& e) {
    out.failed = true;
    out.kind = 3;
    out.offset = static_cast<u64>(e.err);
    out.reason = e.what;
  } catch (const Error& e) {
    out.failed = true;
    out.kind = static_cast<int>(e.kind());
    out.offset = e.offset();
    out.reason = e.what();
  }
}

py::array_t<std::int64_t> ranges_array(const std::vector<Range>& rs) {
  py::array_t<std::int64_t> a({static_cast<py::ssize_t>(rs.size()), static_cast<py::ssize_t>(2)});
  auto m = a.mutable_unchecked<2>();
  for (size_t i = 0; i < rs.size(); ++i) {
    m(i, 0) = static_cast<std::int64_t>(rs[i].offset);
    m(i, 1) = static_cast<std::int64_t>(rs[i].length);
  }
  return a;
}

template <typename T>
py::array_t<T> vec_array(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
  return a;
}

py::object to_python(const Parsed& p) {
  if (p.failed) return py::make_tuple(p.kind, p.offset, p.reason);
  const Header& h = p.h;
  py::dict d;
  d["transfer_syntax"] = h.transfer_syntax;
  d["explicit_vr"] = h.syntax.explicit_vr;
  d["little_endian"] = h.syntax.little;
  d["syntax_guessed"] = h.syntax_guessed;
  d["deflated"] = h.deflated;
  d["has_preamble"] = h.has_preamble;
  d["has_meta"] = h.has_meta;
  d["dataset_offset"] = h.dataset_offset;
  d["elements_walked"] = h.elements_walked;
  py::dict values, vrs, ranges;
  for (size_t i = 0; i < h.elements.size(); ++i) {
    const Element& e = h.elements[i];
    py::int_ tag(e.tag);
    if (e.vr == kVrSQ) {
      values[tag] = py::int_(e.items);
    } else if (e.length > kMaxValueCopy) {
      values[tag] = py::none();
    } else {
      const std::string& r = p.raw[i];
      values[tag] = value_to_py(reinterpret_cast<const u8*>(r.data()), r.size(), e.vr, h.syntax.little || (e.tag >> 16) == 2);
    }
    vrs[tag] = vr_name(e.vr);
    ranges[tag] = py::make_tuple(e.value_offset, e.length);
  }
  d["values"] = values;
  d["vrs"] = vrs;
  d["ranges"] = ranges;
  const PixelInfo& px = h.pixels;
  if (!px.present) {
    d["pixels"] = py::none();
  } else {
    py::dict x;
    x["tag"] = px.tag;
    x["vr"] = vr_name(px.vr);
    x["header_offset"] = px.header_offset;
    x["offset"] = px.value_offset;
    x["length"] = px.length;
    x["available"] = px.available;
    x["truncated"] = px.truncated;
    x["encapsulated"] = px.encapsulated;
    x["undefined_length"] = px.undefined_length;
    x["basic_offsets"] = vec_array<u32>(px.basic_offsets);
    x["fragments"] = ranges_array(px.fragments);
    x["frame_ranges"] = ranges_array(px.frame_ranges);
    std::vector<std::int64_t> fi(px.frame_index.begin(), px.frame_index.end());
    x["frame_index"] = vec_array<std::int64_t>(fi);
    x["frame_note"] = px.frame_note;
    d["pixels"] = x;
  }
  return std::move(d);
}

ParseOptions make_opts(bool want_pixels, bool dataset_only, bool explicit_vr, bool little) {
  ParseOptions o;
  o.want_pixels = want_pixels;
  o.dataset_only = dataset_only;
  o.syntax.explicit_vr = explicit_vr;
  o.syntax.little = little;
  return o;
}

py::object parse_buffer_py(py::buffer buf, const std::vector<std::pair<u32, std::string>>& tags, bool want_pixels,
                           bool dataset_only, bool explicit_vr, bool little) {
  py::buffer_info info = buf.request();
  if (info.ndim > 1 && !(info.strides.empty())) {
    // Only contiguous byte buffers are accepted; numpy arrays are viewed as bytes below.
  }
  const u64 size = static_cast<u64>(info.size) * static_cast<u64>(info.itemsize);
  const auto req = to_requests(tags);
  const ParseOptions opts = make_opts(want_pixels, dataset_only, explicit_vr, little);
  Parsed p;
  {
    py::gil_scoped_release release;
    parse_into(p, static_cast<const u8*>(info.ptr), size, req, opts);
  }
  return to_python(p);
}

py::object parse_file_py(const std::string& path, const std::vector<std::pair<u32, std::string>>& tags,
                         bool want_pixels) {
  const auto req = to_requests(tags);
  const ParseOptions opts = make_opts(want_pixels, false, true, true);
  Parsed p;
  {
    py::gil_scoped_release release;
    parse_path(p, path, req, opts);
  }
  return to_python(p);
}

py::list parse_files_py(const std::vector<std::string>& paths, const std::vector<std::pair<u32, std::string>>& tags,
                        bool want_pixels, int threads) {
  const auto req = to_requests(tags);
  const ParseOptions opts = make_opts(want_pixels, false, true, true);
  std::vector<Parsed> out(paths.size());
  {
    py::gil_scoped_release release;
    parallel_for(static_cast<std::int64_t>(paths.size()), 1, threads, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) parse_path(out[i], paths[i], req, opts);
    });
  }
  py::list l(paths.size());
  for (size_t i = 0; i < out.size(); ++i) l[i] = to_python(out[i]);
  return l;
}

}  // namespace

void bind_dicom(py::module_& m) {
  m.def("dicom_parse", &parse_buffer_py, py::arg("buffer"), py::arg("tags"), py::arg("want_pixels") = true,
        py::arg("dataset_only") = false, py::arg("explicit_vr") = true, py::arg("little_endian") = true,
        "Parse a DICOM buffer. Returns a dict, or (kind, offset, reason) on bad input.");
  m.def("dicom_parse_file", &parse_file_py, py::arg("path"), py::arg("tags"), py::arg("want_pixels") = true,
        "Parse a DICOM file through a memory map. Returns a dict, or (kind, offset, reason); kind 3 is an "
        "I/O error with offset = errno.");
  m.def("dicom_parse_files", &parse_files_py, py::arg("paths"), py::arg("tags"), py::arg("want_pixels") = true,
        py::arg("threads") = 0, "Parse many files in the native thread pool; one result per path.");
  bind_dicom_facts(m);
}

}  // namespace fm
