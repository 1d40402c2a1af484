// Bindings of the slice facts: many files (or inflated datasets) in the native thread
// pool with the GIL released, handed back as columns (numpy arrays and string lists)
// so Python touches each file once, with no per-value dict.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <structmember.h>

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "dicom_facts.h"
#include "zlib_inflate.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
namespace {

using namespace fm::dicom;

py::object owned(PyObject* o) {
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

// Latin-1 strings for one column; consecutive equal values (slices of one series) share
// one Python object, which also spares Python re-hashing them.
py::list text_column(const std::vector<SliceFacts>& facts, std::string SliceFacts::*field) {
  py::list out(facts.size());
  py::object last;
  const std::string* last_s = nullptr;
  for (size_t i = 0; i < facts.size(); ++i) {
    const std::string& s = facts[i].*field;
    if (!last_s || *last_s != s) {
      PyObject* o = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
      if (!o) throw py::error_already_set();
      last = py::reinterpret_steal<py::object>(o);
      last_s = &s;
    }
    out[i] = last;
  }
  return out;
}

py::dict to_columns(const std::vector<SliceFacts>& facts, bool with_stat) {
  const auto n = static_cast<py::ssize_t>(facts.size());
  py::array_t<std::uint8_t> status(n);
  py::array_t<double> num({n, static_cast<py::ssize_t>(kNumFacts)});
  py::array_t<std::uint32_t> mask(n);
  auto st = status.mutable_unchecked<1>();
  auto nm = num.mutable_unchecked<2>();
  auto mk = mask.mutable_unchecked<1>();
  py::dict errors, offsets;
  for (py::ssize_t i = 0; i < n; ++i) {
    const SliceFacts& f = facts[static_cast<size_t>(i)];
    st(i) = f.status;
    mk(i) = f.mask;
    for (int k = 0; k < kNumFacts; ++k) nm(i, k) = f.num[k];
    if (f.status == kFactsError) errors[py::int_(i)] = py::make_tuple(f.err_kind, f.err_offset, f.reason);
    if (f.status == kFactsDeflated) offsets[py::int_(i)] = py::int_(f.dataset_offset);
  }
  py::dict d;
  d["status"] = status;
  d["num"] = num;
  d["mask"] = mask;
  d["series_uid"] = text_column(facts, &SliceFacts::series_uid);
  d["study_uid"] = text_column(facts, &SliceFacts::study_uid);
  d["modality"] = text_column(facts, &SliceFacts::modality);
  d["image_type"] = text_column(facts, &SliceFacts::image_type);
  d["transfer_syntax"] = text_column(facts, &SliceFacts::transfer_syntax);
  d["errors"] = errors;
  d["dataset_offset"] = offsets;
  if (with_stat) {
    py::array_t<std::int64_t> size(n), mtime(n);
    auto sz = size.mutable_unchecked<1>();
    auto mt = mtime.mutable_unchecked<1>();
    for (py::ssize_t i = 0; i < n; ++i) {
      sz(i) = static_cast<std::int64_t>(facts[static_cast<size_t>(i)].stat.size);
      mt(i) = facts[static_cast<size_t>(i)].stat.mtime_ns;
    }
    d["size"] = size;
    d["mtime_ns"] = mtime;
  }
  return d;
}

// File system bytes of each path (str encoded as os.fsencode does, so names that are not
// UTF-8 survive; bytes and os.PathLike accepted too).
std::vector<std::string> fs_paths(const py::sequence& seq) {
  std::vector<std::string> out;
  out.reserve(seq.size());
  for (const py::handle& item : seq) {
    py::object p = owned(PyOS_FSPath(item.ptr()));
    if (PyUnicode_Check(p.ptr())) p = owned(PyUnicode_EncodeFSDefault(p.ptr()));
    char* data = nullptr;
    Py_ssize_t n = 0;
    if (PyBytes_AsStringAndSize(p.ptr(), &data, &n) != 0) throw py::error_already_set();
    out.emplace_back(data, static_cast<size_t>(n));
  }
  return out;
}

py::dict slice_facts_files(const py::sequence& path_objs, int threads, std::int64_t prefix_bytes, bool inflate) {
  const std::vector<std::string> paths = fs_paths(path_objs);
  std::vector<SliceFacts> out(paths.size());
  const u64 prefix = prefix_bytes > 0 ? static_cast<u64>(prefix_bytes) : 0;
  {
    py::gil_scoped_release release;
    parallel_for(static_cast<std::int64_t>(paths.size()), 16, threads, [&](std::int64_t b, std::int64_t e) {
      std::vector<u8> scratch;  // one read buffer per chunk, reused for its files
      for (std::int64_t i = b; i < e; ++i) file_slice_facts(paths[i], prefix, inflate, scratch, out[i]);
    });
  }
  return to_columns(out, true);
}

py::dict slice_facts_buffers(const std::vector<py::bytes>& buffers, const std::vector<bool>& partial, int threads) {
  if (partial.size() != buffers.size()) throw py::value_error("partial must have one flag per buffer");
  std::vector<std::pair<const u8*, u64>> views;
  views.reserve(buffers.size());
  for (const py::bytes& b : buffers) {
    char* p = nullptr;
    Py_ssize_t n = 0;
    if (PyBytes_AsStringAndSize(b.ptr(), &p, &n) != 0) throw py::error_already_set();
    views.emplace_back(reinterpret_cast<const u8*>(p), static_cast<u64>(n));
  }
  std::vector<SliceFacts> out(buffers.size());
  ParseOptions opts;
  opts.want_pixels = false;
  opts.map_frames = false;
  opts.dataset_only = true;  // an inflated Deflated Explicit VR Little Endian dataset
  opts.syntax.explicit_vr = true;
  opts.syntax.little = true;
  {
    py::gil_scoped_release release;
    parallel_for(static_cast<std::int64_t>(views.size()), 4, threads, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) {
        SliceFacts& f = out[i];
        try {
          slice_facts(views[i].first, views[i].second, partial[i], opts, f);
        } catch (const Error& err) {
          f.status = kFactsError;
          f.err_kind = static_cast<int>(err.kind());
          f.err_offset = err.offset();
          f.reason = err.what();
        }
      }
    });
  }
  return to_columns(out, false);
}

// SliceInfo fields in the order set below (fastmed/dicom/slice_columns.py checks the class has
// exactly these).
const char* const kSliceFields[] = {"path",          "series_uid",        "rows",
                                    "columns",       "pixel_spacing",     "orientation",
                                    "position",      "frame",             "frames",
                                    "rescale_slope", "rescale_intercept", "instance_number",
                                    "acquisition_number", "image_type",   "modality",
                                    "transfer_syntax", "slice_thickness", "gantry_tilt",
                                    "samples_per_pixel"};
constexpr int kNumSliceFields = sizeof(kSliceFields) / sizeof(kSliceFields[0]);

py::object float_tuple(const double* v, int n) {
  py::object t = owned(PyTuple_New(n));
  for (int i = 0; i < n; ++i) PyTuple_SET_ITEM(t.ptr(), i, owned(PyFloat_FromDouble(v[i])).release().ptr());
  return t;
}

// ImageType components, split as the header path splits them.
py::object split_tuple(const py::handle& s) {
  py::str str = py::reinterpret_borrow<py::str>(s);
  if (PyUnicode_GET_LENGTH(str.ptr()) == 0) return owned(PyTuple_New(0));
  py::object parts = owned(PyUnicode_Split(str.ptr(), py::str("\\").ptr(), -1));
  return owned(PyList_AsTuple(parts.ptr()));
}

// Records of the files whose status is Ok, built with the class's slot descriptors (as the
// frozen dataclass's own __init__ does, through object.__setattr__), without running Python
// per field. Other files get None.
py::list make_slice_infos(py::type cls, const std::vector<py::object>& paths, const py::dict& cols,
                          const py::object& uid_map) {
  std::vector<py::object> descr(kNumSliceFields);
  for (int k = 0; k < kNumSliceFields; ++k) {
    descr[k] = cls.attr(kSliceFields[k]);
    if (Py_TYPE(descr[k].ptr()) != &PyMemberDescr_Type) throw py::type_error("not a slotted SliceInfo class");
  }
  auto status = cols["status"].cast<py::array_t<std::uint8_t>>().unchecked<1>();
  auto num = cols["num"].cast<py::array_t<double>>().unchecked<2>();
  auto mask = cols["mask"].cast<py::array_t<std::uint32_t>>().unchecked<1>();
  py::list uids = cols["series_uid"], mods = cols["modality"], types = cols["image_type"], tss = cols["transfer_syntax"];
  const auto n = static_cast<py::ssize_t>(paths.size());
  if (status.shape(0) != n || num.shape(1) != kNumFacts) throw py::value_error("columns do not match the paths");
  py::list out(n);
  py::object empty_args = owned(PyTuple_New(0));
  py::object zero = py::int_(0);
  py::handle last_type_str;
  py::object last_type;
  py::handle last_uid;
  py::object last_id;
  for (py::ssize_t i = 0; i < n; ++i) {
    if (status(i) != kFactsOk) {
      out[i] = py::none();
      continue;
    }
    const double* r = num.data(i, 0);
    const std::uint32_t m = mask(i);
    py::handle uid = uids[i];
    if (!uid_map.is_none() && !(last_uid && last_uid.ptr() == uid.ptr())) {
      last_id = uid_map[uid];
      last_uid = uid;
    }
    py::handle t = types[i];
    if (!(last_type_str && (last_type_str.ptr() == t.ptr() || last_type_str.equal(t)))) {
      last_type = split_tuple(t);
      last_type_str = t;
    }
    auto opt_int = [&](int col, std::uint32_t bit) -> py::object {
      return (m & bit) ? owned(PyLong_FromDouble(r[col])) : py::none();
    };
    auto opt_float = [&](int col, std::uint32_t bit) -> py::object {
      return (m & bit) ? owned(PyFloat_FromDouble(r[col])) : py::none();
    };
    py::object values[kNumSliceFields] = {
        paths[static_cast<size_t>(i)],
        uid_map.is_none() ? py::reinterpret_borrow<py::object>(uid) : last_id,
        owned(PyLong_FromDouble(r[kRows])),
        owned(PyLong_FromDouble(r[kColumns])),
        (m & kHasPixelSpacing) ? float_tuple(r + kPixelSpacing, 2) : py::none(),
        (m & kHasOrientation) ? float_tuple(r + kOrientation, 6) : py::none(),
        (m & kHasPosition) ? float_tuple(r + kPosition, 3) : py::none(),
        zero,
        owned(PyLong_FromDouble(r[kFrames])),
        owned(PyFloat_FromDouble(r[kSlope])),
        owned(PyFloat_FromDouble(r[kIntercept])),
        opt_int(kInstance, kHasInstance),
        opt_int(kAcquisition, kHasAcquisition),
        last_type,
        py::reinterpret_borrow<py::object>(mods[i]),
        py::reinterpret_borrow<py::object>(tss[i]),
        opt_float(kThickness, kHasThickness),
        opt_float(kTilt, kHasTilt),
        owned(PyLong_FromDouble(r[kSamples])),
    };
    py::object obj = owned(PyBaseObject_Type.tp_new(reinterpret_cast<PyTypeObject*>(cls.ptr()), empty_args.ptr(), nullptr));
    for (int k = 0; k < kNumSliceFields; ++k) {
      if (Py_TYPE(descr[k].ptr())->tp_descr_set(descr[k].ptr(), obj.ptr(), values[k].ptr()) != 0)
        throw py::error_already_set();
    }
    py::list one(1);
    one[0] = obj;
    out[i] = one;
  }
  return out;
}

}  // namespace

void bind_dicom_facts(py::module_& m) {
  m.def("dicom_make_slice_infos", &make_slice_infos, py::arg("cls"), py::arg("paths"), py::arg("columns"),
        py::arg("uid_map") = py::none(),
        "[record] for every Ok file of dicom_slice_facts columns (None for the others); uid_map maps "
        "SeriesInstanceUID to what the records hold.");
  m.def("dicom_slice_facts", &slice_facts_files, py::arg("paths"), py::arg("threads") = 0,
        py::arg("prefix_bytes") = 16384, py::arg("inflate") = true,
        "Slice facts (geometry and grouping values) of many files, parsed in the native thread pool. "
        "Returns columns: status (uint8), num (float64, n x 21), mask (uint32), series_uid, study_uid, modality, "
        "image_type, transfer_syntax (lists of str), errors {i: (kind, offset, reason)}, dataset_offset "
        "{i: offset} for deflated files, size and mtime_ns (int64). prefix_bytes: bytes read with one pread "
        "before falling back to a memory map of the whole file (0: always map). inflate: read deflated datasets "
        "natively (when zlib is available; else they come back with status 2 for the caller to inflate).");
  m.def("dicom_native_inflate", &Inflater::available, "Whether deflated datasets are inflated natively.");
  m.def("dicom_slice_facts_buffers", &slice_facts_buffers, py::arg("buffers"), py::arg("partial"),
        py::arg("threads") = 0,
        "Slice facts of inflated datasets (explicit VR little endian, no file meta). partial[i]: the bytes "
        "are only the start of the dataset (status 5 asks for more when the header goes on).");
}

}  // namespace fm
