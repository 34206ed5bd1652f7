// files.h: opening model files safely. A model directory may hold anything: a FIFO (open and read
// block forever), a link to /dev/zero (endless), a huge file. Every model file is opened without
// blocking, accepted only when it is a regular file, and size-checked before a byte is read.
#pragma once
#include <cstdint>
#include <string>

namespace vl {

// Opens `path` read-only; throws Error(VL_ERR_IO) naming it when it cannot be opened or is not a
// regular file, Error(VL_ERR_FORMAT) when it is larger than max_bytes. Returns the descriptor (the
// caller closes it) and sets `size`.
int open_regular_file(const std::string &path, uint64_t max_bytes, uint64_t &size);

// Whether something is at `path` (a file of any kind: open_regular_file says what is wrong with one
// that is not regular); false when nothing is (ENOENT). Throws Error(VL_ERR_IO) naming the path when
// it cannot be looked at: a loop of symbolic links or a path it may not search is not a missing file.
bool file_present(const std::string &path);

// The whole of a regular file of at most max_bytes, as text (config.json, the shard index).
std::string read_regular_file(const std::string &path, uint64_t max_bytes);

}  // namespace vl
