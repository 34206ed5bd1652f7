#include "engine.h"

#include <cmath>
#include <vector>

#include "error.h"
#include "model.h"

namespace vl {

namespace {
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

Engine::Engine(Model &model) : m_(model), be_(*model.runtime().backend) {
  std::vector<float> inv = m_.config().rope_inv_freq();
  inv_freq_ = m_.runtime().arena.alloc(inv.size() * sizeof(float), "rotary frequencies");
  be_.copy(inv_freq_.get(), inv.data(), inv.size() * sizeof(float), CopyKind::HostToDevice, StreamId::Compute);
  be_.synchronize(StreamId::Compute);
}

void Engine::ensure_workspace(int32_t tokens) {
  if (tokens <= ws_tokens_) return;
  const ModelConfig &c = m_.config();
  const DType act = be_.activation_dtype();
  const int32_t T = int32_t(align_up(size_t(tokens), 16));
  const int32_t pool_blocks = m_.kv_pool().layout().n_blocks;
  struct Part {
    Tensor *t;
    DType dtype;
    int64_t cols;
  };
  Part parts[] = {{&x_, DType::F32, c.hidden_size}, {&h_, act, c.hidden_size},  {&q_, act, c.q_dim()},
                  {&k_, act, c.kv_dim()},           {&v_, act, c.kv_dim()},      {&attn_, act, c.q_dim()},
                  {&gate_, act, c.intermediate_size}, {&up_, act, c.intermediate_size}, {&logits_, DType::F32, c.vocab_size}};
  size_t total = 0;
  for (const Part &p : parts) total += align_up(size_t(T) * size_t(p.cols) * dtype_size(p.dtype), 256);
  const size_t ints = align_up(size_t(T) * 4, 256);
  total += 3 * ints + align_up(size_t(pool_blocks) * 4, 256);

  ws_.reset();  // give the old workspace back first so growing fits a tight budget
  ws_tokens_ = 0;
  ws_ = m_.runtime().arena.alloc(total, "the activation workspace for " + std::to_string(T) + " tokens");
  char *p = ws_.as<char>();
  for (const Part &part : parts) {
    *part.t = Tensor{p, part.dtype, T, part.cols};
    p += align_up(part.t->bytes(), 256);
  }
  ids_ = reinterpret_cast<int32_t *>(p);
  positions_ = reinterpret_cast<int32_t *>(p + ints);
  slots_ = reinterpret_cast<int32_t *>(p + 2 * ints);
  table_ = reinterpret_cast<int32_t *>(p + 3 * ints);
  ws_tokens_ = T;
}

void Engine::run_layer(int32_t l, int32_t n) {
  const ModelConfig &c = m_.config();
  const LayerWeights &w = m_.layers[size_t(l)];
  Tensor x = x_.rows_slice(0, n), h = h_.rows_slice(0, n), q = q_.rows_slice(0, n), k = k_.rows_slice(0, n),
         v = v_.rows_slice(0, n), attn = attn_.rows_slice(0, n), gate = gate_.rows_slice(0, n),
         up = up_.rows_slice(0, n);
  const float *inv_freq = inv_freq_.as<float>();

  // Attention block: x += o_proj(attention(rope(q), rope(k), v)) over the paged KV cache.
  be_.rmsnorm(h, x, w.attn_norm, c.rms_norm_eps);
  be_.matmul(q, h, w.wq, false);
  be_.matmul(k, h, w.wk, false);
  be_.matmul(v, h, w.wv, false);
  be_.rope(q, c.head_dim, positions_, inv_freq);
  be_.rope(k, c.head_dim, positions_, inv_freq);
  be_.kv_store(m_.kv_pool().layout(), l, k, v, slots_);
  be_.attention(attn, q, m_.kv_pool().layout(), l, table_, positions_, c.num_heads, c.num_kv_heads, c.head_dim,
                1.0f / std::sqrt(float(c.head_dim)));
  be_.matmul(x, attn, w.wo, true);

  // MLP block: x += down(silu(gate(h)) * up(h)).
  be_.rmsnorm(h, x, w.mlp_norm, c.rms_norm_eps);
  be_.matmul(gate, h, w.w_gate, false);
  be_.matmul(up, h, w.w_up, false);
  be_.swiglu(gate, gate, up);
  be_.matmul(x, gate, w.w_down, true);
}

void Engine::forward(BlockTable &table, const int32_t *ids, int32_t n, int32_t logits_rows, float *out) {
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
    std::vector<int32_t> positions(static_cast<size_t>(n)), slots(static_cast<size_t>(n));
    for (int32_t t = 0; t < n; t++) {
      positions[size_t(t)] = start + t;
      slots[size_t(t)] = table.slot(start + t);
    }
    const std::vector<int32_t> &blocks = table.blocks();
    be_.copy(ids_, ids, size_t(n) * 4, CopyKind::HostToDevice, StreamId::Compute);
    be_.copy(positions_, positions.data(), size_t(n) * 4, CopyKind::HostToDevice, StreamId::Compute);
    be_.copy(slots_, slots.data(), size_t(n) * 4, CopyKind::HostToDevice, StreamId::Compute);
    be_.copy(table_, blocks.data(), blocks.size() * 4, CopyKind::HostToDevice, StreamId::Compute);

    be_.embed(x_.rows_slice(0, n), m_.embed_tokens, ids_);
    for (int32_t l = 0; l < c.num_layers; l++) run_layer(l, n);

    if (logits_rows > 0) {
      const int32_t first = n - logits_rows;
      Tensor h = h_.rows_slice(0, logits_rows), logits = logits_.rows_slice(0, logits_rows);
      be_.rmsnorm(h, x_.rows_slice(first, logits_rows), m_.final_norm, c.rms_norm_eps);
      be_.matmul(logits, h, m_.lm_head, false);
      be_.copy(out, logits.data, logits.bytes(), CopyKind::DeviceToHost, StreamId::Compute);
    }
    be_.synchronize(StreamId::Compute);
    table.commit(n);
  } catch (...) {
    table.rollback(added);
    throw;
  }
}

}  // namespace vl
