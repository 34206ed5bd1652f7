// scheduler.h: a model's step loop over many sessions. Sessions submit work (a prompt or appended
// tokens to prefill, then greedy tokens to decode); each step() takes every runnable session into one
// batched forward (Engine::run_batch): one decode token of every session that is decoding, plus prompt
// chunks of those still prefilling, at most `prefill_chunk` prompt tokens a step, so that a long prompt
// never stalls the others' decode by more than one chunk. The pager makes each batch resident (a
// session that is not in the batch, an agent acting say, is a paging candidate; next-use keys say when
// it returns); a batch holds only the sessions whose KV fits the device pool together (the pager cannot
// evict a session of the step itself), the rest wait for a later step in order. A session paused at a
// breakpoint is left out until resumed.
//
// The caller drives: step() runs one iteration and returns; results are read per session. No thread of
// its own and no callbacks, so that JavaScript polls between steps (DESIGN: never call JavaScript from
// native threads).
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "step.h"
#include "vramlab.h"

namespace vl {

class Model;
class Session;

// What a session asked the scheduler for, and how far it got (guarded by the scheduler's lock).
struct SessionWork {
  bool active = false;
  std::vector<int32_t> prompt;  // to prefill, in chunks
  size_t prefilled = 0;         // of prompt
  int32_t new_tokens = 0;       // greedy tokens to pick after it
  std::vector<int32_t> tokens;  // picked so far (the last one not yet run)
  uint64_t order = 0;           // submission order: prompt chunks are served oldest first
  vl_status status = VL_OK;     // why it stopped early
  std::string error;
  int32_t failures = 0;         // steps it was left out of, out of memory, in a row
  uint64_t step = 0;            // the step (SchedulerStep::step) that last changed it; 0 before any
};

struct SchedulerOptions {
  int32_t prefill_chunk = 256;  // prompt tokens per step, all sessions together
  int32_t max_batch = 256;      // sessions per step
};

// One step's report.
struct SchedulerStep {
  int32_t sessions = 0;        // in the batch
  int32_t decode_tokens = 0;
  int32_t prefill_tokens = 0;
  int32_t finished = 0;        // work items that ended in this step (done or failed)
  int32_t pending = 0;         // work items still active after it
  int32_t left_out = 0;        // sessions with work not taken (busy, paused, out of memory)
  double wall_ms = 0, device_ms = -1;
  uint64_t step = 0;           // its number among the steps that ran a batch (the last one's when it ran none)
};

class Scheduler {
 public:
  explicit Scheduler(Model &m) : m_(m) {}

  void set_options(const SchedulerOptions &o);
  SchedulerOptions options() const;
  // Queues work for s: prefill ids (n >= 1), then pick new_tokens tokens greedily. A session has at most
  // one work item at a time; forward / generate calls wait until it is done.
  void submit(Session &s, const int32_t *ids, int32_t n, int32_t new_tokens);
  // Drops the rest of s's work (what ran stays in its KV cache).
  void cancel(Session &s);
  // One batched forward over every runnable session; a no-op report when there is none.
  SchedulerStep step();
  // Records the graphs of decode steps of 1 to max_batch sessions (at most the batch option) before
  // any step needs them (Engine::prepare_batch_graphs); returns how many it recorded.
  int32_t prepare(int32_t max_batch);
  // The work of s (a copy, for the caller to read).
  SessionWork work(const Session &s) const;
  // The work's progress into info, and its picked tokens from index `from` on into tokens (at most cap:
  // returns how many it copied): what a reader has not seen yet, without copying the rest.
  int32_t read(const Session &s, int32_t from, vl_work_info &info, int32_t *tokens, int32_t cap) const;
  bool busy(const Session &s) const;

 private:
  Model &m_;
  mutable std::mutex mu_;
  SchedulerOptions options_;
  uint64_t order_ = 0;
  uint64_t steps_ = 0;  // steps that ran a batch
};

}  // namespace vl
