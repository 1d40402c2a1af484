// Read-only memory map of a file (POSIX), so the parser touches only the pages it walks.
#pragma once

#include <string>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

// Failure to open or map a file (not a DICOM problem): carries errno.
struct IoError {
  int err;
  std::string what;
};

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws IoError, or dicom::Error for a directory
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const u8* data() const { return data_; }
  u64 size() const { return size_; }

 private:
  const u8* data_ = nullptr;
  u64 size_ = 0;
  void* map_ = nullptr;
};

}  // namespace dicom
}  // namespace fm
