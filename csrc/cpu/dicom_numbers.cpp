// The float() grammar of CPython (Objects/floatobject.c + PEP 515), on Latin-1 bytes.
#include "dicom_numbers.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string>
#include <system_error>

namespace fm {
namespace dicom {

namespace {

// What str.strip() removes from a Latin-1 decoded string: ASCII whitespace, the
// information separators 0x1C-0x1F, NEL (0x85) and NO-BREAK SPACE (0xA0).
bool is_py_space(unsigned char c) {
  return c == ' ' || (c >= 9 && c <= 13) || (c >= 0x1C && c <= 0x1F) || c == 0x85 || c == 0xA0;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_nocase(const char* p, size_t n, const char* word) {
  size_t i = 0;
  for (; i < n && word[i]; ++i)
    if (lower(p[i]) != word[i]) return false;
  return i == n && word[i] == '\0';
}

// digit ('_'? digit)*, appended to `out` without underscores. Returns the end position,
// or `i` unchanged when no digit starts here.
size_t digit_part(const char* p, size_t i, size_t n, std::string& out) {
  if (i >= n || !is_digit(p[i])) return i;
  out.push_back(p[i++]);
  while (i < n) {
    if (is_digit(p[i])) {
      out.push_back(p[i++]);
    } else if (p[i] == '_' && i + 1 < n && is_digit(p[i + 1])) {
      ++i;
    } else {
      break;
    }
  }
  return i;
}

}  // namespace

bool parse_py_float(const char* p, size_t n, double* out) {
  size_t b = 0, e = n;
  while (b < e && is_py_space(static_cast<unsigned char>(p[b]))) ++b;
  while (e > b && is_py_space(static_cast<unsigned char>(p[e - 1]))) --e;
  if (b == e) return false;
  bool negative = false;
  if (p[b] == '+' || p[b] == '-') {
    negative = p[b] == '-';
    ++b;
  }
  const char* s = p + b;
  const size_t m = e - b;
  if (equals_nocase(s, m, "inf") || equals_nocase(s, m, "infinity")) {
    *out = negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  if (equals_nocase(s, m, "nan")) {
    *out = negative ? -std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  // Rebuild the number without sign and underscores for from_chars (which takes neither).
  std::string t;
  t.reserve(m);
  size_t i = 0;
  size_t j = digit_part(s, 0, m, t);
  const bool int_digits = j > 0;
  i = j;
  bool frac_digits = false;
  if (i < m && s[i] == '.') {
    t.push_back('.');
    j = digit_part(s, i + 1, m, t);
    frac_digits = j > i + 1;
    i = j;
  }
  if (!int_digits && !frac_digits) return false;
  long long exp10 = 0;  // only to tell overflow from underflow below
  if (i < m && (s[i] == 'e' || s[i] == 'E')) {
    t.push_back('e');
    ++i;
    bool exp_negative = false;
    if (i < m && (s[i] == '+' || s[i] == '-')) {
      exp_negative = s[i] == '-';
      t.push_back(s[i]);
      ++i;
    }
    const size_t start = t.size();
    j = digit_part(s, i, m, t);
    if (j == i) return false;
    i = j;
    for (size_t k = start; k < t.size() && exp10 < 100000; ++k) exp10 = exp10 * 10 + (t[k] - '0');
    if (exp_negative) exp10 = -exp10;
  }
  if (i != m) return false;
  double v = 0.0;
  const auto res = std::from_chars(t.data(), t.data() + t.size(), v, std::chars_format::general);
  if (res.ec == std::errc::result_out_of_range) {
    // Beyond double range: float() gives inf for huge magnitudes and 0.0 for tiny ones.
    // Decimal position of the first non-zero digit decides which.
    long long lead = 0;
    bool seen_point = false, found = false;
    for (char c : t) {
      if (c == 'e') break;
      if (c == '.') {
        seen_point = true;
        continue;
      }
      if (c != '0') {
        found = true;
        break;
      }
      if (seen_point) --lead;
    }
    if (!found) {
      v = 0.0;
    } else {
      long long int_len = 0;
      for (char c : t) {
        if (c == '.' || c == 'e') break;
        ++int_len;
      }
      const long long magnitude = (int_len > 0 ? int_len : lead) + exp10;
      v = magnitude > 0 ? std::numeric_limits<double>::infinity() : 0.0;
    }
  } else if (res.ec != std::errc() || res.ptr != t.data() + t.size()) {
    return false;
  }
  *out = negative ? -v : v;
  return true;
}

bool parse_int_literal(const char* p, size_t n, i64* out) {
  size_t b = 0, e = n;
  while (b < e && is_py_space(static_cast<unsigned char>(p[b]))) ++b;
  while (e > b && is_py_space(static_cast<unsigned char>(p[e - 1]))) --e;
  if (b == e) return false;
  const bool negative = p[b] == '-';
  if (p[b] == '+' || p[b] == '-') ++b;
  if (b == e) return false;
  unsigned long long v = 0;
  const unsigned long long limit = negative ? (1ULL << 63) : ((1ULL << 63) - 1);
  for (size_t i = b; i < e; ++i) {
    if (!is_digit(p[i])) return false;
    const unsigned d = static_cast<unsigned>(p[i] - '0');
    if (v > (limit - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = negative ? static_cast<i64>(0 - v) : static_cast<i64>(v);
  return true;
}

}  // namespace dicom
}  // namespace fm
