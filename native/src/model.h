// model.h: a Llama-family model on a runtime's device: its config, its weights (resident, in one
// device allocation laid out layer by layer so a layer is one contiguous byte range), its KV block
// pool and its engine.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "arena.h"
#include "config.h"
#include "kv_pool.h"
#include "runtime.h"

namespace vl {

class Engine;

// Shapes follow HuggingFace's LlamaForCausalLM: nn.Linear weights are (out_features, in_features).
struct LayerWeights {
  Tensor attn_norm;  // (1, H)
  Tensor wq;         // (nh * hd, H)
  Tensor wk;         // (nkv * hd, H)
  Tensor wv;         // (nkv * hd, H)
  Tensor wo;         // (H, nh * hd)
  Tensor mlp_norm;   // (1, H)
  Tensor w_gate;     // (F, H)
  Tensor w_up;       // (F, H)
  Tensor w_down;     // (H, F)
};

class Model {
 public:
  static std::unique_ptr<Model> load_dir(Runtime &rt, const std::string &dir, const vl_model_options *options);
  static std::unique_ptr<Model> synthetic(Runtime &rt, const ModelConfig &config, uint64_t seed,
                                          const vl_model_options *options);
  ~Model();

  Runtime &runtime() { return rt_; }
  const ModelConfig &config() const { return config_; }
  const std::string &name() const { return name_; }
  uint64_t weight_bytes() const { return weights_.bytes(); }

  Tensor embed_tokens;            // (V, H)
  std::vector<LayerWeights> layers;
  Tensor final_norm;              // (1, H)
  Tensor lm_head;                 // (V, H); the embedding when tie_word_embeddings

  KvPool &kv_pool() { return *kv_; }
  Engine &engine() { return *engine_; }
  std::atomic<int> live_sessions{0};

 private:
  struct Slot;
  Model(Runtime &rt, ModelConfig config, std::string name);
  // Sets the layer list and returns every tensor's place in the weights buffer.
  std::vector<Slot> layout();
  void allocate(const std::vector<Slot> &slots, const vl_model_options *options);

  Runtime &rt_;
  ModelConfig config_;
  std::string name_;
  DeviceBuffer weights_;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace vl
