// files.cpp: see files.h.
#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.h"

namespace vl {

namespace {
const char *kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}
}  // namespace

bool file_present(const std::string &path) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT) return false;
  throw Error(VL_ERR_IO, path + ": cannot open (" + std::strerror(errno) + ")");
}

int open_regular_file(const std::string &path, uint64_t max_bytes, uint64_t &size) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(VL_ERR_IO, path + ": cannot open (" + std::strerror(errno) + ")");
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    throw Error(VL_ERR_IO, path + ": cannot stat (" + std::strerror(e) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(VL_ERR_IO, path + ": is " + kind_of(st.st_mode) + ", not a regular file (give the model's files themselves)");
  }
  size = uint64_t(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(VL_ERR_FORMAT, path + ": " + std::to_string(size) + " bytes, above the limit of " + std::to_string(max_bytes) +
                                   " bytes for this file");
  }
  return fd;
}

std::string read_regular_file(const std::string &path, uint64_t max_bytes) {
  uint64_t size = 0;
  int fd = open_regular_file(path, max_bytes, size);
  std::string text(size_t(size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t r = ::read(fd, &text[got], text.size() - got);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (r <= 0) {
      int e = r < 0 ? errno : 0;
      ::close(fd);
      throw Error(VL_ERR_IO, path + ": read failed (" + (e ? std::strerror(e) : "the file shrank while read") + ")");
    }
    got += size_t(r);
  }
  ::close(fd);
  return text;
}

}  // namespace vl
