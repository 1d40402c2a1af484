#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <stdexcept>

#include "bindings.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
void bind_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Set the native thread pool size (<= 0: hardware concurrency).");
  m.def("get_num_threads", &get_num_threads, "The native thread pool size.");
  m.def("default_num_threads", &default_num_threads,
        "CPUs usable by this process: affinity mask, cgroup quota, LOCAL_WORLD_SIZE, FASTMED_NUM_THREADS.");
  m.def("fork_resets", &fork_resets, "How often this process dropped a pool inherited through fork.");
  m.def(
      "parallel_calls",
      [](const py::function& fn, std::int64_t n, int threads) {
        // fn(k) for k in [0, n) on the native pool. fn must not raise (the Python
        // wrapper catches and returns errors): exceptions crossing threads would
        // carry Python objects without the GIL.
        if (n < 0) throw py::value_error("parallel_calls: n must be >= 0");
        std::atomic<bool> failed{false};
        {
          py::gil_scoped_release release;
          parallel_for(n, 1, threads, [&](std::int64_t b, std::int64_t e) {
            py::gil_scoped_acquire acquire;
            for (std::int64_t k = b; k < e; ++k) {
              try {
                fn(k);
              } catch (py::error_already_set& err) {
                err.discard_as_unraisable("fastmed parallel_calls");
                failed.store(true);
              }
            }
          });
        }
        if (failed.load()) throw std::runtime_error("parallel_calls: a call raised (see the unraisable hook)");
      },
      py::arg("fn"), py::arg("n"), py::arg("threads") = 0,
      "Call fn(k) for k in range(n) on the native pool (GIL taken per call, released between).");
  m.def(
      "build_info",
      [] {
        py::dict d;
        d["cxx_standard"] = __cplusplus;
#if defined(__VERSION__)
        d["compiler"] = __VERSION__;
#endif
#if defined(__OPTIMIZE__)
        d["optimized"] = true;
#else
        d["optimized"] = false;
#endif
        return d;
      },
      "Compiler and flags the extension was built with.");
}
}  // namespace fm
