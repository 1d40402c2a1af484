// Registration hooks: each subsystem's binding file defines one of these.
#pragma once

#include <pybind11/pybind11.h>

namespace fm {
void bind_runtime(pybind11::module_& m);  // runtime_bindings.cpp: threads, build info
void bind_rng(pybind11::module_& m);      // rng_bindings.cpp
void bind_dicom(pybind11::module_& m);    // dicom_bindings.cpp
void bind_dicom_facts(pybind11::module_& m);  // dicom_facts_bindings.cpp (called by bind_dicom)
void bind_augment(pybind11::module_& m);  // augment_bindings.cpp
void bind_device_job(pybind11::module_& m);  // device_job_bindings.cpp: GPU job layout, blur weights
void bind_rle(pybind11::module_& m);  // rle_bindings.cpp: batch RLE Lossless decode
void bind_store(pybind11::module_& m);  // store_bindings.cpp: store window reads, crc32c
}  // namespace fm
