// MappedFile: mmap of a whole file, read-only.
#include "dicom_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dicom_errors.h"

namespace fm {
namespace dicom {

namespace {

// Opens `path` read-only and checks it is a regular file; returns the descriptor.
// O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused below).
int open_regular(const std::string& path, FileStat& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
  out.size = static_cast<u64>(st.st_size);
  out.mtime_ns = static_cast<i64>(st.st_mtim.tv_sec) * 1000000000LL + static_cast<i64>(st.st_mtim.tv_nsec);
  return fd;
}

}  // namespace

u64 read_prefix(const std::string& path, u64 max_bytes, std::vector<u8>& buf, FileStat& st) {
  const int fd = open_regular(path, st);
  const u64 want = st.size < max_bytes ? st.size : max_bytes;
  // Grown, never shrunk: a reused buffer is not zero-filled again for every file.
  if (buf.size() < want) buf.resize(static_cast<size_t>(want));
  u64 got = 0;
  while (got < want) {
    const ssize_t r = ::pread(fd, buf.data() + got, static_cast<size_t>(want - got), static_cast<off_t>(got));
    if (r < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      throw IoError{e, std::strerror(e)};
    }
    if (r == 0) break;  // the file shrank since fstat: parse what is there
    got += static_cast<u64>(r);
  }
  ::close(fd);
  if (got < want) st.size = got;
  return got;
}

MappedFile::MappedFile(const std::string& path) {
  const int fd = open_regular(path, stat_);
  size_ = stat_.size;
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
