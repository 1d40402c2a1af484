// MappedFile: mmap of a whole file, read-only.
#include "dicom_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fastmed/dicom_errors.h"

namespace fm {
namespace dicom {

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError{errno, std::strerror(errno)};
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    throw IoError{e, std::strerror(e)};
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    bad_format(0, S_ISDIR(st.st_mode) ? "is a directory, not a DICOM file" : "not a regular file");
  }
  size_ = static_cast<u64>(st.st_size);
  if (size_ > 0) {
    void* m = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
      const int e = errno;
      ::close(fd);
      throw IoError{e, std::strerror(e)};
    }
    map_ = m;
    data_ = static_cast<const u8*>(m);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (map_) ::munmap(map_, static_cast<size_t>(size_));
}

}  // namespace dicom
}  // namespace fm
