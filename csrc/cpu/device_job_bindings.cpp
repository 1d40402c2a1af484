// What the GPU backend needs from the host compiler: the layout of fm::DeviceJob
// (fastmed/backends/cuda_jobs.py packs the same struct as a numpy structured dtype
// and its tests compare against these numbers, so a drift fails on a CPU), the blur
// weights of fastmed/blur.h, and a CPU run of a packed job table (augment_voxel over
// raw bytes), which checks the packing end to end without a GPU.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "bindings.h"
#include "fastmed/augment.h"
#include "fastmed/blur.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
namespace {

// The table is copied byte for byte to the device: no vtable, no padding surprises
// from non-standard layout, no constructor to run.
static_assert(std::is_standard_layout<DeviceJob>::value, "DeviceJob must be standard layout");
static_assert(std::is_trivially_copyable<DeviceJob>::value, "DeviceJob must be trivially copyable");
static_assert(alignof(DeviceJob) == 8, "DeviceJob must be 8-byte aligned (pointers and i64 first)");
static_assert(sizeof(DeviceJob) % 8 == 0, "DeviceJob size must be a multiple of its alignment");

#define FM_FIELD(name) d[#name] = py::int_(offsetof(DeviceJob, name))

py::dict device_job_layout() {
  py::dict d;
  FM_FIELD(src);
  FM_FIELD(out);
  FM_FIELD(grid);
  FM_FIELD(ops);
  FM_FIELD(params);
  FM_FIELD(src_shape);
  FM_FIELD(src_stride);
  FM_FIELD(out_shape);
  FM_FIELD(gshape);
  FM_FIELD(vol_shape);
  FM_FIELD(origin);
  FM_FIELD(n_ops);
  FM_FIELD(m);
  FM_FIELD(ginv);
  FM_FIELD(cval);
  FM_FIELD(key);
  FM_FIELD(index);
  FM_FIELD(src_dtype);
  FM_FIELD(out_kind);
  FM_FIELD(interp);
  FM_FIELD(pad_mode);
  py::dict out;
  out["size"] = py::int_(sizeof(DeviceJob));
  out["align"] = py::int_(alignof(DeviceJob));
  out["offsets"] = d;
  return out;
}

#undef FM_FIELD

py::array_t<float> py_blur_weights(double sigma, double truncate) {
  if (!(sigma > 0.0) || sigma > 1024.0) throw std::invalid_argument("sigma must be in (0, 1024]");
  if (!(truncate > 0.0) || truncate > 64.0) throw std::invalid_argument("truncate must be in (0, 64]");
  const i64 radius = blur_radius(sigma, truncate);
  py::array_t<float> w(static_cast<py::ssize_t>(2 * radius + 1));
  blur_weights(sigma, radius, w.mutable_data());
  return w;
}

// Runs augment_voxel over every job of a packed table whose pointers are HOST
// addresses (numpy arrays the caller keeps alive). A test hook, bound only under
// FASTMED_TESTING=1: the pointers are trusted, only the table's shape, the enum
// fields, the extents and the values later cast to integers are checked.
void run_packed_jobs(const py::array& table, int threads) {
  if (!(table.flags() & py::array::c_style) || table.itemsize() != static_cast<py::ssize_t>(sizeof(DeviceJob))) {
    throw std::invalid_argument("job table must be a C-contiguous array of DeviceJob records");
  }
  const auto n = static_cast<size_t>(table.size());
  std::vector<DeviceJob> jobs(n);
  if (n > 0) std::memcpy(jobs.data(), table.data(), n * sizeof(DeviceJob));
  for (const DeviceJob& j : jobs) {
    if (j.src == nullptr || j.out == nullptr) throw std::invalid_argument("job has a null array pointer");
    if (j.n_ops > 0 && (j.ops == nullptr || j.params == nullptr)) throw std::invalid_argument("job program is null");
    if (j.src_dtype < kDevU8 || j.src_dtype > kDevF32) throw std::invalid_argument("job src_dtype out of range");
    if (j.out_kind < kDevOutF32 || j.out_kind > kDevOutSame) throw std::invalid_argument("job out_kind out of range");
    if (j.interp < 0 || j.interp > 1 || j.pad_mode < 0 || j.pad_mode > 2) {
      throw std::invalid_argument("job interp or pad_mode out of range");
    }
    for (int k = 0; k < 4; ++k) {
      if (j.out_shape[k] <= 0 || j.src_shape[k] <= 0) throw std::invalid_argument("job has an empty axis");
    }
    for (int k = 0; k < 3; ++k) {
      if (j.origin[k] < 0 || j.vol_shape[k] <= 0 || j.src_shape[k + 1] > j.vol_shape[k] - j.origin[k]) {
        throw std::invalid_argument("job window is not inside its volume");
      }
    }
    if (j.grid != nullptr) {
      for (int k = 0; k < 3; ++k) {
        if (j.gshape[k] <= 0) throw std::invalid_argument("job elastic grid has an empty axis");
        if (!std::isfinite(j.ginv[k]) || j.ginv[k] < 0.0f) throw std::invalid_argument("job grid_inv not finite");
      }
    }
    for (float v : j.m) {
      if (!std::isfinite(v)) throw std::invalid_argument("job matrix has a non-finite value");
    }
  }
  py::gil_scoped_release release;
  for (const DeviceJob& j : jobs) {
    const i64 nv = j.out_shape[1] * j.out_shape[2] * j.out_shape[3];
    parallel_for(nv, 4096, threads, [&](i64 b, i64 e) {
      for (i64 v = b; v < e; ++v) augment_voxel(j, v);
    });
  }
}

}  // namespace

void bind_device_job(py::module_& m) {
  m.def("device_job_layout", &device_job_layout,
        "sizeof, alignof and field offsets of fm::DeviceJob as the host compiler lays it out.");
  m.def("blur_weights", &py_blur_weights, py::arg("sigma"), py::arg("truncate") = 4.0,
        "The float32 Gaussian weights of fastmed/blur.h (2 * radius + 1 values).");
  // The hook turns integers from Python into pointers: it exists only in a process that
  // imported fastmed._core with FASTMED_TESTING=1 (the test suite), never in a user's.
  const char* testing = std::getenv("FASTMED_TESTING");
  if (testing != nullptr && std::strcmp(testing, "1") == 0) {
    m.def("_augment_packed_jobs", &run_packed_jobs, py::arg("table"), py::arg("threads") = 0,
          "Test hook (FASTMED_TESTING=1 only): run a packed DeviceJob table (host pointers) through "
          "augment_voxel on the CPU.");
  }
}

}  // namespace fm
