// Checks on the augmentation entry points' arguments (see augment_validate.h).
#include "augment_validate.h"

#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <sstream>

namespace py = pybind11;

namespace fm {
namespace aug {
namespace {

[[noreturn]] void refuse(const std::string& where, const std::string& why) {
  throw ArgumentError(where + ": " + why);
}

std::string num(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::kU8:
      return "uint8";
    case DType::kI16:
      return "int16";
    case DType::kU16:
      return "uint16";
    case DType::kI32:
      return "int32";
    case DType::kF32:
      return "float32";
    case DType::kF16:
      return "float16";
    default:
      return "bfloat16";
  }
}

bool is_integer(DType t) {
  return t == DType::kU8 || t == DType::kI16 || t == DType::kU16 || t == DType::kI32;
}

void integer_range(DType t, double* lo, double* hi) {
  switch (t) {
    case DType::kU8:
      *lo = 0.0;
      *hi = 255.0;
      return;
    case DType::kI16:
      *lo = -32768.0;
      *hi = 32767.0;
      return;
    case DType::kU16:
      *lo = 0.0;
      *hi = 65535.0;
      return;
    default:
      *lo = -2147483648.0;
      *hi = 2147483647.0;
      return;
  }
}

// Floats of one op (the generated table of fastmed/opcodes.h); `q` points at its first
// float and `avail` floats follow. A counted op's first float (its count, e.g. the
// bias-field order) is checked before it is cast.
i64 checked_param_count(int code, const float* q, i64 avail, const std::string& where) {
  if (op_param_count(code, 0) < 0 && !op_is_counted(code)) {
    refuse(where, "unknown intensity opcode " + std::to_string(code));
  }
  if (!op_is_counted(code)) return op_param_count(code, 0);
  if (avail < 1) refuse(where, "op " + std::to_string(code) + " has no count parameter");
  const float n = q[0];
  const bool integral = std::isfinite(n) && n == std::floor(n) && std::fabs(n) < 1e6f;
  const i64 need = integral ? op_param_count(code, static_cast<i64>(n)) : -1;
  if (need < 0) {
    const char* what = code == kOpBiasField ? "bias field order" : "op count parameter";
    refuse(where, std::string(what) + " out of range for opcode " + std::to_string(code) + ", got " + num(n));
  }
  return need;
}

void check_map(const SpatialMap& m, const i64 out_shape[4], i64 grid_size, const std::string& where) {
  for (int k = 0; k < 12; ++k) {
    if (!std::isfinite(m.m[k])) refuse(where, "matrix has a non-finite value (NaN or inf) at " + std::to_string(k));
  }
  double gmax[3] = {0.0, 0.0, 0.0};
  if (m.grid != nullptr) {
    i64 n = 3;
    for (int a = 0; a < 3; ++a) {
      if (m.gshape[a] <= 0) refuse(where, "elastic grid axis " + std::to_string(a) + " has length 0");
      n = checked_mul(n, m.gshape[a], where + ": elastic grid size");
    }
    if (n != grid_size) refuse(where, "elastic grid shape does not match its data");
    for (int a = 0; a < 3; ++a) {
      const float inv = m.ginv[a];
      const double span = static_cast<double>(out_shape[a + 1] - 1) * static_cast<double>(inv);
      if (!std::isfinite(inv) || inv < 0.0f || span > kMaxCoord) {
        refuse(where, "grid_inv[" + std::to_string(a) + "] must be finite, >= 0 and keep the grid small, got " +
                          num(inv));
      }
      if (inv > 0.0f && out_shape[a + 1] > 1) {
        // The kernel's own float steps (spatial.h grid_taps): the last output voxel's first
        // tap is f - 1, its last f + 2; one clamped tap is tolerated (float rounding).
        const float g = static_cast<float>(out_shape[a + 1] - 1) * inv + 1.0f;
        const i64 f = static_cast<i64>(std::floor(g));
        if (f + 2 > m.gshape[a]) {
          refuse(where, "elastic grid axis " + std::to_string(a) + " has " + std::to_string(m.gshape[a]) +
                            " nodes, the output needs " + std::to_string(f + 3));
        }
      }
    }
    const i64 plane = grid_size / 3;
    for (int c = 0; c < 3; ++c) {
      const float* g = m.grid + c * plane;
      for (i64 k = 0; k < plane; ++k) {
        if (!std::isfinite(g[k])) refuse(where, "elastic grid has a non-finite value (NaN or inf)");
        gmax[c] = std::fmax(gmax[c], std::fabs(static_cast<double>(g[k])));
      }
    }
  }
  for (int r = 0; r < 3; ++r) {
    double reach = std::fabs(static_cast<double>(m.m[4 * r + 3])) + gmax[r];
    for (int k = 0; k < 3; ++k) {
      reach += std::fabs(static_cast<double>(m.m[4 * r + k])) * static_cast<double>(out_shape[k + 1] - 1);
    }
    if (!(reach <= kMaxCoord)) {
      refuse(where, "source coordinates along axis " + std::to_string(r) + " reach " + num(reach) +
                        " voxels (limit 2^30): matrix or grid out of range");
    }
  }
}

}  // namespace

i64 checked_mul(i64 a, i64 b, const std::string& what) {
  if (a < 0 || b < 0) throw ArgumentError(what + ": negative size");
  if (a != 0 && b > std::numeric_limits<i64>::max() / a) throw ArgumentError(what + ": size overflows 64 bits");
  return a * b;
}

void array_byte_span(const ArrayRef& a, i64 itemsize, const std::string& what, i64* lo, i64* hi) {
  i64 low = 0, high = itemsize;
  for (int k = 0; k < 4; ++k) {
    if (a.shape[k] <= 0) throw ArgumentError(what + " has an empty axis");
    const i64 step = checked_mul(a.stride[k] < 0 ? -a.stride[k] : a.stride[k], itemsize, what);
    const i64 ext = checked_mul(a.shape[k] - 1, step, what);
    if (a.stride[k] < 0) {
      if (low < std::numeric_limits<i64>::min() + ext) throw ArgumentError(what + ": extent overflows 64 bits");
      low -= ext;
    } else {
      if (high > std::numeric_limits<i64>::max() - ext) throw ArgumentError(what + ": extent overflows 64 bits");
      high += ext;
    }
  }
  *lo = low;
  *hi = high;
}

void check_program(const ProgramView& p, i64 n_params, const std::string& where) {
  if (p.n_ops < 0) refuse(where, "negative op count");
  for (i64 k = 0; k < p.n_ops; ++k) {
    const i32* op = p.ops + 4 * k;
    const std::string at = where + ": program op " + std::to_string(k);
    if (op[1] < -1) refuse(at, "channel must be -1 (every channel) or >= 0, got " + std::to_string(op[1]));
    if (op[3] < 0) refuse(at, "stream must be >= 0, got " + std::to_string(op[3]));
    const i64 off = op[2];
    if (off < 0 || off > n_params) refuse(at, "param offset out of range");
    const i64 need = checked_param_count(op[0], p.params + off, n_params - off, at);
    if (need > n_params - off) refuse(at, "program params too short");
    for (i64 q = 0; q < need; ++q) {
      const float v = p.params[off + q];
      // Clip bounds may be infinite (an open side); everything else must be finite.
      const bool ok = op[0] == kOpClip ? !std::isnan(v) : std::isfinite(v);
      if (!ok) refuse(at, "parameter " + std::to_string(q) + " is " + num(v) + " (must be finite)");
    }
  }
}

void check_job(const Job& j, i64 src_itemsize, i64 out_itemsize, i64 grid_size, i64 n_params,
               const std::string& where) {
  i64 slo, shi, olo, ohi;
  array_byte_span(j.src, src_itemsize, where + ": source", &slo, &shi);
  array_byte_span(j.out, out_itemsize, where + ": output", &olo, &ohi);
  if (j.src.shape[0] != j.out.shape[0]) refuse(where, "source and output channels differ");
  const auto s0 = reinterpret_cast<std::uintptr_t>(j.src.data);
  const auto o0 = reinterpret_cast<std::uintptr_t>(j.out.data);
  const std::uintptr_t s_lo = s0 - static_cast<std::uintptr_t>(-slo), s_hi = s0 + static_cast<std::uintptr_t>(shi);
  const std::uintptr_t o_lo = o0 - static_cast<std::uintptr_t>(-olo), o_hi = o0 + static_cast<std::uintptr_t>(ohi);
  if (s_lo < o_hi && o_lo < s_hi) refuse(where, "output overlaps the source");
  // The window: inside the volume, the volume's extents bounded like coordinates (so a
  // volume index minus the origin stays within int32 in the row kernel).
  for (int k = 0; k < 3; ++k) {
    const i64 n = j.vol[k], o = j.origin[k], w = j.src.shape[k + 1];
    if (n <= 0 || static_cast<double>(n) > kMaxCoord) {
      refuse(where, "volume extent " + std::to_string(n) + " on axis " + std::to_string(k) + " is out of range");
    }
    if (o < 0 || o >= n || w > n - o) {
      refuse(where, "window [" + std::to_string(o) + ", " + std::to_string(o) + " + " + std::to_string(w) +
                        ") on axis " + std::to_string(k) + " is not inside the volume extent " + std::to_string(n));
    }
  }
  if (j.src.dtype == DType::kF16 || j.src.dtype == DType::kBF16) {
    refuse(where, "16-bit float sources are not supported");
  }
  if (is_integer(j.out.dtype) && j.out.dtype != j.src.dtype) {
    refuse(where, std::string("an integer output must have the source dtype, got ") + dtype_name(j.out.dtype) +
                      " from " + dtype_name(j.src.dtype));
  }
  if (j.interp < 0 || j.interp > 1) refuse(where, "interp must be 0 or 1, got " + std::to_string(j.interp));
  if (j.pad_mode < 0 || j.pad_mode > 2) refuse(where, "pad_mode must be 0, 1 or 2, got " + std::to_string(j.pad_mode));
  if (is_integer(j.out.dtype)) {
    // Stored with a float-to-integer cast: the padding value must be one of the dtype's
    // values, and no intensity op may move voxels out of its range.
    double lo, hi;
    integer_range(j.out.dtype, &lo, &hi);
    const double c = static_cast<double>(j.cval);
    if (!std::isfinite(c) || c != std::floor(c) || c < lo || c > hi) {
      refuse(where, "padding value " + num(c) + " does not fit the " + dtype_name(j.out.dtype) + " output [" +
                        num(lo) + ", " + num(hi) + "]");
    }
    if (j.program.n_ops > 0) refuse(where, "an integer output takes no intensity program");
  }
  check_map(j.map, j.out.shape, grid_size, where);
  check_program(j.program, n_params, where);
}

void register_argument_error() {
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ArgumentError& e) {
      PyObject* cls = PyExc_ValueError;
      py::object holder;
      try {
        holder = py::module_::import("fastmed.errors").attr("KernelArgumentError");
        cls = holder.ptr();
      } catch (const py::error_already_set&) {  // fastmed.errors unavailable: plain ValueError
      }
      PyErr_SetString(cls, e.what());
    }
  });
}

}  // namespace aug
}  // namespace fm
