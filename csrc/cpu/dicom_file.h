// Read-only memory map of a file (POSIX), so the parser touches only the pages it walks.
#pragma once

#include <string>
#include <vector>

#include "fastmed/common.h"

namespace fm {
namespace dicom {

// Failure to open or map a file (not a DICOM problem): carries errno.
struct IoError {
  int err;
  std::string what;
};

// Size and modification time of an opened file (for the index's re-index check).
struct FileStat {
  u64 size = 0;
  i64 mtime_ns = 0;
};

// Reads the first `max_bytes` of `path` (the whole file when it is no longer) into the
// start of `buf` (grown when needed, never shrunk) and returns the bytes read, with one pread: cheaper than mmap + page faults + munmap for the small files and the
// few kilobytes of header an index needs. Throws IoError, or dicom::Error for a
// directory or a non-regular file (a FIFO is opened non-blocking and refused).
u64 read_prefix(const std::string& path, u64 max_bytes, std::vector<u8>& buf, FileStat& st);

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws IoError, or dicom::Error for a directory
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const u8* data() const { return data_; }
  u64 size() const { return size_; }
  const FileStat& stat() const { return stat_; }

 private:
  const u8* data_ = nullptr;
  u64 size_ = 0;
  void* map_ = nullptr;
  FileStat stat_;
};

}  // namespace dicom
}  // namespace fm
