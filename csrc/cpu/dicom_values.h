// Conversion of raw DICOM element values to Python objects (needs the GIL).
#pragma once

#include <pybind11/pybind11.h>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

// Strings (split on '\\', padding stripped), numbers (scalar or list), IS -> int,
// DS -> float, binary VRs -> bytes. Empty values give None.
pybind11::object value_to_py(const u8* p, u64 n, u16 vr, bool little);

std::string vr_name(u16 vr);

}  // namespace dicom
}  // namespace fm
