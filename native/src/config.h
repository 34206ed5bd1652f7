// config.h: the Llama-family shape of a model, read from a HuggingFace config.json
// (transformers 4: rope_theta / rope_scaling at top level; transformers 5: rope_parameters) or
// given for a synthetic model.
#pragma once
#include <string>
#include <vector>

#include "dtype.h"

namespace vl {

struct RopeConfig {
  std::string type = "default";  // default | linear | llama3
  double theta = 10000.0;
  double factor = 1.0;           // linear, llama3
  double low_freq_factor = 1.0;  // llama3
  double high_freq_factor = 4.0; // llama3
  double original_max_position = 8192;  // llama3
};

struct ModelConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool dtype_declared = false;  // config.json named a dtype the weights must have
  DType dtype = DType::F16;
  float rms_norm_eps = 1e-6f;
  RopeConfig rope;

  int q_dim() const { return num_heads * head_dim; }
  int kv_dim() const { return num_kv_heads * head_dim; }
  // Throws Error(VL_ERR_FORMAT) naming `where` when a dimension is missing or inconsistent.
  void validate(const std::string &where) const;
  // The rotary inverse frequencies (head_dim / 2), rope scaling applied and rounded to the weights'
  // dtype, as transformers does.
  std::vector<float> rope_inv_freq() const;

};

// Reads DIR/config.json. Throws Error with the file's path in the message.
ModelConfig load_config(const std::string &path);

}  // namespace vl
