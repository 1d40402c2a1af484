// Checks on everything the augmentation entry points receive, before any kernel runs.
//
// The kernels (augment_kernel.cpp, augment_passes.cpp, fastmed/augment.h) trust their
// jobs: array extents, the elastic grid's shape, finite coordinates and parameters
// that are later cast to integers, an integer output's padding value. Whatever the
// Python side did, the bindings run these checks first and refuse with an
// ArgumentError, which Python sees as fastmed.errors.KernelArgumentError (a
// TransformError and a ValueError).
#pragma once

#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "augment_cpu.h"

namespace fm {
namespace aug {

// A refused argument; the message names the field and the reason.
struct ArgumentError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Source coordinates beyond this (in voxels, either sign) are refused: anything that far
// is padding for every possible source, and it keeps every float-to-int cast defined.
constexpr double kMaxCoord = 1073741824.0;  // 2^30

// a * b for non-negative sizes, refused on 64-bit overflow.
i64 checked_mul(i64 a, i64 b, const std::string& what);

// Byte offsets [lo, hi) an (already parsed) array touches relative to its data pointer;
// refuses empty axes and sizes that overflow 64 bits.
void array_byte_span(const ArrayRef& a, i64 itemsize, const std::string& what, i64* lo, i64* hi);

// The whole job: extents and layouts, output kind against dtypes, padding value,
// matrix and elastic grid (finite, consistent, bounded coordinates) and the program.
// `out_itemsize` / `src_itemsize` are the numpy item sizes; `grid_size` the number of
// floats behind map.grid (3 * gz * gy * gx) or 0; `n_params` the length of the program's
// parameter array.
void check_job(const Job& j, i64 src_itemsize, i64 out_itemsize, i64 grid_size, i64 n_params,
               const std::string& where);

// A program's layout and parameters: opcodes known, offsets inside `n_params`, values
// finite (clip bounds may be infinite, never NaN), the bias-field order a small integer.
void check_program(const ProgramView& p, i64 n_params, const std::string& where);

// Registers the translation ArgumentError -> fastmed.errors.KernelArgumentError
// (ValueError when fastmed.errors cannot be imported).
void register_argument_error();

}  // namespace aug
}  // namespace fm
