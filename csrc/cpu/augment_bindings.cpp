// Bindings of the augment subsystem (filled in by its issue).
#include <pybind11/pybind11.h>

#include "bindings.h"

namespace fm {
void bind_augment(pybind11::module_& /*m*/) {}
}  // namespace fm
