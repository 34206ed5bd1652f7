// safetensors.cpp: the safetensors format is an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data; offsets are relative to the start of the data.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "error.h"
#include "json.h"

namespace vl {

class MappedFile {
 public:
  explicit MappedFile(const std::string &path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) throw Error(VL_ERR_IO, path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st;
    if (fstat(fd_, &st) != 0) {
      int e = errno;
      ::close(fd_);
      throw Error(VL_ERR_IO, path + ": cannot stat (" + std::strerror(e) + ")");
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {
      void *p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (p == MAP_FAILED) {
        int e = errno;
        ::close(fd_);
        throw Error(VL_ERR_IO, path + ": cannot map (" + std::strerror(e) + ")");
      }
      data_ = static_cast<const uint8_t *>(p);
    }
  }
  ~MappedFile() {
    if (data_) munmap(const_cast<uint8_t *>(data_), size_);
    if (fd_ >= 0) ::close(fd_);
  }
  MappedFile(const MappedFile &) = delete;
  MappedFile &operator=(const MappedFile &) = delete;

  const uint8_t *data() const { return data_; }
  size_t size() const { return size_; }
  const std::string &path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  const uint8_t *data_ = nullptr;
  size_t size_ = 0;
};

std::string shape_string(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); i++) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace {

[[noreturn]] void bad(const std::string &path, const std::string &what) { throw Error(VL_ERR_FORMAT, path + ": " + what); }

bool file_exists(const std::string &p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Parses one file's header into entries pointing into its mapping.
void read_header(const MappedFile &f, std::map<std::string, TensorEntry> &out) {
  const std::string &path = f.path();
  if (f.size() < 8) bad(path, "truncated: " + std::to_string(f.size()) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | f.data()[i];
  if (n > f.size() - 8)
    bad(path, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(f.size()) +
                  " bytes): the file is truncated or not safetensors");
  Json header;
  try {
    header = Json::parse(std::string(reinterpret_cast<const char *>(f.data()) + 8, size_t(n)));
  } catch (const std::runtime_error &e) {
    bad(path, std::string("header is not valid JSON (") + e.what() + ")");
  }
  if (!header.is_object()) bad(path, "header must be a JSON object");
  const uint8_t *data = f.data() + 8 + n;
  size_t data_size = f.size() - 8 - size_t(n);

  for (const auto &[name, t] : header.members()) {
    if (name == "__metadata__") continue;
    auto tbad = [&](const std::string &what) { bad(path, "tensor '" + name + "': " + what); };
    if (!t.is_object()) tbad("entry must be an object");
    const Json *dt = t.find("dtype");
    const Json *shape = t.find("shape");
    const Json *offs = t.find("data_offsets");
    if (!dt || !dt->is_string()) tbad("missing \"dtype\"");
    if (!shape || !shape->is_array()) tbad("missing \"shape\"");
    if (!offs || !offs->is_array() || offs->array().size() != 2) tbad("missing \"data_offsets\" [begin, end]");
    TensorEntry e;
    e.name = name;
    e.file = path;
    const std::string &d = dt->string();
    if (d == "F32") e.dtype = DType::F32;
    else if (d == "F16") e.dtype = DType::F16;
    else if (d == "BF16") e.dtype = DType::BF16;
    else throw Error(VL_ERR_UNSUPPORTED, path + ": tensor '" + name + "' has dtype " + d + " (vramlab reads F16, BF16 and F32)");
    uint64_t elems = 1;
    for (const Json &s : shape->array()) {
      if (!s.is_number() || s.number() < 0 || s.number() != double(int64_t(s.number())) || s.number() > 1e12)
        tbad("shape entries must be non-negative integers");
      e.shape.push_back(int64_t(s.number()));
      elems *= uint64_t(e.shape.back());
    }
    for (const Json &o : offs->array())
      if (!o.is_number() || o.number() < 0 || o.number() != double(uint64_t(o.number())))
        tbad("data_offsets must be non-negative integers");
    uint64_t begin = uint64_t(offs->array()[0].number()), end = uint64_t(offs->array()[1].number());
    if (begin > end) tbad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    if (end > data_size)
      tbad("bytes [" + std::to_string(begin) + ", " + std::to_string(end) + ") lie outside the data (" +
           std::to_string(data_size) + " bytes): the file is truncated");
    if (end - begin != elems * dtype_size(e.dtype))
      tbad("holds " + std::to_string(end - begin) + " bytes but shape " + shape_string(e.shape) + " of " +
           dtype_name(e.dtype) + " needs " + std::to_string(elems * dtype_size(e.dtype)));
    e.data = data + begin;
    e.bytes = size_t(end - begin);
    if (out.count(name)) tbad("appears in more than one file");
    out.emplace(name, std::move(e));
  }
}

}  // namespace

WeightFiles::~WeightFiles() = default;
WeightFiles::WeightFiles(WeightFiles &&) noexcept = default;
WeightFiles &WeightFiles::operator=(WeightFiles &&) noexcept = default;

WeightFiles WeightFiles::open_dir(const std::string &dir) {
  WeightFiles w;
  std::string single = dir + "/model.safetensors";
  std::string index = dir + "/model.safetensors.index.json";
  if (file_exists(single)) {
    w.origin_ = single;
    w.files_.push_back(std::make_unique<MappedFile>(single));
    read_header(*w.files_.back(), w.tensors_);
    return w;
  }
  if (!file_exists(index))
    throw Error(VL_ERR_IO, dir + ": no model.safetensors or model.safetensors.index.json (vramlab reads safetensors weights)");
  w.origin_ = index;
  std::ifstream f(index, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  Json root;
  try {
    root = Json::parse(ss.str());
  } catch (const std::runtime_error &e) {
    bad(index, std::string("not valid JSON (") + e.what() + ")");
  }
  const Json *map = root.is_object() ? root.find("weight_map") : nullptr;
  if (!map || !map->is_object()) bad(index, "missing \"weight_map\" object");
  std::map<std::string, std::string> wanted;  // tensor -> shard
  std::vector<std::string> shards;
  for (const auto &[name, file] : map->members()) {
    if (!file.is_string()) bad(index, "weight_map entry '" + name + "' must name a file");
    if (file.string().find('/') != std::string::npos || file.string().find("..") != std::string::npos)
      bad(index, "weight_map entry '" + name + "' names a file outside the model directory");
    wanted[name] = file.string();
    bool seen = false;
    for (const auto &s : shards) seen |= s == file.string();
    if (!seen) shards.push_back(file.string());
  }
  for (const auto &s : shards) {
    w.files_.push_back(std::make_unique<MappedFile>(dir + "/" + s));
    read_header(*w.files_.back(), w.tensors_);
  }
  for (const auto &[name, shard] : wanted) {
    auto it = w.tensors_.find(name);
    if (it == w.tensors_.end())
      bad(dir + "/" + shard, "tensor '" + name + "' is listed in model.safetensors.index.json but missing from the file");
  }
  return w;
}

const TensorEntry *WeightFiles::find(const std::string &name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace vl
