// Raw value bytes -> Python objects, matching the types pydicom gives for the same VR.
#include "dicom_values.h"

#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "dicom.h"
#include "dicom_numbers.h"

namespace py = pybind11;

namespace fm {
namespace dicom {

std::string vr_name(u16 vr) {
  if (vr == kVrNone) return "";
  return std::string{char(vr >> 8), char(vr & 0xFF)};
}

namespace {

std::string strip(const std::string& s, bool leading) {
  size_t e = s.size();
  while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\0')) --e;
  size_t b = 0;
  if (leading)
    while (b < e && s[b] == ' ') ++b;
  return s.substr(b, e - b);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t k = s.find('\\', start);
    if (k == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, k - start));
    start = k + 1;
  }
}

py::object latin1(const std::string& s) {
  PyObject* o = PyUnicode_DecodeLatin1(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
  if (!o) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(o);
}

py::object one_or_list(std::vector<py::object>& v) {
  if (v.empty()) return py::none();
  if (v.size() == 1) return v[0];
  py::list l(v.size());
  for (size_t i = 0; i < v.size(); ++i) l[i] = v[i];
  return std::move(l);
}

py::object parse_number(const std::string& t, bool integer) {
  if (t.empty()) return py::none();
  if (integer) {
    i64 i = 0;
    if (parse_int_literal(t.data(), t.size(), &i)) return py::int_(static_cast<long long>(i));
  }
  double d = 0.0;
  if (parse_py_float(t.data(), t.size(), &d)) {
    // IS written as "5.0" is still an integer; 2^63 bounds the exact int64 conversion.
    if (integer && std::isfinite(d) && std::fabs(d) < 9.2e18 && d == std::trunc(d))
      return py::int_(static_cast<long long>(d));
    return py::float_(d);
  }
  return latin1(t);  // not a number: give the text back, as pydicom keeps invalid values
}

template <typename T>
py::object numbers(const u8* p, u64 n, bool little) {
  const u64 k = n / sizeof(T);
  std::vector<py::object> v;
  v.reserve(static_cast<size_t>(k < 4096 ? k : 4096));
  for (u64 i = 0; i < k; ++i) {
    u8 b[sizeof(T)];
    std::memcpy(b, p + i * sizeof(T), sizeof(T));
    if (!little)
      for (size_t j = 0; j < sizeof(T) / 2; ++j) std::swap(b[j], b[sizeof(T) - 1 - j]);
    T x;
    std::memcpy(&x, b, sizeof(T));
    if constexpr (std::is_floating_point<T>::value)
      v.push_back(py::float_(static_cast<double>(x)));
    else
      v.push_back(py::int_(x));
  }
  return one_or_list(v);
}

}  // namespace

py::object value_to_py(const u8* p, u64 n, u16 vr, bool little) {
  switch (vr) {
    case vr_code('U', 'S'): return numbers<u16>(p, n, little);
    case vr_code('S', 'S'): return numbers<i16>(p, n, little);
    case vr_code('U', 'L'): return numbers<u32>(p, n, little);
    case vr_code('S', 'L'): return numbers<i32>(p, n, little);
    case vr_code('U', 'V'): return numbers<u64>(p, n, little);
    case vr_code('S', 'V'): return numbers<i64>(p, n, little);
    case vr_code('F', 'L'): return numbers<float>(p, n, little);
    case vr_code('F', 'D'): return numbers<double>(p, n, little);
    case vr_code('A', 'T'): {
      std::vector<py::object> v;
      for (u64 i = 0; i + 4 <= n; i += 4) {
        const u32 g = little ? u32(p[i] | (p[i + 1] << 8)) : u32((p[i] << 8) | p[i + 1]);
        const u32 e = little ? u32(p[i + 2] | (p[i + 3] << 8)) : u32((p[i + 2] << 8) | p[i + 3]);
        v.push_back(py::int_((g << 16) | e));
      }
      return one_or_list(v);
    }
    case vr_code('I', 'S'):
    case vr_code('D', 'S'): {
      const std::string s(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
      std::vector<py::object> v;
      if (strip(s, true).empty()) return py::none();
      for (const std::string& part : split(s)) v.push_back(parse_number(strip(part, true), vr == vr_code('I', 'S')));
      return one_or_list(v);
    }
    case vr_code('A', 'E'): case vr_code('A', 'S'): case vr_code('C', 'S'): case vr_code('D', 'A'):
    case vr_code('D', 'T'): case vr_code('L', 'O'): case vr_code('P', 'N'): case vr_code('S', 'H'):
    case vr_code('T', 'M'): case vr_code('U', 'C'): case vr_code('U', 'I'): {
      // pydicom: strip trailing padding of the whole value, then split; components keep
      // their own spaces except for AE, whose spaces are never significant.
      const std::string s = strip(std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)), false);
      if (s.empty()) return py::none();
      std::vector<py::object> v;
      const bool ae = vr == vr_code('A', 'E');
      for (const std::string& part : split(s)) v.push_back(latin1(ae ? strip(part, true) : part));
      return one_or_list(v);
    }
    case vr_code('L', 'T'): case vr_code('S', 'T'): case vr_code('U', 'T'): case vr_code('U', 'R'): {
      const std::string s = strip(std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)), false);
      if (s.empty()) return py::none();
      return latin1(s);
    }
    default:
      return py::bytes(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
  }
}

}  // namespace dicom
}  // namespace fm
