// step.h: one forward step of a session (a prefill or a decode step) as the engine runs it. A step
// without breakpoints runs in one go. A step with breakpoints runs in segments: after each breakpoint
// layer it pauses, holding what a resume needs (the residual stream after that layer, the KV blocks it
// reserved, its positions), and later resumes or aborts. The session owns its paused Step, so the
// engine and the model's shared workspace are free for other sessions meanwhile.
#pragma once
#include <cstdint>
#include <vector>

#include "arena.h"
#include "backend.h"
#include "config.h"

namespace vl {

// Milliseconds of the step's device time from its start: a segment's offsets from its own start (the
// step's, or a resume's) plus the device time of the segments before it, so that the time a paused step
// waited for its resume is left out; -1 where a layer had no copy.
struct LayerTiming {
  float copy_start = -1, copy_end = -1, compute_start = -1, compute_end = -1;
};

// What one step did, over all its segments.
struct StepStats {
  int32_t tokens = 0;
  uint64_t h2d_bytes = 0;          // weight bytes copied host -> device
  double wall_ms = 0;              // host wall time of the segments (not the time spent paused)
  double device_ms = -1;           // device time of its segments, each from its first work to its pause's
                                   // save or to the logits on the host (the waits for a resume left out);
                                   // -1 before any segment was read
  std::vector<LayerTiming> layers; // per layer; empty when the step was a replayed graph
};

// The cost of a step's breakpoints.
struct BreakpointStats {
  int32_t pauses = 0;
  double pause_ms = 0;      // the last pause: breakpoint layer done -> paused state saved (device time)
  double restore_ms = 0;    // the last resume's cost: host time to enqueue it + device time of the restore
  double to_logits_ms = 0;  // the resume that finished the step: call -> logits on the host
  double gap_ms = -1;       // the last resume: breakpoint layer done -> state restored (device time)
  uint64_t d2h_bytes = 0;   // activation and KV bytes moved device -> host (offload, activation reads)
  uint64_t h2d_bytes = 0;   // host -> device (offload, activation writes, edit vectors)
};

// A session's breakpoints as the C ABI reports them: the step paused now, or the last one that had any.
struct BreakpointView {
  int32_t layer = -1;  // paused after this layer; -1 when not paused
  int32_t tokens = 0, hidden = 0;
  bool offloaded = false;
  BreakpointStats stats;
};

class Step {
 public:
  // Checks the request against the model: n >= 1 ids in the vocabulary, logits_rows 0, 1 or n, and
  // breakpoints (any order, repeats allowed) in [0, num_layers). offload: each pause moves the state
  // (the residual, the step's KV blocks) to the pager's host store and gives the device blocks back to
  // the pool until the resume.
  Step(const ModelConfig &c, const int32_t *ids, int32_t n, int32_t logits_rows, std::vector<int32_t> breakpoints,
       bool offload);

  int32_t tokens() const { return int32_t(ids_.size()); }
  int32_t hidden() const { return hidden_; }
  bool paused() const { return layer_ >= 0; }
  int32_t layer() const { return layer_; }  // paused after this layer; -1 when not paused
  bool offloaded() const { return paused() && offload_; }
  const StepStats &stats() const { return stats_; }
  const BreakpointStats &breakpoint_stats() const { return bp_; }
  BreakpointView view() const { return BreakpointView{layer_, tokens(), hidden_, offloaded(), bp_}; }

  // Edits the paused residual stream: x <- x * scale + vec, vec (count == hidden) or null. Kept on the
  // host (composed with earlier edits) and applied on the device at the resume, in one scale_add_rows.
  void edit(float scale, const float *vec, int64_t count);

 private:
  friend class Engine;
  // The first breakpoint at or after layer `first`, or -1.
  int32_t next_breakpoint(int32_t first) const;
  bool has_edit() const { return edit_scale_ != 1.f || !edit_add_.empty(); }
  void clear_edit();

  std::vector<int32_t> ids_;          // (n) the step's tokens
  int32_t hidden_;
  int32_t logits_rows_;
  std::vector<int32_t> breakpoints_;  // sorted, unique layers to pause after
  bool offload_;

  int32_t start_ = 0;           // the session's tokens before the step: the step's first position
  int32_t added_ = 0;           // KV blocks the step reserved: the last of the table (on the host while offloaded)
  int32_t layer_ = -1;          // paused after this layer
  uint64_t paused_segment_ = 0; // the engine segment that paused: the resume's gap is measured only right after it
  uint64_t paused_table_ = 0;   // the table's generation at the pause: unchanged, the uploaded table still holds
  // A segment whose device times are not read yet (Engine::settle): a pause returns without waiting
  // for the device, so that a prompt resume leaves it no idle time.
  struct Segment {
    int32_t first, last;   // the layers it ran with events (none when last < first: a replayed graph, or
                           // the logits only, resuming after the last layer)
    bool paused;           // it ended in a pause after `last`
    bool consecutive;      // a resume right after its pause: the pausing layer's events still hold
    double host_ms;        // host time from the call to its first device work enqueued
  };
  std::vector<Segment> unread_;
  Buffer residual_;             // (n, H) F32 the residual stream after layer_, held on the device
  std::vector<int32_t> stash_;  // offloaded: the pager's host slots holding the same
  float edit_scale_ = 1.f;      // the pending edit x * edit_scale_ + edit_add_
  std::vector<float> edit_add_; // (H), or empty for none
  Buffer edit_vec_;       // (H) F32 edit_add_ on the device, at the resume

  StepStats stats_;
  BreakpointStats bp_;
};

}  // namespace vl
