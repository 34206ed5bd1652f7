// engine.h: the forward pass, a loop over layers in the core. Streaming (prefetch, ring slots) and
// breakpoints hook into this loop. Buffers live in one device workspace sized for the largest step.
#pragma once
#include <cstdint>
#include <mutex>

#include <vector>

#include "arena.h"
#include "backend.h"
#include "kv_pool.h"
#include "config.h"
#include "weight_ring.h"

namespace vl {

class Model;
struct LayerWeights;

// Milliseconds from the start of a step's device work; -1 where a layer had no copy.
struct LayerTiming {
  float copy_start = -1, copy_end = -1, compute_start = -1, compute_end = -1;
};

// What one step (a forward call) did.
struct StepStats {
  int32_t tokens = 0;
  uint64_t h2d_bytes = 0;          // weight bytes copied host -> device
  double wall_ms = 0;              // the whole call, on the host clock
  std::vector<LayerTiming> layers; // empty when the step was a replayed graph
};

class Engine {
 public:
  explicit Engine(Model &model);
  ~Engine();
  // Bytes of the activation workspace for steps of up to `tokens` tokens.
  static size_t workspace_bytes(const ModelConfig &c, DType act, int32_t tokens, int32_t pool_blocks);
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Appends ids (n tokens) to the session whose KV blocks `table` maps, runs them, and writes
  // logits_rows (0, 1 or n) rows of logits, for the last positions, into out (host, rows * vocab).
  // On any error the session is left exactly as before the call.
  StepStats forward(BlockTable &table, const int32_t *ids, int32_t n, int32_t logits_rows, float *out);

 private:
  void ensure_workspace(int32_t tokens);
  // The step's device work: embedding, the layers, and logits for the last logits_rows positions.
  void compute(int32_t n, int32_t logits_rows, StepStats &stats);
  // The layer loop of a model with streamed layers: copies into the ring on the Copy stream, ahead of
  // compute by the prefetch depth, each waiting for the compute of the layer whose bytes it overwrites.
  void stream_layers(int32_t n, StepStats &stats);
  void run_layer(int32_t layer, int32_t n, const LayerWeights &w);
  // Runs a one-token step (logits of it) by replaying the recorded decode graph, recording it first
  // when the workspace changed. Returns false when the backend has no graphs.
  bool replay_decode();

  Model &m_;
  Backend &be_;
  std::mutex mu_;  // one step at a time per model: the workspace is shared

  DeviceBuffer inv_freq_;  // (hd / 2) F32 rotary inverse frequencies
  DeviceBuffer ws_;        // the workspace below, for up to ws_tokens_ tokens
  int32_t ws_tokens_ = 0;
  Tensor x_;       // (T, H) F32 residual stream
  Tensor h_;       // (T, H) normed input of attention / MLP
  Tensor q_;       // (T, nh * hd)
  Tensor k_, v_;   // (T, nkv * hd)
  Tensor attn_;    // (T, nh * hd) attention output
  Tensor gate_;    // (T, F) gate projection, then silu(gate) * up
  Tensor up_;      // (T, F)
  Tensor logits_;  // (T, V) F32
  int32_t *ids_ = nullptr;        // (T) token ids
  int32_t *positions_ = nullptr;  // (T) absolute positions
  int32_t *slots_ = nullptr;      // (T) KV pool slots
  int32_t *table_ = nullptr;      // (pool blocks) the session's block table
  uint64_t ws_generation_ = 0;    // bumped at each workspace (re)allocation

  // Streaming: the ring, where each streamed layer lands in it, and per-layer events (also the
  // compute timeline of resident layers).
  DeviceBuffer ring_;
  RingPlan plan_;
  std::vector<Event *> copy_start_, copy_done_, compute_start_, compute_done_;
  Event *step_start_ = nullptr;

  Graph *decode_graph_ = nullptr;  // the recorded one-token step, valid for graph_generation_
  uint64_t graph_generation_ = 0;
  bool graphs_ = true;             // false once the backend said it has none (or VRAMLAB_NO_GRAPHS)
  bool timeline_ = true;           // record per-layer events (not while recording a graph)
};

}  // namespace vl
