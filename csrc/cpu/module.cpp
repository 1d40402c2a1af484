// The fastmed._core extension: one module, each subsystem registers its names.
#include <pybind11/pybind11.h>

#include "bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastmed native core (C++17): RNG, thread pool, DICOM parser, fused kernels";
  fm::bind_runtime(m);
  fm::bind_rng(m);
  fm::bind_dicom(m);
  fm::bind_augment(m);
  fm::bind_device_job(m);
  fm::bind_rle(m);
  fm::bind_store(m);
}
