#include "engine.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "kv_pager.h"
#include "model.h"
#include "session.h"

namespace vl {

namespace {
using Clock = std::chrono::steady_clock;
size_t align_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

Engine::Engine(Model &model) : m_(model), be_(*model.runtime().backend) {
  graphs_ = !m_.streams();
  const int32_t L = m_.config().num_layers;
  for (auto *evs : {&copy_start_, &copy_done_, &compute_start_, &compute_done_, &saved_})
    for (int32_t l = 0; l < L; l++) evs->push_back(be_.event_create());
  // A segment may begin at layer L: the resume of a pause after the last layer runs only the logits.
  for (auto *evs : {&segment_start_, &resumed_})
    for (int32_t l = 0; l <= L; l++) evs->push_back(be_.event_create());
  step_end_ = be_.event_create();
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
  for (auto &[T, g] : batch_graphs_) be_.graph_destroy(g.graph);
  for (auto *evs : {&copy_start_, &copy_done_, &compute_start_, &compute_done_, &segment_start_, &resumed_, &saved_})
    for (Event *e : *evs) be_.event_destroy(e);
  be_.event_destroy(step_end_);
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
  return T * per_token + 9 * 256 + 5 * align_up(T * 4, 256) + align_up(size_t(pool_blocks) * 4, 256);
}

void Engine::ensure_workspace(int32_t tokens) {
  if (tokens <= ws_tokens_) return;
  const ModelConfig &c = m_.config();
  const DType act = be_.activation_dtype();
  // Where the budget kept room for a max_step_tokens workspace, the first step takes all of it: a
  // workspace that grows step by step drops every recorded graph each time it grows (their addresses
  // move), and a scheduler's steps then record each batch size again.
  if (m_.workspace_reserved()) tokens = std::max(tokens, m_.max_step_tokens());
  const int32_t T = int32_t(align_up(size_t(tokens), 16));
  const int32_t pool_blocks = m_.kv_pool().layout().n_blocks;
  // q_, k_ and v_ back to back: run_layer's fused path writes (tokens, q_dim + 2 kv_dim) rows from q_.
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
  tables_ = reinterpret_cast<int32_t *>(p + 3 * ints);
  picks_ = reinterpret_cast<int32_t *>(p + 4 * ints);
  table_ = reinterpret_cast<int32_t *>(p + 5 * ints);
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
  if (adjacent(w.wq, w.wk) && adjacent(w.wk, w.wv)) {
    // One fused op: rmsnorm, one GEMM over [wq; wk; wv] into rows q | k | v, rope of the q and k
    // heads, k and v into the pool (on CUDA one kernel for a decode token; for more, rmsnorm, one
    // GEMM and one rope-and-store kernel). Attention reads q from those rows. h is the scratch of
    // the default chain. The (n, q_dim + 2 kv_dim) rows fit where q_, k_ and v_ lie back to back.
    q = Tensor{q_.data, q_.dtype, n, c.q_dim() + 2 * c.kv_dim()};
    be_.rmsnorm_qkv_rope_store(q, x, w.attn_norm, eps, stacked(w.wq, q.cols), c.head_dim, positions_, inv_freq, kv,
                               l, slots_, h);
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
  const float scale = 1.0f / std::sqrt(float(c.head_dim));
  for (const AttnGroup &g : groups_) {
    // q rows may be wider than q_dim (whole q | k | v rows): the group's rows at q's own width.
    const Tensor gq{static_cast<char *>(q.data) + size_t(g.first) * size_t(q.cols) * dtype_size(q.dtype), q.dtype, g.n, q.cols};
    be_.attention(attn.rows_slice(g.first, g.n), gq, kv, l, table_ + g.table, g.batched ? tables_ + g.first : nullptr,
                  positions_ + g.first, c.num_heads, c.num_kv_heads, c.head_dim, scale);
  }
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
    if (adjacent(w.w_gate, w.w_up)) {
      be_.matmul_pair(gate, up, h, stacked(w.w_gate, 2 * int64_t(c.intermediate_size)));  // one weight stream (CUDA)
    } else {
      be_.matmul(gate, h, w.w_gate, false);
      be_.matmul(up, h, w.w_up, false);
    }
  }
  // silu(gate) * up fused into the down GEMV (the default chain: swiglu in place in gate, then matmul).
  be_.swiglu_matmul(x, gate, up, w.w_down, true, gate);
}

void Engine::run_layers(int32_t n, int32_t first, int32_t last, StepStats &stats) {
  if (m_.streams()) return stream_layers(n, first, last, stats);
  for (int32_t l = first; l <= last; l++) {
    if (timeline_) be_.event_record(compute_start_[size_t(l)], StreamId::Compute);
    run_layer(l, n, m_.layers[size_t(l)]);
    if (timeline_) be_.event_record(compute_done_[size_t(l)], StreamId::Compute);
  }
}

void Engine::compute_logits(int32_t n, int32_t rows) {
  const int32_t first = n - rows;
  Tensor h = h_.rows_slice(0, rows), logits = logits_.rows_slice(0, rows);
  be_.rmsnorm(h, x_.rows_slice(first, rows), m_.final_norm, m_.config().rms_norm_eps);
  be_.matmul(logits, h, m_.lm_head, false);
}

void Engine::stream_layers(int32_t n, int32_t first, int32_t last, StepStats &stats) {
  const int32_t K = m_.resident_layers();
  const Placement p = m_.placement().placement;
  const int32_t depth = p == Placement::StreamSync ? 0 : m_.placement().prefetch;
  char *ring = ring_.as<char>();
  // Streamed layers whose copy is enqueued: none of this segment yet. A resumed segment copies again
  // from its first layer (other sessions may have used the ring while the step was paused), and no
  // segment copies past its last layer (the ring is not ours while paused).
  int32_t issued = std::max(first - K, 0);
  const int32_t end = last - K + 1;  // streamed layers up to `last`

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

  for (int32_t l = first; l <= last; l++) {
    const int32_t j = l - K;  // streamed index, negative for resident layers
    const size_t ul = size_t(l);
    if (p != Placement::Accelerate) {
      // Copy ahead up to `depth` layers past this one, as far as the ring lets us: a copy may only
      // overwrite layers whose compute is already enqueued (before this layer).
      while (issued < end && issued <= j + depth && plan_.reuse_after[size_t(issued)] < std::max(j, 0)) issue(issued++);
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
      be_.embed(x_.rows_slice(0, 1), m_.embed_tokens, ids_);
      run_layers(1, 0, m_.config().num_layers - 1, unused);
      compute_logits(1, 1);
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

StepStats Engine::forward(Session &s, const int32_t *ids, int32_t n, int32_t logits_rows, float *out) {
  Step step(m_.config(), ids, n, logits_rows, {}, false);
  run(s, step, out);
  return step.stats();
}

void Engine::upload_meta(const BlockTable &table, Step &st) {
  // ids, positions, slots and the block table sit back to back in the workspace, as in `meta`: one
  // upload per segment instead of four.
  const int32_t n = st.tokens();
  std::vector<int32_t> blocks;
  table.device_ids(blocks);
  const size_t stride = size_t(positions_ - ids_);  // int32s between the arrays
  std::vector<int32_t> &meta = meta_;
  meta.assign(5 * stride + blocks.size(), 0);
  for (int32_t t = 0; t < n; t++) {
    meta[size_t(t)] = st.ids_[size_t(t)];
    meta[stride + size_t(t)] = st.start_ + t;
    meta[2 * stride + size_t(t)] = table.slot(st.start_ + t);
  }
  std::copy(blocks.begin(), blocks.end(), meta.begin() + std::ptrdiff_t(5 * stride));
  be_.copy(ids_, meta.data(), meta.size() * 4, CopyKind::HostToDevice, StreamId::Compute);
  st.paused_table_ = table.generation();
  groups_.assign(1, AttnGroup{0, n, 0, false});
}

void Engine::run(Session &s, Step &st, float *out) {
  std::lock_guard<std::mutex> lock(mu_);
  run_locked(s, st, out);
}

void Engine::recompute_locked(Session &s) {
  const int32_t from = s.table().n_tokens(), dropped = s.dropped_tokens();
  if (dropped <= 0) return;
  const std::vector<int32_t> ids(s.history().begin() + from, s.history().end());
  const int32_t chunk = std::max(1, m_.max_step_tokens());
  for (int32_t off = 0; off < dropped; off += chunk) {
    Step redo(m_.config(), ids.data() + off, std::min(chunk, dropped - off), 0, {}, false);
    run_locked(s, redo, nullptr, false);
  }
  m_.pager().note_recompute(s, dropped);
}

StepStats Engine::generate(Session &s, const int32_t *ids, int32_t n, int32_t max_new, int32_t *out) {
  const auto t0 = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  BlockTable &table = s.table();
  // The prompt: a step of its own, without logits on the host; its last position's logits go to
  // logits_ below, for the first pick (x_ still holds its residual stream: the model is ours).
  Step prompt(m_.config(), ids, n, 0, {}, false);
  run_locked(s, prompt, nullptr);
  StepStats total = prompt.stats();
  if (max_new == 0) return total;

  // Decode steps 1 .. max_new - 1 at positions p0 .. p0 + steps - 1: their KV blocks reserved now, their
  // positions and slots uploaded once; token i lands in tokens[i] on the device, and bad[i] says
  // whether the logits it was picked from held a NaN or an infinity.
  const int32_t steps = max_new - 1, p0 = table.n_tokens();
  const int32_t added = m_.pager().reserve(s, steps);
  Buffer gen;  // outside the try: freed only after the synchronize of an error
  try {
    gen = m_.runtime().arena.alloc(size_t(2 * max_new + 2 * steps) * 4, "the tokens, positions and slots of a generation");
    int32_t *tokens = gen.as<int32_t>(), *bad = tokens + max_new, *pos = bad + max_new, *slots = pos + steps;
    std::vector<int32_t> meta(size_t(2 * steps));
    for (int32_t i = 0; i < steps; i++) {
      meta[size_t(i)] = p0 + i;
      meta[size_t(steps + i)] = table.slot(p0 + i);
    }
    if (steps > 0) be_.copy(pos, meta.data(), meta.size() * 4, CopyKind::HostToDevice, StreamId::Compute);
    std::vector<int32_t> &blocks = meta_;  // kept until the next upload: the copy reads it later
    table.device_ids(blocks);
    be_.copy(table_, blocks.data(), blocks.size() * 4, CopyKind::HostToDevice, StreamId::Compute);
    groups_.assign(1, AttnGroup{0, 1, 0, false});  // the decode steps: one token each
    compute_logits(n, 1);
    be_.argmax_rows(tokens, logits_.rows_slice(0, 1), bad);
    for (int32_t i = 0; i < steps; i++) {
      // Step i + 1: token i at position p0 + i, from the device (no host round trip).
      be_.copy(ids_, tokens + i, 4, CopyKind::DeviceToDevice, StreamId::Compute);
      be_.copy(positions_, pos + i, 4, CopyKind::DeviceToDevice, StreamId::Compute);
      be_.copy(slots_, slots + i, 4, CopyKind::DeviceToDevice, StreamId::Compute);
      if (!replay_decode()) {
        be_.embed(x_.rows_slice(0, 1), m_.embed_tokens, ids_);
        StepStats st;
        timeline_ = false;  // the events would be re-recorded before anyone read them
        run_layers(1, 0, m_.config().num_layers - 1, st);
        timeline_ = true;
        total.h2d_bytes += st.h2d_bytes;
        compute_logits(1, 1);
      }
      be_.argmax_rows(tokens + i + 1, logits_.rows_slice(0, 1), bad + i + 1);
      // A streamed model's next step would copy layers into ring slots that this step may still read.
      if (m_.streams()) be_.synchronize(StreamId::Compute);
    }
    std::vector<int32_t> flags(static_cast<size_t>(max_new));
    be_.copy(out, tokens, size_t(max_new) * 4, CopyKind::DeviceToHost, StreamId::Compute);
    be_.copy(flags.data(), bad, flags.size() * 4, CopyKind::DeviceToHost, StreamId::Compute);
    be_.event_record(step_end_, StreamId::Compute);
    be_.synchronize(StreamId::Compute);
    total.device_ms = be_.event_elapsed_ms(segment_start_[0], step_end_);  // the prompt's start: nothing ran in between
    // The first pick made from non-finite logits: pick 0 from the prompt's last position, pick i from
    // decode step i (token i - 1 at position p0 + i - 1). Re-run alone to say where it went wrong.
    const auto first_bad = std::find(flags.begin(), flags.end(), 1);
    if (first_bad != flags.end()) {
      const int32_t i = int32_t(first_bad - flags.begin());
      if (i == 0) throw numeric_error_at("the forward pass produced non-finite logits", table, ids, n, p0 - n, 1);
      throw numeric_error_at("the forward pass produced non-finite logits", table, out + i - 1, 1, p0 + i - 1, 1);
    }
  } catch (...) {
    timeline_ = true;
    try {
      be_.synchronize(StreamId::Compute);
    } catch (...) {
    }
    table.rollback(added);
    throw;
  }
  s.commit(out, steps);  // the tokens run: all but the last one picked
  total.tokens += steps;
  total.wall_ms = ms_since(t0);
  return total;
}

void Engine::upload_batch_meta(const std::vector<BatchItem *> &items, const std::vector<int32_t> &starts) {
  // As upload_meta, for many sessions: tokens in item order; tables back to back after the arrays.
  // Prompt chunks attend in groups of their own (the tensor-core prefill kernel takes one sequence);
  // the single decode tokens in one batched group, each naming its table.
  const size_t stride = size_t(positions_ - ids_);
  std::vector<int32_t> &meta = meta_;
  meta.assign(5 * stride, 0);
  groups_.clear();
  int32_t t = 0, decode_first = -1;
  std::vector<int32_t> blocks;
  for (size_t i = 0; i < items.size(); i++) {
    const BatchItem &it = *items[i];
    const BlockTable &table = it.session->table();
    const int32_t at = int32_t(meta.size() - 5 * stride);  // this session's table, in table_
    table.device_ids(blocks);
    meta.insert(meta.end(), blocks.begin(), blocks.end());
    for (int32_t k = 0; k < it.n; k++, t++) {
      meta[size_t(t)] = it.ids[k];
      meta[stride + size_t(t)] = starts[i] + k;
      meta[2 * stride + size_t(t)] = table.slot(starts[i] + k);
      meta[3 * stride + size_t(t)] = at;
    }
    if (it.n > 1) groups_.push_back(AttnGroup{t - it.n, it.n, at, false});
    else if (decode_first < 0) decode_first = t - 1;
  }
  // Prompt chunks first in the batch (run_batch orders them so): the decode tokens are one run.
  if (decode_first >= 0) groups_.push_back(AttnGroup{decode_first, t - decode_first, 0, true});
  be_.copy(ids_, meta.data(), meta.size() * 4, CopyKind::HostToDevice, StreamId::Compute);
}

void Engine::batch_body(int32_t T, StepStats &stats) {
  be_.embed(x_.rows_slice(0, T), m_.embed_tokens, ids_);
  run_layers(T, 0, m_.config().num_layers - 1, stats);
  compute_logits(T, T);
  be_.argmax_rows(picks_, logits_.rows_slice(0, T), tables_);  // tables_ is free once the layers ran
}

bool Engine::replay_batch(int32_t T) {
  if (!graphs_) return false;
  BatchGraph &g = batch_graphs_[T];
  if (g.failed) return false;
  if (g.graph && g.generation == ws_generation_) {
    be_.graph_launch(g.graph);
    return true;
  }
  be_.graph_destroy(g.graph);  // recorded against a workspace that is gone
  g.graph = nullptr;
  if (g.generation != ws_generation_) g.seen = 0;
  g.generation = ws_generation_;
  if (++g.seen < 2 || !record_batch(g, T)) return false;  // the first time eagerly: buffers find their size
  be_.graph_launch(g.graph);
  return true;
}

bool Engine::record_batch(BatchGraph &g, int32_t T) {
  be_.graph_destroy(g.graph);
  g.graph = nullptr;
  g.generation = ws_generation_;
  if (!be_.graph_begin()) return false;
  try {
    StepStats unused;
    timeline_ = false;  // no events inside a recorded graph
    batch_body(T, unused);
    timeline_ = true;
  } catch (...) {
    timeline_ = true;
    be_.graph_destroy(be_.graph_end());
    throw;
  }
  g.graph = be_.graph_end();
  if (!g.graph) {  // recording failed: this size runs eagerly from now on
    g.failed = true;
    return false;
  }
  return true;
}

int32_t Engine::prepare_batch_graphs(int32_t max_T, int32_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!graphs_ || max_T < 1) return 0;
  if (unsettled_) settle_locked(*unsettled_);
  max_T = std::min(max_T, m_.max_step_tokens());
  ensure_workspace(std::min(std::max(tokens, max_T), m_.max_step_tokens()));
  int32_t recorded = 0;
  for (int32_t T = 1; T <= max_T; T++) {
    BatchGraph &g = batch_graphs_[T];
    if (g.failed || (g.graph && g.generation == ws_generation_)) continue;
    groups_.assign(1, AttnGroup{0, T, 0, true});  // a decode-only batch: one run of T tokens, each with its table
    try {
      if (!record_batch(g, T)) {
        if (!g.failed) return recorded;  // the backend records no graphs
        continue;
      }
    } catch (const Error &) {
      // A buffer the backend sizes at its first eager run (say) cannot grow inside a recording: this
      // size and the rest record at their second step, as without this.
      g = BatchGraph{};
      return recorded;
    }
    recorded++;
  }
  return recorded;
}

double Engine::reload_weights() {
  std::lock_guard<std::mutex> lock(mu_);
  if (unsettled_) settle_locked(*unsettled_);
  HostWeights &copy = m_.resident_copy();
  // On the Compute stream: nothing runs on the model meanwhile (its lock is ours), and the next step
  // is ordered after it. Timed with the step events, which no paused step holds now (settled above).
  be_.event_record(segment_start_[0], StreamId::Compute);
  be_.copy(m_.resident_data(), copy.data(), copy.bytes(), CopyKind::HostToDevice, StreamId::Compute);
  be_.event_record(step_end_, StreamId::Compute);
  be_.synchronize(StreamId::Compute);
  return be_.event_elapsed_ms(segment_start_[0], step_end_);
}

StepStats Engine::run_batch(std::vector<BatchItem> &items) {
  const auto t0 = Clock::now();
  std::lock_guard<std::mutex> lock(mu_);
  KvPager &pager = m_.pager();
  if (unsettled_) settle_locked(*unsettled_);
  // Prompt chunks first, then the decode tokens (upload_batch_meta's groups).
  std::vector<BatchItem *> order;
  for (BatchItem &it : items)
    if (it.n > 1) order.push_back(&it);
  for (BatchItem &it : items)
    if (it.n == 1) order.push_back(&it);
  std::vector<BatchItem *> run;
  std::vector<int32_t> starts, added;
  for (BatchItem *it : order) {
    it->status = VL_OK;
    it->token = -1;
    try {
      if (!it->session || it->n < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "a batch item needs a session and at least one token");
      if (it->session->step) throw Error(VL_ERR_STATE, "the session is paused at a breakpoint: it leaves batches until resumed");
      Step check(m_.config(), it->ids, it->n, 0, {}, false);  // the ids, against the vocabulary
      recompute_locked(*it->session);
      const int32_t start = it->session->table().n_tokens();
      added.push_back(pager.prepare(*it->session, it->n));  // running now: no later item evicts it
      starts.push_back(start);
      run.push_back(it);
    } catch (const Error &e) {
      it->status = e.status();
      it->error = e.what();
    }
  }
  StepStats stats;
  if (run.empty()) return stats;
  int32_t T = 0;
  bool decode_only = true;
  for (BatchItem *it : run) {
    T += it->n;
    decode_only = decode_only && it->n == 1;
  }
  ++segments_;  // a paused step's events are not its own after this
  try {
    ensure_workspace(T);
    be_.event_record(segment_start_[0], StreamId::Compute);
    upload_batch_meta(run, starts);
    const bool replayed = decode_only && replay_batch(T);
    if (!replayed) batch_body(T, stats);
    // Every row's pick comes back (T ints); the logits asked for, a row each.
    std::vector<int32_t> picks(static_cast<size_t>(T)), bad(static_cast<size_t>(T));
    be_.copy(picks.data(), picks_, size_t(T) * 4, CopyKind::DeviceToHost, StreamId::Compute);
    be_.copy(bad.data(), tables_, size_t(T) * 4, CopyKind::DeviceToHost, StreamId::Compute);  // batch_body's flags
    int32_t row = 0;
    for (BatchItem *it : run) {
      row += it->n;
      if (it->logits)
        be_.copy(it->logits, logits_.rows_slice(row - 1, 1).data, size_t(m_.config().vocab_size) * 4, CopyKind::DeviceToHost,
                 StreamId::Compute);
    }
    be_.event_record(step_end_, StreamId::Compute);
    be_.synchronize(StreamId::Compute);
    if (!replayed && timeline_) read_timeline(0, m_.config().num_layers - 1, 0, stats);
    stats.device_ms = be_.event_elapsed_ms(segment_start_[0], step_end_);
    // An item whose rows' logits hold a NaN or an infinity is left out (VL_ERR_NUMERIC), the others
    // are not affected (rows of a batch never mix). Each is re-run alone to say where; all before any
    // commit, so that an error of a re-run still drops the whole step.
    row = 0;
    for (size_t i = 0; i < run.size(); i++) {
      BatchItem *it = run[i];
      const auto rows = bad.begin() + row;
      if (std::find(rows, rows + it->n, 1) != rows + it->n) {
        const Error e = numeric_error_at("the forward pass produced non-finite logits", it->session->table(), it->ids, it->n,
                                         starts[i], it->n);
        it->status = e.status();
        it->error = e.what();
      }
      row += it->n;
    }
    row = 0;
    for (size_t i = 0; i < run.size(); i++) {
      BatchItem *it = run[i];
      row += it->n;
      if (it->status != VL_OK) {
        it->session->table().rollback(added[i]);  // as before the step
      } else {
        if (it->pick) it->token = picks[size_t(row - 1)];
        it->session->commit(it->ids, it->n);
      }
      pager.finish(*it->session);
    }
  } catch (...) {
    try {
      be_.synchronize(StreamId::Compute);
    } catch (...) {
    }
    for (size_t i = 0; i < run.size(); i++) {
      run[i]->session->table().rollback(added[i]);
      pager.finish(*run[i]->session);
    }
    throw;
  }
  stats.tokens = T;
  stats.wall_ms = ms_since(t0);
  return stats;
}

void Engine::run_locked(Session &s, Step &st, float *out, bool recompute) {
  const auto t0 = Clock::now();
  const int32_t n = st.tokens(), L = m_.config().num_layers;
  if (st.logits_rows_ > 0 && !out) throw Error(VL_ERR_INVALID_ARGUMENT, "no buffer for the logits");
  BlockTable &table = s.table();
  KvPager &pager = m_.pager();

  // Another step's pause is read before this segment re-records the events it used.
  if (unsettled_ && unsettled_ != &st) settle_locked(*unsettled_);
  const bool resuming = st.paused();
  // The KV first, outside the try: when the pager cannot make the session resident a fresh step is
  // left unstarted and a paused one paused. (A recompute re-runs the dropped tokens as steps of their own.)
  if (!resuming) {
    if (recompute) recompute_locked(s);
    st.start_ = table.n_tokens();
    st.added_ = pager.prepare(s, n);
  } else {
    pager.prepare(s, 0);  // what was paged out while it was paused comes back
  }
  const uint64_t segment = ++segments_;
  // A resume right after its pause: nothing ran on the model in between, so the workspace still holds
  // the step's ids, positions, slots and block table (unless its blocks moved meanwhile).
  const bool consecutive = resuming && st.paused_segment_ + 1 == segment;
  try {
    ensure_workspace(n);
    const int32_t first = resuming ? st.layer_ + 1 : 0;
    be_.event_record(segment_start_[size_t(first)], StreamId::Compute);
    Step::Segment seg{first, first - 1, false, consecutive, ms_since(t0)};  // the layers run and paused once known
    if (!consecutive || st.paused_table_ != table.generation()) upload_meta(table, st);
    if (resuming) {
      restore(st);
      be_.event_record(resumed_[size_t(first)], StreamId::Compute);
      st.layer_ = -1;
    }
    const int32_t bp = st.next_breakpoint(first);
    const int32_t last = bp >= 0 ? bp : L - 1;
    // A recorded graph runs the whole step from the embedding: never for a step with breakpoints.
    const bool replayed = !resuming && st.breakpoints_.empty() && n == 1 && st.logits_rows_ == 1 && replay_decode();
    if (!replayed) {
      if (!resuming) be_.embed(x_.rows_slice(0, n), m_.embed_tokens, ids_);
      run_layers(n, first, last, st.stats_);
      seg.last = last;
      seg.paused = bp >= 0;
    }
    st.unread_.push_back(seg);
    if (bp >= 0) {
      st.clear_edit();  // applied by the restore above; the next pause's edits start afresh
      save(s, st, bp);
      st.paused_segment_ = segment;
      st.paused_table_ = table.generation();
      unsettled_ = &st;
      if (st.offload_) settle_locked(st);  // save waited for the device anyway
      st.stats_.wall_ms += ms_since(t0);
      pager.finish(s);
      return;
    }
    if (!replayed && st.logits_rows_ > 0) compute_logits(n, st.logits_rows_);
    if (st.logits_rows_ > 0) {
      Tensor logits = logits_.rows_slice(0, st.logits_rows_);
      be_.copy(out, logits.data, logits.bytes(), CopyKind::DeviceToHost, StreamId::Compute);
    }
    be_.event_record(step_end_, StreamId::Compute);
    be_.synchronize(StreamId::Compute);
    check_finite(st, first, out);  // a NaN or an infinity: VL_ERR_NUMERIC, the step dropped below
    st.clear_edit();
    settle_locked(st, true);
    release_stash(st);
    s.commit(st.ids_.data(), n);
    st.added_ = 0;
    if (resuming) st.bp_.to_logits_ms = ms_since(t0);
    st.stats_.wall_ms += ms_since(t0);
    pager.finish(s);
  } catch (...) {
    // The step is dropped: wait for what it enqueued (its buffers go with it), forget its times.
    if (unsettled_ == &st) unsettled_ = nullptr;
    st.unread_.clear();
    try {
      be_.synchronize(StreamId::Compute);
      release_stash(st);
    } catch (...) {
    }
    table.rollback(st.added_);
    st.added_ = 0;
    st.layer_ = -1;
    pager.finish(s);
    throw;
  }
}

void Engine::settle(Step &st) {
  std::lock_guard<std::mutex> lock(mu_);
  settle_locked(st);
}

void Engine::settle_locked(Step &st, bool synced) {
  if (unsettled_ == &st) unsettled_ = nullptr;
  if (st.unread_.empty()) return;
  std::vector<Step::Segment> segs;
  segs.swap(st.unread_);
  if (!synced) be_.synchronize(StreamId::Compute);  // compute waited for every copy: the events below are complete
  for (const Step::Segment &g : segs) {
    const size_t f = size_t(g.first);
    // The step's device time so far: its segments' own, the waits for a resume between them left out.
    const double before = std::max(st.stats_.device_ms, 0.0);
    if (g.last >= g.first) read_timeline(g.first, g.last, before, st.stats_);
    st.stats_.device_ms = before + be_.event_elapsed_ms(segment_start_[f], g.paused ? saved_[size_t(g.last)] : step_end_);
    if (g.first > 0) {  // a resume
      st.bp_.restore_ms = g.host_ms + be_.event_elapsed_ms(segment_start_[f], resumed_[f]);
      // compute_done_[first - 1] is the pausing segment's only if no other step ran in between.
      st.bp_.gap_ms = g.consecutive ? be_.event_elapsed_ms(compute_done_[f - 1], resumed_[f]) : -1;
    }
    if (g.paused) st.bp_.pause_ms = be_.event_elapsed_ms(compute_done_[size_t(g.last)], saved_[size_t(g.last)]);
  }
}

void Engine::save(Session &s, Step &st, int32_t layer) {
  const Tensor x = x_.rows_slice(0, st.tokens());  // (n, H) F32
  if (!st.offload_) {
    if (!st.residual_.get())
      st.residual_ = m_.runtime().arena.alloc(x.bytes(), "the residual stream of a step paused at a breakpoint (" +
                                                             std::to_string(st.tokens()) + " tokens)");
    be_.copy(st.residual_.get(), x.data, x.bytes(), CopyKind::DeviceToDevice, StreamId::Compute);
    be_.event_record(saved_[size_t(layer)], StreamId::Compute);
  } else {
    // To the pager's host store: the residual (on Compute, behind the layer), and the layers [0, layer]
    // of each block the step reserved (one contiguous range per block, on the Offload stream). Positions
    // of the step that share a block with earlier tokens stay on the device with them.
    const KvLayout &kv = m_.kv_pool().layout();
    m_.pager().stash(st.stash_, x.data, x.bytes());
    be_.event_record(saved_[size_t(layer)], StreamId::Compute);
    const size_t first = s.table().blocks().size() - size_t(st.added_);
    m_.pager().offload(s, first, size_t(st.added_), layer + 1);
    // The pause hands its state over in host memory: wait for the copies (the device blocks are free).
    be_.synchronize(StreamId::Compute);
    be_.synchronize(StreamId::Offload);
    st.bp_.d2h_bytes += x.bytes() + size_t(st.added_) * size_t(layer + 1) * 2 * kv.plane_elems() * dtype_size(kv.dtype);
  }
  st.layer_ = layer;
  st.bp_.pauses++;
}

void Engine::release_stash(Step &st) {
  if (!st.stash_.empty()) m_.pager().release_stash(st.stash_);
}

void Engine::restore(Step &st) {
  const Tensor x = x_.rows_slice(0, st.tokens());  // (n, H) F32
  if (!st.offload_) {
    be_.copy(x.data, st.residual_.get(), x.bytes(), CopyKind::DeviceToDevice, StreamId::Compute);
  } else {
    // The pager brought the step's KV blocks back (Compute waits for them); the residual comes here.
    const KvLayout &kv = m_.kv_pool().layout();
    m_.pager().unstash(st.stash_, x.data, x.bytes());
    st.bp_.h2d_bytes += x.bytes() + size_t(st.added_) * size_t(st.layer_ + 1) * 2 * kv.plane_elems() * dtype_size(kv.dtype);
  }
  if (st.has_edit()) {
    const float *vec = nullptr;
    if (!st.edit_add_.empty()) {
      const size_t bytes = st.edit_add_.size() * sizeof(float);
      if (!st.edit_vec_.get()) st.edit_vec_ = m_.runtime().arena.alloc(bytes, "the vector added to a paused activation");
      be_.copy(st.edit_vec_.get(), st.edit_add_.data(), bytes, CopyKind::HostToDevice, StreamId::Compute);
      st.bp_.h2d_bytes += bytes;
      vec = st.edit_vec_.as<float>();
    }
    be_.scale_add_rows(x, st.edit_scale_, vec);
  }
}

void Engine::read_timeline(int32_t first, int32_t last, double offset, StepStats &stats) {
  Event *start = segment_start_[size_t(first)];
  const int32_t L = m_.config().num_layers;
  if (stats.layers.empty()) stats.layers.resize(size_t(L));
  const bool streams = m_.streams();
  for (int32_t l = first; l <= last; l++) {
    const size_t ul = size_t(l);
    LayerTiming &t = stats.layers[ul];
    t = LayerTiming{};
    const auto at = [&](Event *e) { return float(offset + be_.event_elapsed_ms(start, e)); };
    t.compute_start = at(compute_start_[ul]);
    t.compute_end = at(compute_done_[ul]);
    if (streams && l >= m_.resident_layers()) {
      t.copy_start = at(copy_start_[ul]);
      t.copy_end = at(copy_done_[ul]);
    }
  }
}

void Engine::abort(Session &s, Step &st) {
  if (!st.paused()) throw Error(VL_ERR_STATE, "the session is not paused at a breakpoint: there is no step to abort");
  {
    std::lock_guard<std::mutex> lock(mu_);
    settle_locked(st);  // waits for the pause's save: the Compute stream is past the stash's copies
    release_stash(st);
  }
  s.table().rollback(st.added_);  // on the device or on the host
  st.added_ = 0;
  st.layer_ = -1;
}

void Engine::read_activation(Step &st, float *out) {
  if (!st.paused()) throw Error(VL_ERR_STATE, "the session is not paused at a breakpoint: there is no activation to read");
  const int32_t n = st.tokens(), H = st.hidden();
  const size_t bytes = size_t(n) * size_t(H) * sizeof(float);
  if (st.offload_) {
    m_.pager().read_stash(st.stash_, out, bytes);
  } else {
    be_.stream_wait(StreamId::Copy, saved_[size_t(st.layer_)]);  // the pause returned before its save ran
    be_.copy(out, st.residual_.get(), bytes, CopyKind::DeviceToHost, StreamId::Copy);
    be_.synchronize(StreamId::Copy);
    st.bp_.d2h_bytes += bytes;
  }
  // The pending edit, as the device will apply it at the resume: x * scale + add, row by row.
  if (st.has_edit())
    for (int32_t t = 0; t < n; t++)
      for (int32_t c = 0; c < H; c++) {
        float &v = out[size_t(t) * size_t(H) + size_t(c)];
        v = v * st.edit_scale_ + (st.edit_add_.empty() ? 0.f : st.edit_add_[size_t(c)]);
      }
}

void Engine::write_activation(Step &st, const float *in) {
  if (!st.paused()) throw Error(VL_ERR_STATE, "the session is not paused at a breakpoint: there is no activation to replace");
  const size_t bytes = size_t(st.tokens()) * size_t(st.hidden()) * sizeof(float);
  if (st.offload_) {
    m_.pager().write_stash(st.stash_, in, bytes);
  } else {
    be_.stream_wait(StreamId::Copy, saved_[size_t(st.layer_)]);  // not before the pause's own save
    be_.copy(st.residual_.get(), in, bytes, CopyKind::HostToDevice, StreamId::Copy);
    be_.synchronize(StreamId::Copy);
    st.bp_.h2d_bytes += bytes;
  }
  st.clear_edit();
}

void Engine::lens(Step &st, int32_t rows, float *out) {
  if (!st.paused()) throw Error(VL_ERR_STATE, "the session is not paused at a breakpoint: there is no activation for the logit lens");
  const int32_t n = st.tokens(), H = st.hidden();
  if (rows < 1 || rows > n) throw Error(VL_ERR_INVALID_ARGUMENT, "the logit lens takes 1 to " + std::to_string(n) + " rows");
  // The activation as the resume will see it (held or offloaded, edits applied), read on the Copy stream.
  std::vector<float> x(size_t(n) * size_t(H));  // (n, H) host
  read_activation(st, x.data());
  std::lock_guard<std::mutex> lock(mu_);
  ensure_workspace(rows);  // a no-op: the step ran its n >= rows tokens through this workspace
  Tensor xr = x_.rows_slice(0, rows);  // (rows, H) F32 scratch: the last `rows` positions
  be_.copy(xr.data, x.data() + size_t(n - rows) * size_t(H), xr.bytes(), CopyKind::HostToDevice, StreamId::Compute);
  compute_logits(rows, rows);
  Tensor logits = logits_.rows_slice(0, rows);
  be_.copy(out, logits.data, logits.bytes(), CopyKind::DeviceToHost, StreamId::Compute);
  be_.synchronize(StreamId::Compute);  // x (pageable) and out are read and written by then
  check_lens(st, rows, x.data(), out);
}

}  // namespace vl
