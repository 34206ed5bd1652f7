// engine.h: the forward pass, a loop over layers in the core. Streaming (prefetch, ring slots) and
// breakpoints hook into this loop. Buffers live in one device workspace sized for the largest step,
// shared by the model's sessions: one step segment runs at a time.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "config.h"
#include "kv_pool.h"
#include "step.h"
#include "weight_ring.h"

namespace vl {

class Model;
class Session;
struct LayerWeights;

// One session's part of a batched step (Engine::run_batch): its next n tokens (a decode token, or a
// chunk of a prompt), and whether its last position's next token is picked.
struct BatchItem {
  Session *session = nullptr;
  const int32_t *ids = nullptr;  // (n) host
  int32_t n = 0;
  bool pick = false;             // pick the argmax of its last position's logits into `token`
  float *logits = nullptr;       // or null: its last position's logits (host, vocab floats)
  // Out:
  int32_t token = -1;
  vl_status status = VL_OK;      // VL_OK, or why it was left out of the step (its session is then as before)
  std::string error;
};

class Engine {
 public:
  explicit Engine(Model &model);
  ~Engine();
  // Bytes of the activation workspace for steps of up to `tokens` tokens.
  static size_t workspace_bytes(const ModelConfig &c, DType act, int32_t tokens, int32_t pool_blocks);
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  // Appends ids (n tokens) to session s, runs them, and writes logits_rows (0, 1 or n) rows of logits,
  // for the last positions, into out (host, rows * vocab). On any error the session is left exactly as
  // before the call. Every step first has the pager make the session resident (its blocks back from
  // host memory, room for the new tokens, others evicted as the model's policy says) and, when its KV
  // was dropped (the recompute policy), re-runs the dropped tokens.
  StepStats forward(Session &s, const int32_t *ids, int32_t n, int32_t logits_rows, float *out);

  // Runs `step` of session s from its start, or from where it paused, up to its next breakpoint: it is
  // then paused (step.layer() says after which layer) and the engine is free for other sessions. Without
  // a breakpoint left it runs to the end: logits into out (host, logits_rows * vocab) and its tokens
  // committed to the session. On an error the step is dropped and the session is exactly as before the
  // step; except when the pager cannot make a paused step's session resident at a resume (out of
  // memory): it then stays paused and can be resumed later.
  // A pause does not wait for the device: it returns once the save of the state is enqueued, so that a
  // resume right after it leaves the device no idle time; the device times of the step (timeline,
  // pause_ms, restore_ms, gap_ms) are read when the step settles.
  void run(Session &s, Step &step, float *out);
  // Greedy generation for session s: appends the n ids, then max_new tokens, each the
  // argmax of the previous position's logits (the last one is not run), into out (host, max_new).
  // The argmax runs on the device and each decode step reads its token from there, so the steps are
  // enqueued back to back and the device never waits for the host between tokens. It holds the model
  // for the whole call (other sessions' steps wait; one `decode` call per token interleaves instead).
  // On an error the decoded positions are given back (the caller truncates the prompt's). Returns the
  // summed stats.
  StepStats generate(Session &s, const int32_t *ids, int32_t n, int32_t max_new, int32_t *out);
  // One forward step over many sessions' next tokens: GEMMs over all of them (one read of the weights),
  // attention through each session's own block table. Each item's session is made resident first (an
  // item that cannot be, out of memory, is left out with its status; the others run). Decode-only
  // batches of a size seen before replay a recorded graph. Returns the step's stats (tokens: all run).
  StepStats run_batch(std::vector<BatchItem> &items);
  // Records the graphs of decode-only batches of 1 to max_T tokens ahead of the steps that would
  // record them (what a server does at its start), over a workspace of at least `tokens` (a step's
  // most: prompt chunk + decode tokens), so that no step later pays for recording one. Returns how
  // many it recorded: 0 where the backend has no graphs.
  int32_t prepare_batch_graphs(int32_t max_T, int32_t tokens);
  // Copies the model's resident weights onto the device again from a pinned host copy of them (made
  // at the first call): what a serverless system pays at every step, at best. Between steps only.
  // Returns the device milliseconds of the copy.
  double reload_weights();
  // Waits for the paused step's device work and reads its device times (a no-op when already read:
  // any other step's segment, an offloaded pause or the step's end settle it first). Called before its
  // stats are read and before it is freed.
  void settle(Step &step);
  // Drops a paused step: its KV reservation goes back and the session is exactly as before the step.
  void abort(Session &s, Step &step);
  // The paused step's activation, (tokens, hidden) F32 on the host with its pending edits applied,
  // copied into out; and its replacement from in (pending edits dropped). The copies run on the Copy
  // stream and never take the engine, so they do not wait for other sessions' steps.
  void read_activation(Step &step, float *out);
  void write_activation(Step &step, const float *in);
  // The logit lens of the paused step: the final norm and output head (compute_logits) applied to its
  // activation (with the pending edits) at the last `rows` positions, (rows, vocab) F32 into out (host).
  // It takes the engine (the workspace's x_, h_ and logits_ are scratch while the step is paused: a
  // resume restores x_ from the saved residual) and leaves the step's state and events as they were.
  void lens(Step &step, int32_t rows, float *out);

 private:
  struct BatchGraph;
  void ensure_workspace(int32_t tokens);
  // Uploads the step's ids, positions, KV slots and the session's block table (one copy).
  void upload_meta(const BlockTable &table, Step &step);
  // The same for a batch: every item's tokens, positions and slots, the tables back to back and, per
  // token, where its session's table starts.
  void upload_batch_meta(const std::vector<BatchItem *> &items, const std::vector<int32_t> &starts);
  // Layers [first, last] of the step's n tokens, on the residual stream x_.
  void run_layers(int32_t n, int32_t first, int32_t last, StepStats &stats);
  // The layer loop of a model with streamed layers: copies into the ring on the Copy stream, ahead of
  // compute by the prefetch depth (never past `last`), each waiting for the compute of the layer whose
  // bytes it overwrites.
  void stream_layers(int32_t n, int32_t first, int32_t last, StepStats &stats);
  void run_layer(int32_t layer, int32_t n, const LayerWeights &w);
  // logits_ (rows, V) of the last `rows` of the n positions.
  void compute_logits(int32_t n, int32_t rows);
  // Pausing after `layer`: enqueues the save of the residual stream (offloading: to the pager's host
  // store, with the step's KV blocks, and waits for it, the device blocks going back to the pool).
  void save(Session &s, Step &step, int32_t layer);
  // Resuming: the residual stream (and an offloaded step's residual) back, then the pending edit
  // (enqueued; the caller synchronizes before clearing the edit). The pager brought the KV back.
  void restore(Step &step);
  // run() with mu_ held; `recompute`: first re-run the session's dropped tokens, if any.
  void run_locked(Session &s, Step &step, float *out, bool recompute = true);
  // Re-runs the tokens whose KV the pager dropped (recompute), in steps of the workspace's size.
  void recompute_locked(Session &s);
  // A step that ends gives its host slots back (the Compute stream is past their copies).
  void release_stash(Step &step);
  // settle() with mu_ held. It forgets the step first, so that it is never left half-read. synced: the
  // caller has just synchronized the compute stream.
  void settle_locked(Step &step, bool synced = false);
  // The timeline of layers [first, last] of the segment that began at segment_start_[first] (completed
  // events), `offset` ms (the step's device time before the segment) added: a paused step's layers lie on
  // one clock of its device work, the waits for its resumes left out.
  void read_timeline(int32_t first, int32_t last, double offset, StepStats &stats);
  // Runs a one-token step (logits of it) by replaying the recorded decode graph, recording it first
  // when the workspace changed. Returns false when the backend has no graphs.
  bool replay_decode();
  // A decode-only batch of T tokens (logits and picks of all), by replaying its graph: recorded the
  // second time T is seen (the first run, eager, lets the backend size its buffers). False: run it eagerly.
  bool replay_batch(int32_t T);
  // Records g for a decode-only batch of T tokens (groups_ as upload_batch_meta makes them); false,
  // and g marked failed, when the recording failed; false when the backend records no graphs.
  bool record_batch(BatchGraph &g, int32_t T);
  // Embedding, layers, logits of every row and their argmax into picks_ (and their non-finite flags
  // into tables_, free once the layers ran): the body of a batch step.
  void batch_body(int32_t T, StepStats &stats);

  // ---- non-finite results: VL_ERR_NUMERIC (numeric.cpp) ----
  // After a step that ran to its end (synchronized): throws the VL_ERR_NUMERIC error of numeric_error
  // when its logits (out, host) hold a NaN or an infinity or, for a step without logits, when the
  // residual stream of its last position does (every KV row the step wrote feeds it, through
  // attention). first: the segment's first layer (> 0: a resume).
  void check_finite(Step &st, int32_t first, const float *out);
  // After a logit lens of the paused step st: throws VL_ERR_NUMERIC when out (rows, vocab) holds a NaN or
  // an infinity, naming the position and whether the activation x (n, H) held it already.
  void check_lens(const Step &st, int32_t rows, const float *x, const float *out);
  // The error for step st whose result (`what`, e.g. "the forward pass produced NaN logits") is not
  // finite, saying where its first non-finite value appears: the step is re-run eagerly, part by part
  // (the embedding, each decoder layer, the final norm, the output head), the residual stream read
  // back after each. Only on this failure path. The workspace's meta must describe st's tokens (ids,
  // positions from st.start_, slots, table) and their KV slots still be reserved (the caller rolls them
  // back after). A resume (first > 0) re-runs from the activation it resumed from (restored again, with
  // its edit); when that is not finite, the layers before the pause are re-run to tell them from the edit.
  Error numeric_error(const std::string &what, Step &st, int32_t first);
  // numeric_error for tokens outside run_locked (a generation's step, a batch item): uploads their meta
  // (ids (n) at positions start.. of table) first; their logits are checked at the last `rows` positions.
  Error numeric_error_at(const std::string &what, const BlockTable &table, const int32_t *ids, int32_t n, int32_t start,
                         int32_t rows);
  // The first row of x (F32 or 16-bit, on the device) holding a NaN or an infinity, or -1 (copied to the
  // host; waits for the Compute stream).
  int32_t nonfinite_row(const Tensor &x);
  // Layers [first, last] of x_'s n tokens (first == -1: the embedding first), checked after each part:
  // where the first non-finite value is ("the output of decoder layer 2 ... at position 5"), or "".
  std::string checked_layers(int32_t n, int32_t start, int32_t first, int32_t last);
  // The final norm and output head of the last `rows` of the n tokens, checked the same way.
  std::string checked_head(int32_t n, int32_t start, int32_t rows);

  Model &m_;
  Backend &be_;
  std::mutex mu_;  // one step at a time per model: the workspace is shared

  Buffer inv_freq_;  // (hd / 2) F32 rotary inverse frequencies
  Buffer ws_;        // the workspace below, for up to ws_tokens_ tokens
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
  int32_t *tables_ = nullptr;     // (T) batched steps: where each token's session table starts in table_
  int32_t *picks_ = nullptr;      // (T) batched steps: the argmax of each row's logits
  int32_t *table_ = nullptr;      // (pool blocks) the session's block table (a batch's, back to back)
  // How attention runs over the step's tokens: a group of tokens of one session (its table at
  // table_ + table), or of many (batched: each token's table named by tables_).
  struct AttnGroup {
    int32_t first, n, table;
    bool batched;
  };
  std::vector<AttnGroup> groups_;
  std::vector<int32_t> meta_;     // the host side of the last upload_meta, kept until the next one
  uint64_t ws_generation_ = 0;    // bumped at each workspace (re)allocation

  // Streaming: the ring, where each streamed layer lands in it, and per-layer events (also the
  // compute timeline of resident layers).
  Buffer ring_;
  RingPlan plan_;
  std::vector<Event *> copy_start_, copy_done_, compute_start_, compute_done_;
  // Per layer too, so that no segment of a step re-records another's: segment_start_[l] and resumed_[l]
  // (l in [0, L]) for the segment that begins at layer l (its device work starts; the state restored),
  // saved_[l] for the pause after layer l (the state saved).
  std::vector<Event *> segment_start_, resumed_, saved_;
  uint64_t segments_ = 0;        // segments run (Engine::run calls), to tell whether a pause's events still hold
  Step *unsettled_ = nullptr;    // the paused step whose device times are not read yet (at most one)
  Event *step_end_ = nullptr;    // a step's logits on the host (for StepStats::device_ms)

  Graph *decode_graph_ = nullptr;  // the recorded one-token step, valid for graph_generation_
  uint64_t graph_generation_ = 0;
  struct BatchGraph {
    Graph *graph = nullptr;
    uint64_t generation = 0;  // the workspace it was recorded against
    int32_t seen = 0;         // eager runs of this size
    bool failed = false;      // recording failed: this size always runs eagerly
  };
  std::map<int32_t, BatchGraph> batch_graphs_;  // decode-only batches, by size
  bool graphs_ = true;             // false for streamed placements, and once the backend said it has none
  bool timeline_ = true;           // record per-layer events (not while recording a graph)
};

}  // namespace vl
