// safetensors.cpp: the safetensors format is an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the
// data; offsets are relative to the start of the data.
#include "safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "error.h"
#include "files.h"
#include "json_dom.h"

namespace vl {

class MappedFile {
 public:
  explicit MappedFile(const std::string &path) : path_(path) {
    uint64_t size = 0;
    fd_ = open_regular_file(path, UINT64_MAX, size);
    size_ = size_t(size);
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

// The safetensors library's limit on the JSON header (safetensors/src/tensor.rs MAX_HEADER_SIZE).
// A shard index lists one short entry per tensor: 64 MiB is thousands of times a 405B model's.
constexpr uint64_t kMaxIndexBytes = uint64_t(64) << 20;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

// Every dtype of the safetensors format and its element size in bytes; vramlab computes with
// F16, BF16 and F32, the others may sit in a file as long as the model does not use them.
int format_dtype_size(const std::string &d) {
  static const std::pair<const char *, int> sizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  for (const auto &[name, size] : sizes)
    if (d == name) return size;
  return 0;
}

// Parses one file's header into entries pointing into its mapping, with the checks of the
// safetensors format: header length within the file and at most 100 MB, a JSON object whose
// __metadata__ (if any) maps strings to strings, known dtypes, element counts that do not overflow
// and match each byte range, and byte ranges that tile the data exactly: contiguous from 0 in
// offset order, no overlap, no gap, no trailing bytes, each aligned to its element size.
void read_header(const MappedFile &f, std::map<std::string, TensorEntry> &out) {
  const std::string &path = f.path();
  if (f.size() < 8) bad(path, "truncated: " + std::to_string(f.size()) + " bytes, shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | f.data()[i];
  if (n > kMaxHeaderBytes)
    bad(path, "header length " + std::to_string(n) + " is above the safetensors limit of " +
                  std::to_string(kMaxHeaderBytes) + " bytes: the file is corrupt or not safetensors");
  if (n > f.size() - 8)
    bad(path, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(f.size()) +
                  " bytes): the file is truncated or not safetensors");
  simdjson::dom::parser parser;
  const json::Element header =
      json::parse(parser, reinterpret_cast<const char *>(f.data()) + 8, size_t(n), path, "header is not valid JSON");
  simdjson::dom::object members;
  if (header.get_object().get(members)) bad(path, "header must be a JSON object");
  const std::string twice = json::duplicate_key(header, "the header");
  if (!twice.empty()) bad(path, twice);
  const uint64_t data_start = 8 + n;
  const uint8_t *data = f.data() + data_start;
  const uint64_t data_size = f.size() - data_start;

  std::vector<TensorEntry> entries;  // this file's tensors, in header order
  std::vector<std::pair<uint64_t, uint64_t>> ranges;  // their [begin, end) in the data, same order
  for (const simdjson::dom::key_value_pair member : members) {
    const std::string name(member.key);
    const json::Element t = member.value;
    if (name == "__metadata__") {
      simdjson::dom::object metadata;
      if (t.get_object().get(metadata)) bad(path, "\"__metadata__\" must be an object of strings");
      for (const simdjson::dom::key_value_pair entry : metadata)
        if (!entry.value.is_string()) bad(path, "\"__metadata__\" entry '" + std::string(entry.key) + "' must be a string");
      continue;
    }
    auto tbad = [&](const std::string &what) { bad(path, "tensor '" + name + "': " + what); };
    if (!t.is_object()) tbad("entry must be an object");
    std::string_view dtype;
    simdjson::dom::array shape, offs;
    if (t.at_key("dtype").get_string().get(dtype)) tbad("missing \"dtype\"");
    if (t.at_key("shape").get_array().get(shape)) tbad("missing \"shape\"");
    if (t.at_key("data_offsets").get_array().get(offs) || offs.size() != 2) tbad("missing \"data_offsets\" [begin, end]");
    TensorEntry e;
    e.name = name;
    e.file = path;
    e.dtype_text = std::string(dtype);
    const int esize = format_dtype_size(e.dtype_text);
    if (esize == 0) tbad("unknown dtype \"" + e.dtype_text + "\" (not a safetensors dtype)");
    e.readable = true;
    if (e.dtype_text == "F32") e.dtype = DType::F32;
    else if (e.dtype_text == "F16") e.dtype = DType::F16;
    else if (e.dtype_text == "BF16") e.dtype = DType::BF16;
    else e.readable = false;
    // Element count x element size in 64 bits, checked at each factor: a shape whose product wraps
    // to 0 would otherwise match an empty byte range. A count above the data's size cannot be valid.
    bool zero = false;
    for (const json::Element s : shape) {
      uint64_t d = 0;
      if (!json::exact_uint(s, d)) tbad("shape entries must be non-negative integers");
      e.shape.push_back(int64_t(d));
      zero |= d == 0;
    }
    uint64_t bytes = zero ? 0 : uint64_t(esize);
    for (int64_t d : e.shape) {
      if (zero) break;
      if (bytes > data_size / uint64_t(d))
        tbad("shape " + shape_string(e.shape) + " of " + e.dtype_text + " needs more bytes than the file's " +
             std::to_string(data_size) + " bytes of data");
      bytes *= uint64_t(d);
    }
    uint64_t begin = 0, end = 0;
    json::Element first, second;
    if (offs.at(0).get(first) || offs.at(1).get(second) || !json::exact_uint(first, begin) || !json::exact_uint(second, end))
      tbad("data_offsets must be non-negative integers");
    if (begin > end) tbad("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] are reversed");
    if (end > data_size)
      tbad("bytes [" + std::to_string(begin) + ", " + std::to_string(end) + ") lie outside the data (" +
           std::to_string(data_size) + " bytes): the file is truncated");
    if (end - begin != bytes)
      tbad("holds " + std::to_string(end - begin) + " bytes but shape " + shape_string(e.shape) + " of " +
           e.dtype_text + " needs " + std::to_string(bytes));
    if ((data_start + begin) % uint64_t(esize) != 0)
      tbad("starts at byte " + std::to_string(data_start + begin) + " of the file, not aligned to its " +
           std::to_string(esize) + "-byte elements");
    e.data = data + begin;
    e.bytes = size_t(end - begin);
    entries.push_back(std::move(e));
    ranges.emplace_back(begin, end);
  }

  // The byte ranges must tile [0, data_size): sorted by begin, each starts where the last ended.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  uint64_t at = 0;
  for (size_t i : order) {
    const auto [begin, end] = ranges[i];
    const std::string &name = entries[i].name;
    if (begin < at) bad(path, "tensor '" + name + "' overlaps the tensor before it (bytes [" + std::to_string(begin) + ", " +
                                  std::to_string(end) + ") start before byte " + std::to_string(at) + ")");
    if (begin > at) bad(path, "a gap of " + std::to_string(begin - at) + " unused bytes before tensor '" + name + "' (at byte " +
                                  std::to_string(at) + " of the data)");
    at = end;
  }
  if (at != data_size)
    bad(path, std::to_string(data_size - at) + " bytes after the last tensor's data (the tensors cover " + std::to_string(at) +
                  " of " + std::to_string(data_size) + " bytes): the header length or an offset is wrong");

  for (TensorEntry &e : entries) {
    if (out.count(e.name)) bad(path, "tensor '" + e.name + "' appears in more than one file");
    std::string name = e.name;
    out.emplace(std::move(name), std::move(e));
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
  if (file_present(single)) {
    w.origin_ = single;
    w.files_.push_back(std::make_unique<MappedFile>(single));
    read_header(*w.files_.back(), w.tensors_);
    return w;
  }
  if (!file_present(index))
    throw Error(VL_ERR_IO, dir + ": no model.safetensors or model.safetensors.index.json (vramlab reads safetensors weights)");
  w.origin_ = index;
  const std::string text = read_regular_file(index, kMaxIndexBytes);
  simdjson::dom::parser parser;
  const json::Element root = json::parse(parser, text.data(), text.size(), index, "not valid JSON");
  const std::string twice = json::duplicate_key(root, "the file");
  if (!twice.empty()) bad(index, twice);
  simdjson::dom::object map;
  if (root.at_key("weight_map").get_object().get(map)) bad(index, "missing \"weight_map\" object");
  std::map<std::string, std::string> wanted;  // tensor -> shard
  std::vector<std::string> shards;
  for (const simdjson::dom::key_value_pair entry : map) {
    const std::string name(entry.key);
    std::string_view view;
    if (entry.value.get_string().get(view)) bad(index, "weight_map entry '" + name + "' must name a file");
    const std::string file(view);
    if (file.find('/') != std::string::npos || file.find("..") != std::string::npos)
      bad(index, "weight_map entry '" + name + "' names a file outside the model directory");
    // A C path ends at a NUL: "a.safetensors\u0000x" would open a.safetensors.
    if (file.empty() || file.find('\0') != std::string::npos)
      bad(index, "weight_map entry '" + name.substr(0, name.find('\0')) + "' names no file (an empty name, or one with a NUL byte)");
    wanted[name] = file;
    bool seen = false;
    for (const auto &s : shards) seen |= s == file;
    if (!seen) shards.push_back(file);
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
