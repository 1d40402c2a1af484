#include <pybind11/pybind11.h>

#include "bindings.h"
#include "thread_pool.h"

namespace py = pybind11;

namespace fm {
void bind_runtime(py::module_& m) {
  m.def("set_num_threads", &set_num_threads, py::arg("n"),
        "Set the native thread pool size (<= 0: hardware concurrency).");
  m.def("get_num_threads", &get_num_threads, "The native thread pool size.");
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
