// model.cpp: the weight layout of a Llama model on the device, filled from safetensors files
// (each tensor checked against config.json first) or from the synthetic generator.
#include "model.h"

#include <algorithm>
#include <cmath>

#include "engine.h"
#include "error.h"
#include "safetensors.h"
#include "synthetic.h"

namespace vl {

// One tensor of the layout: HF name, shape, where it goes in the weights buffer, how synthetic
// weights initialise it.
struct Model::Slot {
  std::string name;
  int64_t rows;
  int64_t cols;
  bool is_vector;  // stored 1-D, (cols,)
  size_t offset;   // bytes into the weights buffer
  Tensor *target;
  size_t bytes(DType t) const { return size_t(rows) * size_t(cols) * dtype_size(t); }
};

Model::Model(Runtime &rt, ModelConfig config, std::string name)
    : rt_(rt), config_(std::move(config)), name_(std::move(name)) {
  rt_.live_models++;
}

Model::~Model() {
  engine_.reset();
  kv_.reset();
  weights_.reset();
  rt_.live_models--;
}

std::vector<Model::Slot> Model::layout() {
  // Order: embedding, then each layer's nine tensors together (one contiguous range per layer, the
  // unit that streaming copies), then the final norm and the LM head.
  const ModelConfig &c = config_;
  layers.resize(size_t(c.num_layers));
  std::vector<Slot> s;
  s.push_back({"model.embed_tokens.weight", c.vocab_size, c.hidden_size, false, 0, &embed_tokens});
  for (int l = 0; l < c.num_layers; l++) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights &w = layers[size_t(l)];
    s.push_back({p + "input_layernorm.weight", 1, c.hidden_size, true, 0, &w.attn_norm});
    s.push_back({p + "self_attn.q_proj.weight", c.q_dim(), c.hidden_size, false, 0, &w.wq});
    s.push_back({p + "self_attn.k_proj.weight", c.kv_dim(), c.hidden_size, false, 0, &w.wk});
    s.push_back({p + "self_attn.v_proj.weight", c.kv_dim(), c.hidden_size, false, 0, &w.wv});
    s.push_back({p + "self_attn.o_proj.weight", c.hidden_size, c.q_dim(), false, 0, &w.wo});
    s.push_back({p + "post_attention_layernorm.weight", 1, c.hidden_size, true, 0, &w.mlp_norm});
    s.push_back({p + "mlp.gate_proj.weight", c.intermediate_size, c.hidden_size, false, 0, &w.w_gate});
    s.push_back({p + "mlp.up_proj.weight", c.intermediate_size, c.hidden_size, false, 0, &w.w_up});
    s.push_back({p + "mlp.down_proj.weight", c.hidden_size, c.intermediate_size, false, 0, &w.w_down});
  }
  s.push_back({"model.norm.weight", 1, c.hidden_size, true, 0, &final_norm});
  if (!c.tie_word_embeddings) s.push_back({"lm_head.weight", c.vocab_size, c.hidden_size, false, 0, &lm_head});
  size_t off = 0;
  for (Slot &slot : s) {
    slot.offset = off;
    off += (slot.bytes(c.dtype) + 255) / 256 * 256;  // 256-byte alignment for vector loads and cuBLAS
  }
  return s;
}

void Model::allocate(const std::vector<Slot> &slots, const vl_model_options *options) {
  const ModelConfig &c = config_;
  const Slot &last = slots.back();
  size_t total = last.offset + last.bytes(c.dtype);
  weights_ = rt_.arena.alloc(total, "loading the weights of " + name_);
  for (const Slot &s : slots) *s.target = Tensor{weights_.as<char>() + s.offset, c.dtype, s.rows, s.cols};
  if (c.tie_word_embeddings) lm_head = embed_tokens;

  int32_t block_tokens = options && options->kv_block_tokens > 0 ? options->kv_block_tokens : 16;
  int32_t pool_tokens = options && options->kv_pool_tokens > 0 ? options->kv_pool_tokens
                                                               : std::min(c.max_position_embeddings, 4096);
  KvLayout kv;
  kv.dtype = rt_.backend->kv_dtype();
  kv.block_tokens = block_tokens;
  kv.n_blocks = (pool_tokens + block_tokens - 1) / block_tokens;
  kv.n_layers = c.num_layers;
  kv.kv_dim = c.kv_dim();
  kv_ = std::make_unique<KvPool>(rt_.arena, kv);
  engine_ = std::make_unique<Engine>(*this);
}

std::unique_ptr<Model> Model::load_dir(Runtime &rt, const std::string &dir, const vl_model_options *options) {
  ModelConfig cfg = load_config(dir + "/config.json");
  WeightFiles files = WeightFiles::open_dir(dir);
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (size_t slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);

  // The weights' dtype: the config's when it names one, else the embedding's.
  if (!cfg.dtype_declared) {
    if (const TensorEntry *e = files.find("model.embed_tokens.weight")) cfg.dtype = e->dtype;
  }
  std::unique_ptr<Model> m(new Model(rt, cfg, name));
  std::vector<Slot> slots = m->layout();

  // Check every tensor against the config before touching the device.
  std::vector<const TensorEntry *> entries;
  for (const Slot &s : slots) {
    const TensorEntry *e = files.find(s.name);
    if (!e) {
      std::string why = s.name == "lm_head.weight" ? " (config.json has tie_word_embeddings: false)" : "";
      throw Error(VL_ERR_FORMAT, files.origin() + ": missing tensor '" + s.name + "'" + why);
    }
    std::vector<int64_t> want = s.is_vector ? std::vector<int64_t>{s.cols} : std::vector<int64_t>{s.rows, s.cols};
    if (e->shape != want)
      throw Error(VL_ERR_FORMAT, e->file + ": tensor '" + s.name + "' has shape " + shape_string(e->shape) +
                                     " but config.json implies " + shape_string(want));
    if (e->dtype != cfg.dtype)
      throw Error(VL_ERR_FORMAT, e->file + ": tensor '" + s.name + "' is " + dtype_name(e->dtype) + " but " +
                                     (cfg.dtype_declared ? "config.json declares " : "the embedding is ") +
                                     dtype_name(cfg.dtype));
    entries.push_back(e);
  }

  m->allocate(slots, options);
  Backend &be = *rt.backend;
  for (size_t i = 0; i < slots.size(); i++)
    be.copy(slots[i].target->data, entries[i]->data, entries[i]->bytes, CopyKind::HostToDevice, StreamId::Compute);
  be.synchronize(StreamId::Compute);
  return m;
}

std::unique_ptr<Model> Model::synthetic(Runtime &rt, const ModelConfig &config, uint64_t seed,
                                        const vl_model_options *options) {
  config.validate("synthetic model");
  const ModelConfig &c = config;
  std::string name = "synthetic-h" + std::to_string(c.hidden_size) + "-l" + std::to_string(c.num_layers);
  std::unique_ptr<Model> m(new Model(rt, config, name));
  std::vector<Slot> slots = m->layout();
  m->allocate(slots, options);

  // Generate on the host in chunks through one pinned staging buffer and copy each to the device.
  // Matrices: uniform with std 0.02 (transformers' initializer_range); norms: 1 +- 0.1.
  Backend &be = *rt.backend;
  const size_t chunk = size_t(64) << 20;
  void *staging = be.host_alloc(chunk);
  try {
    const size_t esz = dtype_size(c.dtype);
    for (size_t i = 0; i < slots.size(); i++) {
      const Slot &s = slots[i];
      const size_t n = size_t(s.rows) * size_t(s.cols);
      const float center = s.is_vector ? 1.0f : 0.0f;
      const float half = s.is_vector ? 0.1f : 0.02f * std::sqrt(3.0f);
      for (size_t first = 0; first < n; first += chunk / esz) {
        size_t count = std::min(chunk / esz, n - first);
        fill_synthetic(staging, c.dtype, first, count, seed, i, center, half);
        be.copy(static_cast<char *>(s.target->data) + first * esz, staging, count * esz, CopyKind::HostToDevice,
                StreamId::Compute);
        be.synchronize(StreamId::Compute);
      }
    }
  } catch (...) {
    be.host_free(staging);
    throw;
  }
  be.host_free(staging);
  return m;
}

}  // namespace vl
