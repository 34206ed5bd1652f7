// model.cpp: the weight layout of a Llama model, its placement (which layers live in VRAM, which in
// host memory), and filling it from safetensors files (each tensor checked against config.json
// first) or from the synthetic generator.
#include "model.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine.h"
#include "error.h"
#include "safetensors.h"
#include "synthetic.h"

namespace vl {

namespace {
size_t align256(size_t v) { return (v + 255) / 256 * 256; }  // 256-byte alignment for vector loads and cuBLAS
}  // namespace

const char *placement_name(Placement p) {
  switch (p) {
    case Placement::Resident: return "resident";
    case Placement::Stream: return "stream";
    case Placement::StreamSync: return "stream-sync";
    case Placement::Accelerate: return "accelerate";
    case Placement::Auto: return "auto";
  }
  return "?";
}

LayerWeights LayerWeights::rebased(const void *from, void *to) const {
  LayerWeights w = *this;
  for (Tensor *t = w.begin(); t != w.begin() + kTensors; t++)
    t->data = static_cast<char *>(to) + (static_cast<const char *>(t->data) - static_cast<const char *>(from));
  return w;
}

HostWeights::HostWeights(Backend &backend, size_t bytes, bool pinned) : backend_(&backend), bytes_(bytes), pinned_(pinned) {
  if (pinned) {
    data_ = static_cast<char *>(backend.host_alloc(bytes));
  } else {
    data_ = static_cast<char *>(std::aligned_alloc(4096, align256(bytes) / 4096 * 4096 + 4096));
    if (!data_) throw Error(VL_ERR_OUT_OF_MEMORY, "out of host memory for " + format_bytes(bytes) + " of streamed weights");
  }
}

HostWeights::~HostWeights() {
  if (!data_) return;
  if (pinned_) backend_->host_free(data_);
  else std::free(data_);
}

// One tensor in file order: HF name, shape, and the Tensor it fills.
struct Model::Slot {
  std::string name;
  int64_t rows;
  int64_t cols;
  bool is_vector;  // stored 1-D, (cols,)
  Tensor *target;
  bool on_host;    // a streamed layer's tensor, in host memory
};

Model::Model(Runtime &rt, ModelConfig config, std::string name)
    : rt_(rt), config_(std::move(config)), name_(std::move(name)) {
  rt_.live_models++;
}

Model::~Model() {
  scheduler_.reset();
  engine_.reset();
  resident_copy_.reset();
  pager_.reset();
  kv_.reset();
  device_.reset();
  host_.reset();
  rt_.live_models--;
}

namespace {
// A layer's tensors in file (and memory) order: HF name suffix and (rows, cols); norms are vectors,
// stored 1-D as (cols,).
struct Part { const char *name; int64_t rows, cols; bool vec; };
std::array<Part, LayerWeights::kTensors> layer_parts(const ModelConfig &c) {
  return {{{"input_layernorm.weight", 1, c.hidden_size, true},
           {"self_attn.q_proj.weight", c.q_dim(), c.hidden_size, false},
           {"self_attn.k_proj.weight", c.kv_dim(), c.hidden_size, false},
           {"self_attn.v_proj.weight", c.kv_dim(), c.hidden_size, false},
           {"self_attn.o_proj.weight", c.hidden_size, c.q_dim(), false},
           {"post_attention_layernorm.weight", 1, c.hidden_size, true},
           {"mlp.gate_proj.weight", c.intermediate_size, c.hidden_size, false},
           {"mlp.up_proj.weight", c.intermediate_size, c.hidden_size, false},
           {"mlp.down_proj.weight", c.hidden_size, c.intermediate_size, false}}};
}
size_t tensor_bytes(const ModelConfig &c, int64_t rows, int64_t cols) { return align256(size_t(rows) * size_t(cols) * dtype_size(c.dtype)); }
}  // namespace

ModelPlan Model::plan(const PlanTarget &target, const ModelConfig &c, const ModelOptions &options) {
  ModelPlan plan;
  const int L = c.num_layers;
  plan.num_layers = L;
  for (const Part &part : layer_parts(c)) {
    plan.layer_bytes += tensor_bytes(c, part.rows, part.cols);
    plan.parameters += uint64_t(L) * uint64_t(part.rows) * uint64_t(part.cols);
  }
  const size_t embed_bytes = tensor_bytes(c, c.vocab_size, c.hidden_size), norm_bytes = tensor_bytes(c, 1, c.hidden_size);
  const size_t head_bytes = c.tie_word_embeddings ? 0 : embed_bytes;
  plan.global_bytes = embed_bytes + norm_bytes + head_bytes;
  plan.parameters += uint64_t(c.vocab_size) * uint64_t(c.hidden_size) * (c.tie_word_embeddings ? 1 : 2) + uint64_t(c.hidden_size);

  // The placement asked for.
  if (options.prefetch < 0) throw Error(VL_ERR_INVALID_ARGUMENT, "prefetch must be >= 0 layers");
  plan.placement = PlacementOptions{options.placement, options.prefetch > 0 ? options.prefetch : 1, options.ring_bytes};
  const Placement p = plan.placement.placement;
  const size_t layer_bytes = plan.layer_bytes;
  if (p == Placement::Resident && plan.placement.ring_bytes > 0)
    throw Error(VL_ERR_INVALID_ARGUMENT, "a ring size was given but the placement is resident: choose stream, stream-sync, accelerate or auto");
  uint64_t ring = p == Placement::Resident ? 0 : plan.placement.ring_bytes ? plan.placement.ring_bytes : 2 * layer_bytes;
  if (p != Placement::Resident && ring < layer_bytes)
    throw Error(VL_ERR_INVALID_ARGUMENT, "the ring (" + format_bytes(ring) + ") is smaller than one layer (" +
                                             format_bytes(layer_bytes) + "); give a ring of at least one layer (--ring)");

  if (options.kv_block_tokens < 0 || options.kv_pool_tokens < 0)
    throw Error(VL_ERR_INVALID_ARGUMENT, "kv_block_tokens and kv_pool_tokens must be >= 0 (0: the default)");
  // A block's slot offsets and the per-block byte count (block_tokens x layers x kv_dim) are computed in
  // 32 bits in the kernels: bound the block size like the TypeScript API does (kvBlockTokens <= 2^20).
  if (options.kv_block_tokens > (1 << 20))
    throw Error(VL_ERR_INVALID_ARGUMENT, "kv_block_tokens " + std::to_string(options.kv_block_tokens) +
                                             " is above the limit of 1048576 tokens per block");
  KvLayout &kv = plan.kv;
  kv.dtype = target.dtypes.kv;
  kv.block_tokens = options.kv_block_tokens > 0 ? options.kv_block_tokens : 16;
  kv.n_layers = L;
  kv.kv_dim = c.kv_dim();
  const int64_t default_tokens = std::min(c.max_position_embeddings, 4096);
  const auto blocks_for = [&](int64_t tokens) { return (tokens + kv.block_tokens - 1) / kv.block_tokens; };
  // Steps up to a 2048-token prefill (or the model's positions) find room for their workspace.
  plan.max_step_tokens = std::min(c.max_position_embeddings, 2048);
  const size_t ws = Engine::workspace_bytes(c, target.dtypes.activation, plan.max_step_tokens, int32_t(blocks_for(default_tokens)));
  plan.rope_bytes = c.rope_inv_freq().size() * sizeof(float);

  // How many layers stay resident; everything is checked against the budget before any allocation.
  int K = p == Placement::Resident ? L : 0;
  const uint64_t budget = target.budget;
  if (p == Placement::Auto) {
    // Leave room for the KV pool asked for (or a default one) and the activations of a prompt of up to 512 tokens.
    KvLayout least = kv;
    least.n_blocks = int32_t(std::min<int64_t>(blocks_for(options.kv_pool_tokens > 0 ? options.kv_pool_tokens : default_tokens), INT32_MAX / kv.block_tokens));
    const size_t ws512 = Engine::workspace_bytes(c, target.dtypes.activation, std::min(c.max_position_embeddings, 512), least.n_blocks);
    const uint64_t used = target.used + plan.global_bytes + least.bytes() + ring + ws512;
    K = used >= budget ? 0 : int(std::min<uint64_t>(uint64_t(L), (budget - used) / layer_bytes));
    if (K == L) ring = 0;  // it all fits: no ring needed
  }
  plan.resident_layers = K;
  plan.placement.ring_bytes = ring;
  const uint64_t weights = plan.resident_bytes();
  int64_t pool_blocks = blocks_for(options.kv_pool_tokens > 0 ? options.kv_pool_tokens : default_tokens);
  if (options.kv_pool_tokens == 0 && target.budget_given) {
    // The pool takes what the budget leaves after the weights, the ring and a step's workspace, less a
    // margin for the small buffers of steps (a paused step's residual, a generation's tokens).
    const uint64_t margin = std::min<uint64_t>(uint64_t(256) << 20, budget / 32);
    const uint64_t taken = target.used + weights + ring + ws + margin;
    const uint64_t per_block = KvLayout{nullptr, kv.dtype, 1, kv.n_layers, kv.block_tokens, kv.kv_dim}.bytes();
    if (taken < budget) {
      pool_blocks = std::max<int64_t>(pool_blocks, int64_t((budget - taken) / per_block));
      plan.workspace_reserved = true;
    }
  }
  // A slot (block * block_tokens + offset) is an int32 on the device.
  const int64_t max_blocks = INT32_MAX / kv.block_tokens;
  if (options.kv_pool_tokens > 0 && pool_blocks > max_blocks)
    throw Error(VL_ERR_INVALID_ARGUMENT, "kv_pool_tokens " + std::to_string(options.kv_pool_tokens) + " is more than a pool can address (" +
                                             std::to_string(max_blocks * kv.block_tokens) + " tokens)");
  kv.n_blocks = int32_t(std::min(pool_blocks, max_blocks));
  // The workspace a max_step_tokens step then allocates (its block table sized by this pool).
  plan.workspace_bytes = Engine::workspace_bytes(c, target.dtypes.activation, plan.max_step_tokens, kv.n_blocks);
  return plan;
}

int64_t Model::fitting_pool_tokens(const PlanTarget &target, const ModelConfig &c, const ModelPlan &plan) {
  const size_t ws512 = Engine::workspace_bytes(c, target.dtypes.activation, std::min(c.max_position_embeddings, 512), plan.kv.n_blocks);
  const uint64_t free = target.free(), rest = plan.device_bytes() - plan.kv.bytes() + ws512;
  const uint64_t blocks = free > rest ? std::min<uint64_t>((free - rest) / plan.kv.block_bytes(), INT32_MAX / plan.kv.block_tokens) : 0;
  return int64_t(blocks) * plan.kv.block_tokens;
}

std::string Model::other_fits(const PlanTarget &target, const ModelConfig &c, const ModelOptions &options, const ModelPlan &plan) {
  std::string out;
  const int64_t tokens = fitting_pool_tokens(target, c, plan);
  if (tokens > 0 && tokens < int64_t(plan.kv.n_blocks) * plan.kv.block_tokens)
    out += ", or a KV pool of at most " + std::to_string(tokens) + " tokens fits (--kv-pool-tokens " + std::to_string(tokens) + ")";
  if (plan.placement.placement != Placement::Auto) {
    ModelOptions automatic = options;
    automatic.placement = Placement::Auto;
    const ModelPlan a = Model::plan(target, c, automatic);
    if (a.device_bytes() <= target.free())
      out += ", or --placement auto fits with " + std::to_string(a.resident_layers) + " of " + std::to_string(a.num_layers) +
             " layers resident";
  }
  return out;
}

std::vector<Model::Slot> Model::place(const ModelOptions &options) {
  const ModelConfig &c = config_;
  const int L = c.num_layers;
  const PlanTarget target = PlanTarget::of(rt_);
  const ModelPlan plan = Model::plan(target, c, options);
  placement_ = plan.placement;
  resident_layers_ = plan.resident_layers;
  layer_bytes_ = plan.layer_bytes;
  max_step_tokens_ = plan.max_step_tokens;
  workspace_reserved_ = plan.workspace_reserved;
  const int K = plan.resident_layers;
  const uint64_t ring = plan.placement.ring_bytes, weights = plan.resident_bytes();
  const KvLayout &kv = plan.kv;
  try {
    rt_.arena.check_fits(plan.device_bytes(), std::string("placing ") + name_ + " (" + placement_name(plan.placement.placement) + ": " +
                                                  std::to_string(K) + " of " + std::to_string(L) + " layers resident" +
                                                  (ring ? ", a " + format_bytes(ring) + " ring" : "") + ", a KV pool of " +
                                                  std::to_string(int64_t(kv.n_blocks) * kv.block_tokens) + " tokens)");
  } catch (const Error &e) {
    throw Error(e.status(), e.what() + other_fits(target, c, options, plan));
  }

  // A layer's tensors, with their offsets inside the layer.
  const std::array<Part, LayerWeights::kTensors> parts = layer_parts(c);
  size_t rel[LayerWeights::kTensors];
  for (size_t i = 0, at = 0; i < parts.size(); at += tensor_bytes(c, parts[i].rows, parts[i].cols), i++) rel[i] = at;
  const size_t embed_bytes = tensor_bytes(c, c.vocab_size, c.hidden_size), norm_bytes = tensor_bytes(c, 1, c.hidden_size);

  device_ = rt_.arena.alloc(weights, "loading the weights of " + name_);
  if (K < L) host_ = std::make_unique<HostWeights>(*rt_.backend, plan.host_bytes(), plan.placement.placement != Placement::Accelerate);

  // Device: embedding, resident layers, final norm, LM head. Host: streamed layers.
  char *dev = device_.as<char>();
  std::vector<Slot> slots;
  embed_tokens = Tensor{dev, c.dtype, c.vocab_size, c.hidden_size};
  slots.push_back({"model.embed_tokens.weight", c.vocab_size, c.hidden_size, false, &embed_tokens, false});
  layers.assign(size_t(L), LayerWeights{});
  for (int l = 0; l < L; l++) {
    char *base = l < K ? dev + embed_bytes + size_t(l) * layer_bytes_ : host_->data() + size_t(l - K) * layer_bytes_;
    Tensor *t = layers[size_t(l)].begin();
    for (int i = 0; i < LayerWeights::kTensors; i++) {
      t[i] = Tensor{base + rel[i], c.dtype, parts[i].rows, parts[i].cols};
      slots.push_back({"model.layers." + std::to_string(l) + "." + parts[i].name, parts[i].rows, parts[i].cols,
                       parts[i].vec, &t[i], l >= K});
    }
  }
  char *tail = dev + embed_bytes + size_t(K) * layer_bytes_;
  final_norm = Tensor{tail, c.dtype, 1, c.hidden_size};
  slots.push_back({"model.norm.weight", 1, c.hidden_size, true, &final_norm, false});
  if (c.tie_word_embeddings) {
    lm_head = embed_tokens;
  } else {
    lm_head = Tensor{tail + norm_bytes, c.dtype, c.vocab_size, c.hidden_size};
    slots.push_back({"lm_head.weight", c.vocab_size, c.hidden_size, false, &lm_head, false});
  }

  kv_ = std::make_unique<KvPool>(rt_.arena, rt_.host, kv);
  pager_ = std::make_unique<KvPager>(*rt_.backend, *kv_, options.paging);
  engine_ = std::make_unique<Engine>(*this);
  scheduler_ = std::make_unique<Scheduler>(*this);
  return slots;
}

HostWeights &Model::resident_copy() {
  if (!resident_copy_) {
    auto copy = std::make_unique<HostWeights>(*rt_.backend, device_.bytes(), true);
    rt_.backend->copy(copy->data(), device_.get(), device_.bytes(), CopyKind::DeviceToHost, StreamId::Compute);
    rt_.backend->synchronize(StreamId::Compute);
    resident_copy_ = std::move(copy);
  }
  return *resident_copy_;
}

Model::Dir Model::open_dir(const std::string &dir) {
  ModelConfig cfg = load_config(dir + "/config.json");
  WeightFiles files = WeightFiles::open_dir(dir);
  std::string name = dir;
  while (name.size() > 1 && name.back() == '/') name.pop_back();
  if (size_t slash = name.rfind('/'); slash != std::string::npos) name = name.substr(slash + 1);

  // The weights' dtype: the config's when it names one, else the embedding's.
  if (!cfg.dtype_declared) {
    if (const TensorEntry *e = files.find("model.embed_tokens.weight"); e && e->readable) cfg.dtype = e->dtype;
  }

  // Check every tensor against the config before touching the device.
  struct Check { std::string name; std::vector<int64_t> shape; };
  std::vector<Check> expected;
  {
    const ModelConfig &c = cfg;
    auto add = [&](std::string n, std::vector<int64_t> s) { expected.push_back({std::move(n), std::move(s)}); };
    add("model.embed_tokens.weight", {c.vocab_size, c.hidden_size});
    for (int l = 0; l < c.num_layers; l++)
      for (const Part &part : layer_parts(c))
        add("model.layers." + std::to_string(l) + "." + part.name,
            part.vec ? std::vector<int64_t>{part.cols} : std::vector<int64_t>{part.rows, part.cols});
    add("model.norm.weight", {c.hidden_size});
    if (!c.tie_word_embeddings) add("lm_head.weight", {c.vocab_size, c.hidden_size});
  }
  for (const Check &x : expected) {
    const TensorEntry *e = files.find(x.name);
    if (!e) {
      std::string why = x.name == "lm_head.weight" ? " (config.json has tie_word_embeddings: false)" : "";
      throw Error(VL_ERR_FORMAT, files.origin() + ": missing tensor '" + x.name + "'" + why);
    }
    if (!e->readable)
      throw Error(VL_ERR_UNSUPPORTED, e->file + ": tensor '" + x.name + "' has dtype " + e->dtype_text +
                                          " (vramlab reads F16, BF16 and F32)");
    if (e->shape != x.shape)
      throw Error(VL_ERR_FORMAT, e->file + ": tensor '" + x.name + "' has shape " + shape_string(e->shape) +
                                     " but config.json implies " + shape_string(x.shape));
    if (e->dtype != cfg.dtype)
      throw Error(VL_ERR_FORMAT, e->file + ": tensor '" + x.name + "' is " + dtype_name(e->dtype) + " but " +
                                     (cfg.dtype_declared ? "config.json declares " : "the embedding is ") +
                                     dtype_name(cfg.dtype));
  }
  return Dir{std::move(cfg), std::move(files), std::move(name)};
}

std::unique_ptr<Model> Model::load_dir(Runtime &rt, const std::string &dir, const ModelOptions &options) {
  LoadProgress progress(rt);
  Dir d = open_dir(dir);
  const WeightFiles &files = d.files;
  std::unique_ptr<Model> m(new Model(rt, d.config, d.name));
  std::vector<Slot> slots = m->place(options);
  // The progress counts each tensor's placed (256-byte aligned) bytes, weight_bytes() in all, as it is
  // read from the mapped file and copied where it lives.
  progress.set_total(m->weight_bytes());
  Backend &be = *rt.backend;
  for (const Slot &s : slots) {
    const TensorEntry *e = files.find(s.name);
    if (s.on_host) std::memcpy(s.target->data, e->data, e->bytes);
    else be.copy(s.target->data, e->data, e->bytes, CopyKind::HostToDevice, StreamId::Compute);
    progress.done(tensor_bytes(d.config, s.rows, s.cols));
  }
  be.synchronize(StreamId::Compute);
  return m;
}

std::unique_ptr<Model> Model::synthetic(Runtime &rt, const ModelConfig &config, uint64_t seed, const ModelOptions &options) {
  LoadProgress progress(rt);
  config.validate("synthetic model");
  const ModelConfig &c = config;
  std::string name = "synthetic-h" + std::to_string(c.hidden_size) + "-l" + std::to_string(c.num_layers);
  std::unique_ptr<Model> m(new Model(rt, config, name));
  std::vector<Slot> slots = m->place(options);
  progress.set_total(m->weight_bytes());  // each tensor's placed bytes, counted chunk by chunk as generated

  // Matrices: uniform with std 0.02 (transformers' initializer_range); norms: 1 +- 0.1. Streamed
  // layers are generated in place in host memory; the rest on the host in chunks through one pinned
  // staging buffer, then copied to the device.
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
        char *to = static_cast<char *>(s.target->data) + first * esz;
        if (s.on_host) {
          fill_synthetic(to, c.dtype, first, count, seed, i, center, half);  // in place, in host memory
        } else {
          fill_synthetic(staging, c.dtype, first, count, seed, i, center, half);
          be.copy(to, staging, count * esz, CopyKind::HostToDevice, StreamId::Compute);
          be.synchronize(StreamId::Compute);
        }
        progress.done(count * esz);
      }
      progress.done(tensor_bytes(c, s.rows, s.cols) - n * esz);  // the tensor's alignment
    }
  } catch (...) {
    be.host_free(staging);
    throw;
  }
  be.host_free(staging);
  return m;
}

}  // namespace vl
