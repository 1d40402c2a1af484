// Error types of the DICOM parser (host only).
//
// Every failure on untrusted bytes is one of three kinds, each carrying the byte
// offset where it was detected and a plain reason. Reasons never quote values read
// from the file (they could be patient data): only tags, lengths and offsets.
#pragma once

#include <stdexcept>
#include <string>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

enum class ErrorKind : int { Truncated = 0, Format = 1, Unsupported = 2 };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, u64 offset, const std::string& reason)
      : std::runtime_error(reason), kind_(kind), offset_(offset) {}
  ErrorKind kind() const { return kind_; }
  u64 offset() const { return offset_; }

 private:
  ErrorKind kind_;
  u64 offset_;
};

[[noreturn]] inline void truncated(u64 offset, const std::string& reason) {
  throw Error(ErrorKind::Truncated, offset, reason);
}
[[noreturn]] inline void bad_format(u64 offset, const std::string& reason) {
  throw Error(ErrorKind::Format, offset, reason);
}
[[noreturn]] inline void unsupported(u64 offset, const std::string& reason) {
  throw Error(ErrorKind::Unsupported, offset, reason);
}

// "(GGGG,EEEE)" for messages: tags are structure, not patient data.
inline std::string tag_str(u32 tag) {
  static const char* hex = "0123456789ABCDEF";
  std::string s = "(0000,0000)";
  for (int i = 0; i < 4; ++i) s[1 + i] = hex[(tag >> (28 - 4 * i)) & 0xF];
  for (int i = 0; i < 4; ++i) s[6 + i] = hex[(tag >> (12 - 4 * i)) & 0xF];
  return s;
}

}  // namespace dicom
}  // namespace fm
