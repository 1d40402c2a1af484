// Python bindings of the fused augmentation kernel and its patch passes.
//
// A job is a dict of plain arrays built by fastmed/backends/cpu.py from a plan;
// everything is validated here under the GIL, then the work runs with the GIL
// released. One call runs a whole batch.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "augment_cpu.h"
#include "augment_validate.h"
#include "bindings.h"
#include "fastmed/augment.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
namespace {

using aug::ArrayRef;
using aug::DType;

using ArgError = aug::ArgumentError;

DType dtype_of(const py::array& a, const std::string& what) {
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  if (size > 1 && !dt.attr("isnative").cast<bool>()) throw ArgError(what + " must be in native byte order");
  if (kind == 'u' && size == 1) return DType::kU8;
  if (kind == 'b' && size == 1) return DType::kU8;
  if (kind == 'i' && size == 2) return DType::kI16;
  if (kind == 'u' && size == 2) return DType::kU16;
  if (kind == 'i' && size == 4) return DType::kI32;
  if (kind == 'f' && size == 4) return DType::kF32;
  if (kind == 'f' && size == 2) return DType::kF16;
  throw ArgError(what + ": unsupported dtype " + std::string(py::str(dt)) +
                 " (uint8, int16, uint16, int32, float32)");
}

ArrayRef array_ref(py::array& a, bool writable, const std::string& what) {
  if (a.ndim() != 4) throw ArgError(what + " must be 4-D (C, D, H, W)");
  if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) throw ArgError(what + " is not aligned");
  if (writable && !a.writeable()) throw ArgError(what + " is read-only");
  ArrayRef r;
  r.dtype = dtype_of(a, what);
  r.data = writable ? a.mutable_data() : const_cast<void*>(a.data());
  const auto item = static_cast<i64>(a.itemsize());
  for (int k = 0; k < 4; ++k) {
    r.shape[k] = static_cast<i64>(a.shape(k));
    const auto s = static_cast<i64>(a.strides(k));
    if (s % item != 0) throw ArgError(what + " has unaligned strides");
    r.stride[k] = s / item;
    if (r.shape[k] <= 0) throw ArgError(what + " has an empty axis");
  }
  return r;
}

using I32Array = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>;
using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Checks a program's layout and values and returns a view into the (kept alive) arrays.
ProgramView program_view(const I32Array& ops, const F32Array& params, u32 key0, u32 key1, u32 index,
                         const std::string& where) {
  if (ops.size() > 0 && (ops.ndim() != 2 || ops.shape(1) != 4)) {
    throw ArgError(where + ": program ops must have shape (n, 4)");
  }
  ProgramView p{};
  p.ops = ops.data();
  p.n_ops = static_cast<i64>(ops.size()) / 4;
  p.params = params.data();
  p.key[0] = key0;
  p.key[1] = key1;
  p.index = index;
  aug::check_program(p, static_cast<i64>(params.size()), where);
  return p;
}

// d[name] as T, or an ArgumentError naming the job and the field.
template <typename T>
T field(const py::dict& d, const char* name, const std::string& where) {
  if (!d.contains(name)) throw ArgError(where + ": missing field '" + name + "'");
  try {
    return d[name].cast<T>();
  } catch (const py::cast_error&) {
  } catch (const py::error_already_set&) {
  }
  throw ArgError(where + ": field '" + name + "' has the wrong type or is out of range");
}

py::array ndarray_field(const py::dict& d, const char* name, const std::string& where) {
  if (!d.contains(name) || !py::isinstance<py::array>(d[name])) {
    throw ArgError(where + ": field '" + name + "' must be a numpy array");
  }
  return py::reinterpret_borrow<py::array>(d[name]);
}

// Validates job dicts; `keep` holds every array a job points into.
std::vector<aug::Job> parse_jobs(const py::list& jobs_in, std::vector<py::object>& keep) {
  std::vector<aug::Job> jobs;
  jobs.reserve(jobs_in.size());
  for (size_t n = 0; n < jobs_in.size(); ++n) {
    const std::string where = "job " + std::to_string(n);
    py::handle h = jobs_in[n];
    if (!py::isinstance<py::dict>(h)) throw ArgError(where + " must be a dict");
    py::dict d = py::reinterpret_borrow<py::dict>(h);
    aug::Job j;
    py::array src = ndarray_field(d, "src", where);
    py::array out = ndarray_field(d, "out", where);
    keep.push_back(src);
    keep.push_back(out);
    j.src = array_ref(src, false, where + ": source");
    j.out = array_ref(out, true, where + ": output");
    if (!(out.flags() & py::array::c_style)) throw ArgError(where + ": output must be C-contiguous");
    const std::string kind = field<std::string>(d, "out_dtype", where);
    if (kind == "bfloat16") {
      if (out.itemsize() != 2) throw ArgError(where + ": bfloat16 output needs a 2-byte array");
      j.out.dtype = DType::kBF16;
    } else if (kind == "float32" || kind == "float16") {
      if (j.out.dtype != (kind == "float32" ? DType::kF32 : DType::kF16)) {
        throw ArgError(where + ": out_dtype '" + kind + "' does not match the output array's dtype");
      }
    } else if (kind == "same") {
      if (j.out.dtype != j.src.dtype || out.itemsize() != src.itemsize()) {
        throw ArgError(where + ": out_dtype 'same' needs an output of the source dtype");
      }
    } else {
      throw ArgError(where + ": out_dtype must be float32, float16, bfloat16 or same, got '" + kind + "'");
    }
    // The window: "volume" (z, y, x extents) and "origin" (its first voxel); absent, the
    // source is the whole volume.
    for (int k = 0; k < 3; ++k) j.vol[k] = j.src.shape[k + 1];
    if (d.contains("volume") && !d["volume"].is_none()) {
      auto vol = field<std::vector<i64>>(d, "volume", where);
      auto org = field<std::vector<i64>>(d, "origin", where);
      if (vol.size() != 3 || org.size() != 3) throw ArgError(where + ": volume and origin must have 3 values");
      for (int k = 0; k < 3; ++k) {
        j.vol[k] = vol[k];
        j.origin[k] = org[k];
      }
    }
    auto m = field<F32Array>(d, "matrix", where);
    keep.push_back(m);
    if (m.size() != 12) throw ArgError(where + ": matrix must be 3x4");
    for (int k = 0; k < 12; ++k) j.map.m[k] = m.data()[k];
    j.map.grid = nullptr;
    i64 grid_size = 0;
    if (!d.contains("grid")) throw ArgError(where + ": missing field 'grid'");
    if (!d["grid"].is_none()) {
      auto grid = field<F32Array>(d, "grid", where);
      keep.push_back(grid);
      if (grid.ndim() != 4 || grid.shape(0) != 3) throw ArgError(where + ": grid must be (3, gz, gy, gx)");
      j.map.grid = grid.data();
      grid_size = static_cast<i64>(grid.size());
      for (int k = 0; k < 3; ++k) j.map.gshape[k] = static_cast<i64>(grid.shape(k + 1));
      auto inv = field<std::vector<float>>(d, "grid_inv", where);
      if (inv.size() != 3) throw ArgError(where + ": grid_inv must have 3 values");
      for (int k = 0; k < 3; ++k) j.map.ginv[k] = inv[k];
    }
    j.interp = field<int>(d, "interp", where);
    j.pad_mode = field<int>(d, "pad_mode", where);
    j.cval = field<float>(d, "cval", where);
    auto ops = field<I32Array>(d, "ops", where);
    auto params = field<F32Array>(d, "params", where);
    keep.push_back(ops);
    keep.push_back(params);
    auto key = field<std::vector<u32>>(d, "key", where);
    if (key.size() != 2) throw ArgError(where + ": key must have 2 words");
    j.program = program_view(ops, params, key[0], key[1], field<u32>(d, "index", where), where);
    aug::check_job(j, static_cast<i64>(src.itemsize()), static_cast<i64>(out.itemsize()), grid_size,
                   static_cast<i64>(params.size()), where);
    jobs.push_back(j);
  }
  return jobs;
}

void run_augment(const py::list& jobs_in, int threads) {
  std::vector<py::object> keep;  // arrays referenced by jobs stay alive while the GIL is released
  const std::vector<aug::Job> jobs = parse_jobs(jobs_in, keep);
  py::gil_scoped_release release;
  aug::run_jobs(jobs, threads);
}

// The GPU kernel's per-voxel code (fastmed/augment.h) run on the CPU: the reference
// the fast row-wise kernel is tested against, and the CPU check of the CUDA math.
void run_augment_reference(const py::list& jobs_in, int threads) {
  std::vector<py::object> keep;
  const std::vector<aug::Job> jobs = parse_jobs(jobs_in, keep);
  std::vector<DeviceJob> dev(jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k) {
    const aug::Job& j = jobs[k];
    DeviceJob& d = dev[k];
    d.src = j.src.data;
    d.out = j.out.data;
    d.grid = j.map.grid;
    d.ops = j.program.ops;
    d.params = j.program.params;
    for (int a = 0; a < 4; ++a) {
      d.src_shape[a] = j.src.shape[a];
      d.src_stride[a] = j.src.stride[a];
      d.out_shape[a] = j.out.shape[a];
    }
    for (int a = 0; a < 3; ++a) {
      d.gshape[a] = j.map.gshape[a];
      d.ginv[a] = j.map.ginv[a];
      d.vol_shape[a] = j.vol[a];
      d.origin[a] = j.origin[a];
    }
    d.n_ops = j.program.n_ops;
    for (int a = 0; a < 12; ++a) d.m[a] = j.map.m[a];
    d.cval = j.cval;
    d.key[0] = j.program.key[0];
    d.key[1] = j.program.key[1];
    d.index = j.program.index;
    d.src_dtype = static_cast<i32>(j.src.dtype);
    d.interp = j.interp;
    d.pad_mode = j.pad_mode;
    switch (j.out.dtype) {
      case DType::kF16:
        d.out_kind = kDevOutF16;
        break;
      case DType::kBF16:
        d.out_kind = kDevOutBF16;
        break;
      case DType::kF32:
        d.out_kind = kDevOutF32;
        break;
      default:
        d.out_kind = kDevOutSame;
    }
  }
  py::gil_scoped_release release;
  for (const DeviceJob& d : dev) {
    const i64 n = d.out_shape[1] * d.out_shape[2] * d.out_shape[3];
    parallel_for(n, 4096, threads, [&](i64 b, i64 e) {
      for (i64 v = b; v < e; ++v) augment_voxel(d, v);
    });
  }
}

// Patches are modified in place, so no conversion may happen: exact dtype and layout.
void check_f32_patch(py::array& a, i64 shape[4]) {
  if (a.ndim() != 4 || !(a.flags() & py::array::c_style) || a.dtype().kind() != 'f' ||
      a.itemsize() != 4 || !a.writeable() || !(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_) ||
      !a.dtype().attr("isnative").cast<bool>()) {
    throw ArgError("patch must be an aligned, writable, C-contiguous native float32 (C, D, H, W) array");
  }
  for (int k = 0; k < 4; ++k) {
    shape[k] = static_cast<i64>(a.shape(k));
    if (shape[k] <= 0) throw ArgError("patch has an empty axis");
  }
}

}  // namespace

void bind_augment(py::module_& m) {
  aug::register_argument_error();
  m.def("augment", &run_augment, py::arg("jobs"), py::arg("threads") = 0,
        "Run fused resample + intensity jobs (a whole batch) in one parallel loop.");
  m.def("augment_reference", &run_augment_reference, py::arg("jobs"), py::arg("threads") = 0,
        "The same jobs through the GPU kernel's per-voxel code (fastmed/augment.h), on the CPU.");
  m.def(
      "apply_program",
      [](py::array patch, const I32Array& ops, const F32Array& params, u32 key0, u32 key1,
         u32 index, bool skip_random, int threads) {
        i64 shape[4];
        check_f32_patch(patch, shape);
        const ProgramView p = program_view(ops, params, key0, key1, index, "apply_program");
        float* data = static_cast<float*>(patch.mutable_data());
        py::gil_scoped_release release;
        aug::apply_program_f32(data, shape, p, skip_random, threads);
      },
      py::arg("patch"), py::arg("ops"), py::arg("params"), py::arg("key0"), py::arg("key1"),
      py::arg("index"), py::arg("skip_random") = false, py::arg("threads") = 0,
      "Run an intensity program in place on a float32 (C, D, H, W) patch.");
  m.def(
      "gaussian_blur",
      [](py::array patch, std::vector<double> sigma, double truncate, int threads) {
        i64 shape[4];
        check_f32_patch(patch, shape);
        if (sigma.size() != 3) throw ArgError("gaussian_blur: sigma must have 3 values (z, y, x)");
        if (!(truncate > 0.0) || truncate > 64.0) throw ArgError("gaussian_blur: truncate must be in (0, 64]");
        for (double s : sigma) {
          if (!(s >= 0.0) || s > 1024.0) throw ArgError("gaussian_blur: sigma must be in [0, 1024]");
        }
        float* data = static_cast<float*>(patch.mutable_data());
        py::gil_scoped_release release;
        aug::gaussian_blur_f32(data, shape, sigma.data(), truncate, threads);
      },
      py::arg("patch"), py::arg("sigma"), py::arg("truncate") = 4.0, py::arg("threads") = 0,
      "Separable Gaussian blur in place (scipy.ndimage.gaussian_filter, mode 'reflect').");
}

}  // namespace fm
