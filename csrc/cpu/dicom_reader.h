// Bounds-checked little/big endian reads over an immutable byte buffer (host only).
//
// The reader never dereferences a byte at or beyond `size`: every read checks the
// remaining length first (in 64-bit arithmetic, so no wrap-around) and throws a
// Truncated error naming what was being read.
#pragma once

#include <cstring>

#include "dicom_errors.h"
#include "fastmed/common.h"

namespace fm {
namespace dicom {

class Reader {
 public:
  Reader(const u8* data, u64 size) : data_(data), size_(size) {}

  u64 size() const { return size_; }
  const u8* data() const { return data_; }
  u64 remaining(u64 pos) const { return pos >= size_ ? 0 : size_ - pos; }
  bool has(u64 pos, u64 n) const { return n <= remaining(pos); }

  void need(u64 pos, u64 n, const char* what) const {
    if (!has(pos, n)) truncated(pos, std::string("data ends inside ") + what);
  }

  u16 u16_at(u64 pos, bool little) const {
    const u8* p = data_ + pos;
    return little ? static_cast<u16>(p[0] | (p[1] << 8)) : static_cast<u16>((p[0] << 8) | p[1]);
  }
  u32 u32_at(u64 pos, bool little) const {
    const u8* p = data_ + pos;
    if (little) return u32(p[0]) | (u32(p[1]) << 8) | (u32(p[2]) << 16) | (u32(p[3]) << 24);
    return (u32(p[0]) << 24) | (u32(p[1]) << 16) | (u32(p[2]) << 8) | u32(p[3]);
  }
  u64 u64_at(u64 pos, bool little) const {
    const u64 a = u32_at(pos, little), b = u32_at(pos + 4, little);
    return little ? (a | (b << 32)) : ((a << 32) | b);
  }
  // A tag is two u16 (group, element) in the dataset's byte order.
  u32 tag_at(u64 pos, bool little) const {
    return (u32(u16_at(pos, little)) << 16) | u32(u16_at(pos + 2, little));
  }

 private:
  const u8* data_;
  u64 size_;
};

}  // namespace dicom
}  // namespace fm
