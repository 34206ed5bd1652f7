#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "error.h"
#include "model.h"

namespace vl {

namespace {
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

Engine::Engine(Model &model) : m_(model), be_(*model.runtime().backend) {
  const char *no_graphs = std::getenv("VRAMLAB_NO_GRAPHS");
  graphs_ = !(no_graphs && *no_graphs && std::string(no_graphs) != "0") && !m_.streams();
  const int32_t L = m_.config().num_layers;
  for (auto *evs : {&copy_start_, &copy_done_, &compute_start_, &compute_done_})
    for (int32_t l = 0; l < L; l++) evs->push_back(be_.event_create());
  step_start_ = be_.event_create();
  if (m_.streams()) {
    std::vector<size_t> sizes(size_t(L - m_.resident_layers()), m_.layer_bytes());
    plan_ = RingPlan::make(m_.placement().ring_bytes, sizes);
    ring_ = m_.runtime().arena.alloc(plan_.capacity, "the weight ring");
  }
  std::vector<float> inv = m_.config().rope_inv_freq();
  inv_freq_ = m_.runtime().arena.alloc(inv.size() * sizeof(float), "rotary frequencies");
  be_.copy(inv_freq_.get(), inv.data(), inv.size() * sizeof(float), CopyKind::HostToDevice, StreamId::Compute);
  be_.synchronize(StreamId::Compute);
}

Engine::~Engine() {
  be_.graph_destroy(decode_graph_);
  for (auto *evs : {&copy_start_, &copy_done_, &compute_start_, &compute_done_})
    for (Event *e : *evs) be_.event_destroy(e);
  be_.event_destroy(step_start_);
}

namespace {
// The workspace's parts for T tokens, in order: a tensor, its dtype and columns.
struct WsPart {
  Tensor *t;
  DType dtype;
  int64_t cols;
};
}  // namespace

size_t Engine::workspace_bytes(const ModelConfig &c, DType act, int32_t tokens, int32_t pool_blocks) {
  const size_t T = align_up(size_t(tokens), 16);
  const size_t per_token = 4 * size_t(c.hidden_size) + dtype_size(act) * (size_t(c.hidden_size) + 2 * size_t(c.q_dim()) +
                                                                            2 * size_t(c.kv_dim()) + 2 * size_t(c.intermediate_size)) +
                           4 * size_t(c.vocab_size);
  return T * per_token + 9 * 256 + 3 * align_up(T * 4, 256) + align_up(size_t(pool_blocks) * 4, 256);
}

void Engine::ensure_workspace(int32_t tokens) {
  if (tokens <= ws_tokens_) return;
  const ModelConfig &c = m_.config();
  const DType act = be_.activation_dtype();
  const int32_t T = int32_t(align_up(size_t(tokens), 16));
  const int32_t pool_blocks = m_.kv_pool().layout().n_blocks;
  WsPart parts[] = {{&x_, DType::F32, c.hidden_size}, {&h_, act, c.hidden_size},  {&q_, act, c.q_dim()},
                    {&k_, act, c.kv_dim()},           {&v_, act, c.kv_dim()},      {&attn_, act, c.q_dim()},
                    {&gate_, act, c.intermediate_size}, {&up_, act, c.intermediate_size}, {&logits_, DType::F32, c.vocab_size}};
  const size_t ints = align_up(size_t(T) * 4, 256);
  const size_t total = workspace_bytes(c, act, T, pool_blocks);
  ws_.reset();  // give the old workspace back first so growing fits a tight budget
  ws_tokens_ = 0;
  ws_ = m_.runtime().arena.alloc(total, "the activation workspace for " + std::to_string(T) + " tokens");
  char *p = ws_.as<char>();
  for (const WsPart &part : parts) {
    *part.t = Tensor{p, part.dtype, T, part.cols};
    p += align_up(part.t->bytes(), 256);
  }
  ids_ = reinterpret_cast<int32_t *>(p);
  positions_ = reinterpret_cast<int32_t *>(p + ints);
  slots_ = reinterpret_cast<int32_t *>(p + 2 * ints);
  table_ = reinterpret_cast<int32_t *>(p + 3 * ints);
  ws_tokens_ = T;
  ws_generation_++;
}

namespace {
// True when b starts right where a ends, so [a; b] is one weight matrix (the layout keeps q, k, v
// and gate, up adjacent; 256-byte padding can break that for odd shapes).
bool adjacent(const Tensor &a, const Tensor &b) { return static_cast<char *>(a.data) + a.bytes() == b.data; }
Tensor stacked(const Tensor &first, int64_t rows) { return Tensor{first.data, first.dtype, rows, first.cols}; }
// Columns [first, first + n) of a one-row tensor.
Tensor cols_slice(const Tensor &row, int64_t first, int64_t n) {
  return Tensor{static_cast<char *>(row.data) + size_t(first) * dtype_size(row.dtype), row.dtype, 1, n};
}
}  // namespace

void Engine::run_layer(int32_t l, int32_t n, const LayerWeights &w) {
  const ModelConfig &c = m_.config();
  const KvLayout &kv = m_.kv_pool().layout();
  const float eps = c.rms_norm_eps;
  Tensor x = x_.rows_slice(0, n), h = h_.rows_slice(0, n), q, k, v, gate, up;
  const float *inv_freq = inv_freq_.as<float>();

  // Attention block: x += o_proj(attention(rope(q), rope(k), v)) over the paged KV cache.
  if (n == 1 && adjacent(w.wq, w.wk) && adjacent(w.wk, w.wv)) {
    // Decode: one fused op (one kernel on CUDA): rmsnorm, one GEMV over [wq; wk; wv] into the row
    // q | k | v, rope of the q and k heads, k and v into the pool. h is the default chain's scratch.
    Tensor qkv{q_.data, q_.dtype, 1, c.q_dim() + 2 * c.kv_dim()};  // q_ holds >= 16 rows of q_dim
    be_.rmsnorm_qkv_rope_store(qkv, x, w.attn_norm, eps, stacked(w.wq, qkv.cols), c.head_dim, positions_, inv_freq,
                               kv, l, slots_, h);
    q = cols_slice(qkv, 0, c.q_dim());
  } else {
    q = q_.rows_slice(0, n), k = k_.rows_slice(0, n), v = v_.rows_slice(0, n);
    be_.rmsnorm(h, x, w.attn_norm, eps);
    be_.matmul(q, h, w.wq, false);
    be_.matmul(k, h, w.wk, false);
    be_.matmul(v, h, w.wv, false);
    be_.rope(q, c.head_dim, positions_, inv_freq);
    be_.rope(k, c.head_dim, positions_, inv_freq);
    be_.kv_store(kv, l, k, v, slots_);
  }
  Tensor attn = attn_.rows_slice(0, n);
  be_.attention(attn, q, kv, l, table_, positions_, c.num_heads, c.num_kv_heads, c.head_dim,
                1.0f / std::sqrt(float(c.head_dim)));
  be_.matmul(x, attn, w.wo, true);

  // MLP block: x += down(silu(gate(h)) * up(h)).
  if (n == 1) {
    // Decode: rmsnorm fused into the gate / up GEMV (one over [gate; up] when they are adjacent).
    if (adjacent(w.w_gate, w.w_up)) {
      Tensor gu{gate_.data, gate_.dtype, 1, 2 * int64_t(c.intermediate_size)};  // (1, 2F) in gate_'s >= 16 rows
      be_.rmsnorm_matmul(gu, x, w.mlp_norm, eps, stacked(w.w_gate, gu.cols), false, h);
      gate = cols_slice(gu, 0, c.intermediate_size);
      up = cols_slice(gu, c.intermediate_size, c.intermediate_size);
    } else {
      gate = gate_.rows_slice(0, 1), up = up_.rows_slice(0, 1);
      be_.rmsnorm_matmul(gate, x, w.mlp_norm, eps, w.w_gate, false, h);
      be_.rmsnorm_matmul(up, x, w.mlp_norm, eps, w.w_up, false, h);
    }
  } else {
    gate = gate_.rows_slice(0, n), up = up_.rows_slice(0, n);
    be_.rmsnorm(h, x, w.mlp_norm, eps);
    be_.matmul(gate, h, w.w_gate, false);
    be_.matmul(up, h, w.w_up, false);
  }
  // silu(gate) * up fused into the down GEMV (the default chain: swiglu in place in gate, then matmul).
  be_.swiglu_matmul(x, gate, up, w.w_down, true, gate);
}

void Engine::compute(int32_t n, int32_t logits_rows, StepStats &stats) {
  const ModelConfig &c = m_.config();
  be_.embed(x_.rows_slice(0, n), m_.embed_tokens, ids_);
  if (m_.streams()) {
    stream_layers(n, stats);
  } else {
    for (int32_t l = 0; l < c.num_layers; l++) {
      if (timeline_) be_.event_record(compute_start_[size_t(l)], StreamId::Compute);
      run_layer(l, n, m_.layers[size_t(l)]);
      if (timeline_) be_.event_record(compute_done_[size_t(l)], StreamId::Compute);
    }
  }
  if (logits_rows > 0) {
    const int32_t first = n - logits_rows;
    Tensor h = h_.rows_slice(0, logits_rows), logits = logits_.rows_slice(0, logits_rows);
    be_.rmsnorm(h, x_.rows_slice(first, logits_rows), m_.final_norm, c.rms_norm_eps);
    be_.matmul(logits, h, m_.lm_head, false);
  }
}

void Engine::stream_layers(int32_t n, StepStats &stats) {
  const int32_t L = m_.config().num_layers, K = m_.resident_layers(), S = L - K;
  const Placement p = m_.placement().placement;
  const int32_t depth = p == Placement::StreamSync ? 0 : m_.placement().prefetch;
  char *ring = ring_.as<char>();
  int32_t issued = 0;  // streamed layers whose copy is enqueued

  // Streamed layer j (layer K + j) into its ring slot, on the Copy stream.
  auto issue = [&](int32_t j) {
    const size_t l = size_t(K + j);
    if (plan_.reuse_after[size_t(j)] >= 0) be_.stream_wait(StreamId::Copy, compute_done_[size_t(K + plan_.reuse_after[size_t(j)])]);
    if (p == Placement::StreamSync && l > 0) be_.stream_wait(StreamId::Copy, compute_done_[l - 1]);  // no overlap: the ablation
    be_.event_record(copy_start_[l], StreamId::Copy);
    be_.copy(ring + plan_.offset[size_t(j)], m_.host_layer(int32_t(l)), m_.layer_bytes(), CopyKind::HostToDevice, StreamId::Copy);
    be_.event_record(copy_done_[l], StreamId::Copy);
    stats.h2d_bytes += m_.layer_bytes();
  };

  for (int32_t l = 0; l < L; l++) {
    const int32_t j = l - K;  // streamed index, negative for resident layers
    const size_t ul = size_t(l);
    if (p != Placement::Accelerate) {
      // Copy ahead up to `depth` layers past this one, as far as the ring lets us: a copy may only
      // overwrite layers whose compute is already enqueued (before this layer).
      while (issued < S && issued <= j + depth && plan_.reuse_after[size_t(issued)] < std::max(j, 0)) issue(issued++);
    }
    LayerWeights w = m_.layers[ul];
    if (j >= 0) {
      void *slot = ring + plan_.offset[size_t(j)];
      if (p == Placement::Accelerate) {
        // HF Accelerate's way: before the layer runs, copy each of its tensors from pageable host
        // memory, synchronously, on the compute stream.
        be_.event_record(copy_start_[ul], StreamId::Compute);
        LayerWeights dst = w.rebased(m_.host_layer(l), slot);
        for (int i = 0; i < LayerWeights::kTensors; i++)
          be_.copy(dst.begin()[i].data, w.begin()[i].data, w.begin()[i].bytes(), CopyKind::HostToDevice, StreamId::Compute);
        be_.event_record(copy_done_[ul], StreamId::Compute);
        stats.h2d_bytes += m_.layer_bytes();
      } else {
        be_.stream_wait(StreamId::Compute, copy_done_[ul]);
      }
      w = w.rebased(m_.host_layer(l), slot);
    }
    be_.event_record(compute_start_[ul], StreamId::Compute);
    run_layer(l, n, w);
    be_.event_record(compute_done_[ul], StreamId::Compute);
  }
}

bool Engine::replay_decode() {
  if (!graphs_) return false;
  if (!decode_graph_ || graph_generation_ != ws_generation_) {
    be_.graph_destroy(decode_graph_);
    decode_graph_ = nullptr;
    if (!be_.graph_begin()) {
      graphs_ = false;
      return false;
    }
    try {
      StepStats unused;
      timeline_ = false;  // no events inside a recorded graph
      compute(1, 1, unused);
      timeline_ = true;
    } catch (...) {
      timeline_ = true;
      be_.graph_destroy(be_.graph_end());
      throw;
    }
    decode_graph_ = be_.graph_end();
    if (!decode_graph_) {  // recording failed: run this and later steps kernel by kernel
      graphs_ = false;
      return false;
    }
    graph_generation_ = ws_generation_;
  }
  be_.graph_launch(decode_graph_);
  return true;
}

StepStats Engine::forward(BlockTable &table, const int32_t *ids, int32_t n, int32_t logits_rows, float *out) {
  const auto t0 = std::chrono::steady_clock::now();
  const ModelConfig &c = m_.config();
  if (n < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "a step needs at least one token");
  if (logits_rows != 0 && logits_rows != 1 && logits_rows != n)
    throw Error(VL_ERR_INVALID_ARGUMENT, "logits_rows must be 0, 1 or the number of tokens (" + std::to_string(n) + ")");
  if (logits_rows > 0 && !out) throw Error(VL_ERR_INVALID_ARGUMENT, "no buffer for the logits");
  for (int32_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      throw Error(VL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                               " is outside the vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");

  std::lock_guard<std::mutex> lock(mu_);
  const int32_t start = table.n_tokens();
  const int32_t added = table.reserve(n);
  try {
    ensure_workspace(n);
    // ids, positions, slots and the block table sit back to back in the workspace, as in `meta`:
    // one upload per step instead of four.
    const std::vector<int32_t> &blocks = table.blocks();
    const size_t stride = size_t(positions_ - ids_);  // int32s between the arrays
    std::vector<int32_t> meta(3 * stride + blocks.size());
    for (int32_t t = 0; t < n; t++) {
      meta[size_t(t)] = ids[t];
      meta[stride + size_t(t)] = start + t;
      meta[2 * stride + size_t(t)] = table.slot(start + t);
    }
    std::copy(blocks.begin(), blocks.end(), meta.begin() + std::ptrdiff_t(3 * stride));
    be_.copy(ids_, meta.data(), meta.size() * 4, CopyKind::HostToDevice, StreamId::Compute);

    StepStats stats;
    stats.tokens = n;
    bool replayed = n == 1 && logits_rows == 1 && replay_decode();
    if (!replayed) {
      be_.event_record(step_start_, StreamId::Compute);
      compute(n, logits_rows, stats);
    }
    if (logits_rows > 0) {
      Tensor logits = logits_.rows_slice(0, logits_rows);
      be_.copy(out, logits.data, logits.bytes(), CopyKind::DeviceToHost, StreamId::Compute);
    }
    be_.synchronize(StreamId::Compute);
    table.commit(n);
    if (!replayed) {
      // The timeline, from the events (all complete: compute waited for every copy).
      const bool streams = m_.streams();
      for (int32_t l = 0; l < c.num_layers; l++) {
        const size_t ul = size_t(l);
        LayerTiming t;
        t.compute_start = be_.event_elapsed_ms(step_start_, compute_start_[ul]);
        t.compute_end = be_.event_elapsed_ms(step_start_, compute_done_[ul]);
        if (streams && l >= m_.resident_layers()) {
          t.copy_start = be_.event_elapsed_ms(step_start_, copy_start_[ul]);
          t.copy_end = be_.event_elapsed_ms(step_start_, copy_done_[ul]);
        }
        stats.layers.push_back(t);
      }
    }
    stats.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return stats;
  } catch (...) {
    table.rollback(added);
    throw;
  }
}

}  // namespace vl
