// safetensors.h: read-only access to a model's weights in HuggingFace safetensors files, one
// file (model.safetensors) or a sharded set (model.safetensors.index.json). Files are mmapped;
// every header is validated (length, JSON, dtypes, shapes, byte ranges) before any tensor is used.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dtype.h"

namespace vl {

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;       // valid when readable
  std::string dtype_text;         // as the file names it: "F16", "I8", ...
  bool readable = false;          // a dtype vramlab computes with (F16, BF16, F32)
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr;  // into the mmapped file
  size_t bytes = 0;
  std::string file;  // path of the file holding it, for messages
};

class MappedFile;

class WeightFiles {
 public:
  // Opens DIR/model.safetensors, or the shards named by DIR/model.safetensors.index.json.
  // Throws Error naming the file and what is wrong.
  static WeightFiles open_dir(const std::string &dir);
  ~WeightFiles();
  WeightFiles(WeightFiles &&) noexcept;
  WeightFiles &operator=(WeightFiles &&) noexcept;

  // The tensor named `name`, or nullptr.
  const TensorEntry *find(const std::string &name) const;
  // Where messages should point: the single file or the index file.
  const std::string &origin() const { return origin_; }

 private:
  WeightFiles() = default;
  std::vector<std::unique_ptr<MappedFile>> files_;
  std::map<std::string, TensorEntry> tensors_;
  std::string origin_;
};

std::string shape_string(const std::vector<int64_t> &shape);

}  // namespace vl
