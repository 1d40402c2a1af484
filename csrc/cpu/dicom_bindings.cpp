// Bindings of the dicom subsystem (filled in by its issue).
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace fm {
void bind_dicom(pybind11::module_& /*m*/) {}
}  // namespace fm
