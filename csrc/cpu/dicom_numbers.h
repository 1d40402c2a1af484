// Decimal strings (DS / IS values) -> numbers, exactly as Python's float() reads them.
//
// One parser for every place that turns DICOM decimal text into numbers (the header
// values given to Python and the index's slice facts), so both agree with each other and
// with float() on the same text: whitespace around the number, '+'/'-' signs, exponents,
// '_' between digits, "inf"/"infinity"/"nan" in any case; hexadecimal and anything else
// float() refuses is refused. Locale-independent (std::from_chars), correctly rounded.
#pragma once

#include <cstddef>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

// Parses `p[0:n)` (Latin-1 bytes) as Python's float() would. Returns false when float()
// would raise ValueError; then *out is left unchanged.
bool parse_py_float(const char* p, size_t n, double* out);

// Parses an optional sign and ASCII digits only (surrounding whitespace allowed) into an
// int64 without rounding. Returns false for anything else or on overflow.
bool parse_int_literal(const char* p, size_t n, i64* out);

}  // namespace dicom
}  // namespace fm
