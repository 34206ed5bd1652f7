// model.h: a Llama-family model on a runtime's device: its config, its weights, its KV block pool
// with the pager that moves blocks between VRAM and host memory (and the registry of its sessions),
// and its engine. Weights are placed per layer: resident layers in VRAM, streamed layers in host
// memory (they flow through the engine's ring buffer). The embedding, the final norm and the LM head
// are always resident. A layer's nine tensors are one contiguous byte range with the same internal
// offsets in every layer, so streaming copies one range per layer.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arena.h"
#include "config.h"
#include "kv_pager.h"
#include "kv_pool.h"
#include "runtime.h"
#include "safetensors.h"
#include "scheduler.h"

namespace vl {

class Engine;

// Where the layers live (model.cpp's place() says how each one works).
enum class Placement : int32_t { Resident, Stream, StreamSync, Accelerate, Auto };
const char *placement_name(Placement p);

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

  static constexpr int kTensors = 9;
  Tensor *begin() { return &attn_norm; }
  // The same tensors at another base address (a ring slot): offsets kept relative to `from`.
  LayerWeights rebased(const void *from, void *to) const;
};

// Host memory holding the streamed layers: pinned (stream, stream-sync, auto) or pageable (accelerate).
class HostWeights {
 public:
  HostWeights(Backend &backend, size_t bytes, bool pinned);
  ~HostWeights();
  HostWeights(const HostWeights &) = delete;
  HostWeights &operator=(const HostWeights &) = delete;
  char *data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  Backend *backend_ = nullptr;
  char *data_ = nullptr;
  size_t bytes_ = 0;
  bool pinned_ = false;
};

struct PlacementOptions {
  Placement placement = Placement::Resident;
  int32_t prefetch = 1;
  uint64_t ring_bytes = 0;  // 0: two layers
};

// How to load a model (the C ABI's vl_model_options, checked).
struct ModelOptions {
  int32_t kv_block_tokens = 0;  // 0: 16
  int64_t kv_pool_tokens = 0;   // 0: with a budget given, what it leaves after the weights, ring and workspace;
                                //    else max_position_embeddings, at most 4096
  Placement placement = Placement::Resident;
  int32_t prefetch = 0;         // streamed layers copied ahead; 0: 1
  uint64_t ring_bytes = 0;      // 0: two layers
  PagingPolicy paging = PagingPolicy::Lru;
};

// What loading a model with given options places where, decided before anything is allocated:
// Model::plan() decides it, place() allocates exactly it, and vl_model_describe reports it without
// loading (vramlab info). Every byte count is the loader's own (tensors 256-byte aligned).
struct ModelPlan {
  PlacementOptions placement;   // ring_bytes: the ring's capacity, 0 when every layer is resident
  int32_t num_layers = 0;
  int32_t resident_layers = 0;  // layers [0, resident_layers) in VRAM, the rest in host memory
  uint64_t parameters = 0;      // weight elements, every tensor
  size_t layer_bytes = 0;       // one layer's nine tensors
  size_t global_bytes = 0;      // embedding, final norm and LM head (always resident)
  KvLayout kv;                  // the device pool (base null): n_blocks of block_tokens positions
  int32_t max_step_tokens = 0;  // steps up to this long find their workspace
  size_t workspace_bytes = 0;   // the activations of a max_step_tokens step (allocated at the first step)
  bool workspace_reserved = false;  // the pool took the budget's rest, less room for that workspace
  size_t rope_bytes = 0;        // the rotary frequencies the engine keeps on the device, (head_dim / 2) floats

  uint64_t resident_bytes() const { return global_bytes + uint64_t(resident_layers) * layer_bytes; }
  uint64_t host_bytes() const { return uint64_t(num_layers - resident_layers) * layer_bytes; }
  // What the load allocates under the VRAM budget: the resident weights, the ring, the KV pool and the
  // rotary frequencies.
  uint64_t device_bytes() const { return resident_bytes() + placement.ring_bytes + kv.bytes() + rope_bytes; }
};

// What a plan is made for: the dtypes a device computes in and its VRAM budget, a runtime's (of()) or
// those of a device this machine need not have (vl_model_describe_for).
struct PlanTarget {
  BackendDtypes dtypes;
  uint64_t budget = 0;        // the VRAM budget
  uint64_t used = 0;          // of it, allocated already
  bool budget_given = false;  // the budget was asked for: the default KV pool takes what it leaves
  static PlanTarget of(const Runtime &rt) {
    return {{rt.backend->activation_dtype(), rt.backend->kv_dtype()}, rt.arena.budget(), rt.arena.current(), rt.budget_given};
  }
  uint64_t free() const { return budget > used ? budget - used : 0; }
};

class Model {
 public:
  static std::unique_ptr<Model> load_dir(Runtime &rt, const std::string &dir, const ModelOptions &options);
  static std::unique_ptr<Model> synthetic(Runtime &rt, const ModelConfig &config, uint64_t seed, const ModelOptions &options);
  // A model directory opened and checked: config.json, and every tensor's safetensors header against
  // it (the weights' dtype from the embedding when config.json names none). The files are mapped,
  // their data not read: vl_model_describe stops here, load_dir copies the tensors.
  struct Dir {
    ModelConfig config;
    WeightFiles files;
    std::string name;  // the directory's last component
  };
  static Dir open_dir(const std::string &dir);
  // The placement a load on the target would choose (its budget and what is allocated already), without
  // allocating; throws only for options the load rejects too. The load itself also checks the budget.
  static ModelPlan plan(const PlanTarget &target, const ModelConfig &config, const ModelOptions &options);
  // The largest KV pool, in tokens (whole blocks), with which the rest of the plan and the activations
  // of a prompt of up to 512 tokens (the room the auto placement leaves them) fit what the target has
  // free; 0 when not even one block does.
  static int64_t fitting_pool_tokens(const PlanTarget &target, const ModelConfig &config, const ModelPlan &plan);
  // For a plan that does not fit the target's free VRAM: what else would make it fit besides a larger
  // budget, as text to follow "raise the budget ...": a smaller KV pool (fitting_pool_tokens) and the
  // auto placement, each only when it fits; "" when neither does.
  static std::string other_fits(const PlanTarget &target, const ModelConfig &config, const ModelOptions &options, const ModelPlan &plan);
  ~Model();

  Runtime &runtime() { return rt_; }
  const ModelConfig &config() const { return config_; }
  const std::string &name() const { return name_; }

  Tensor embed_tokens;              // (V, H)
  std::vector<LayerWeights> layers; // in VRAM for l < resident_layers(), else in host memory
  Tensor final_norm;                // (1, H)
  Tensor lm_head;                   // (V, H); the embedding when tie_word_embeddings

  const PlacementOptions &placement() const { return placement_; }
  int32_t resident_layers() const { return resident_layers_; }
  bool streams() const { return resident_layers_ < config_.num_layers; }
  size_t layer_bytes() const { return layer_bytes_; }
  // Streamed layer l (>= resident_layers()) as one host byte range.
  const char *host_layer(int32_t l) const { return host_->data() + size_t(l - resident_layers_) * layer_bytes_; }
  uint64_t resident_bytes() const { return device_.bytes(); }
  uint64_t host_bytes() const { return host_ ? host_->bytes() : 0; }
  uint64_t weight_bytes() const { return resident_bytes() + host_bytes(); }
  // The resident weights (embedding, resident layers, norm, LM head) as one device range.
  void *resident_data() const { return device_.get(); }
  // A pinned host copy of the resident weights, made at the first call (Engine::reload_weights).
  HostWeights &resident_copy();

  KvPool &kv_pool() { return *kv_; }
  KvPager &pager() { return *pager_; }
  Scheduler &scheduler() { return *scheduler_; }
  Engine &engine() { return *engine_; }
  std::atomic<int> live_sessions{0};
  // Steps of up to this many tokens always find their workspace: it is set aside when the KV pool is
  // sized from the budget.
  int32_t max_step_tokens() const { return max_step_tokens_; }
  // True when the budget kept that room (the pool took the rest): the engine then takes the whole
  // max_step_tokens workspace at its first step instead of growing it.
  bool workspace_reserved() const { return workspace_reserved_; }

 private:
  struct Slot;
  Model(Runtime &rt, ModelConfig config, std::string name);
  // Chooses the placement, allocates VRAM and host memory, and points every tensor at its bytes;
  // returns the tensors in file order with their destinations. Throws before allocating when the
  // budget cannot hold the plan.
  std::vector<Slot> place(const ModelOptions &options);

  Runtime &rt_;
  ModelConfig config_;
  std::string name_;
  PlacementOptions placement_;
  int32_t resident_layers_ = 0;
  size_t layer_bytes_ = 0;
  Buffer device_;  // embedding, resident layers, final norm, LM head
  std::unique_ptr<HostWeights> host_;  // streamed layers, when there are any
  std::unique_ptr<HostWeights> resident_copy_;  // the resident weights again, pinned (serverless reloads)
  int32_t max_step_tokens_ = 0;
  bool workspace_reserved_ = false;
  std::unique_ptr<KvPool> kv_;
  std::unique_ptr<KvPager> pager_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Scheduler> scheduler_;
};

}  // namespace vl
