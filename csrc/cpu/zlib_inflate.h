// Raw-deflate inflation for Deflated Explicit VR Little Endian datasets, step by step.
//
// zlib is not linked into the extension (setup.py links no libraries): libz.so.1, which
// Python's own zlib module already uses, is opened at run time. Where it (or zlib.h at
// build time) is missing, available() is false and callers fall back to Python's zlib.
// Errors read as Python's zlib.error would ("Error -3 while decompressing data: ...").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

class Inflater {
 public:
  static bool available();

  Inflater(const u8* src, u64 n);  // raw deflate stream (no zlib header), wbits -15
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates into `out` until it holds at least `target` bytes, the stream ends or the
  // input is used up. Returns false on corrupt data (then error() says why).
  bool grow(std::vector<u8>& out, u64 target);
  // Everything there is has been inflated (stream end, or no input left short of a target).
  bool done() const { return done_; }
  const std::string& error() const { return error_; }

  struct State;  // zlib's stream, kept per thread between files

 private:
  std::unique_ptr<State> st_;
  const u8* src_;
  u64 n_;
  u64 used_ = 0;
  bool done_ = false;
  std::string error_;
};

}  // namespace dicom
}  // namespace fm
