// session.h: one sequence on a model: its KV block table, the token ids it holds (so that a dropped KV
// can be recomputed), a step paused at a breakpoint, what its last calls did, and its paging state.
// A model keeps a registry of its sessions (Model::sessions), from which the pager picks victims.
//
// Threads: one call at a time per session (`busy`, taken by the C ABI). The paging fields are read and
// written under the model's pager lock only.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kv_pool.h"
#include "scheduler.h"
#include "step.h"

namespace vl {

class Model;

// What the pager knows of a session (guarded by the pager's lock).
struct SessionPaging {
  bool running = false;     // a step (or a generation) is under way: never a victim
  uint64_t last_use = 0;    // the pager's clock at the session's last step (lru)
  double next_use = -1;     // the caller's key for its next turn, smaller = sooner; < 0 unknown (next-use)
  int32_t quota = 0;        // at most this many device blocks; 0: no limit
  uint64_t in_bytes = 0, out_bytes = 0;  // KV bytes paged in and out for it
  int32_t recomputed_tokens = 0;         // tokens re-run after its KV was dropped (recompute)
};

class Session {
 public:
  explicit Session(Model &model);  // registers with the model
  // Waits for a batched step using it to end, drops its scheduled work and a paused step, gives its
  // blocks back, unregisters.
  ~Session();
  Session(const Session &) = delete;
  Session &operator=(const Session &) = delete;

  Model &model() const { return model_; }
  // The model's n-th session (from 0, in creation order): how the pager's records name it.
  int32_t id() const { return id_; }
  BlockTable &table() { return table_; }
  const BlockTable &table() const { return table_; }

  // The ids whose KV the session holds; past table().n_tokens() those whose KV was dropped (recompute).
  const std::vector<int32_t> &history() const { return history_; }
  int32_t dropped_tokens() const { return int32_t(history_.size()) - table_.n_tokens(); }
  // After a step ran: its ids are now held.
  void commit(const int32_t *ids, int32_t n);
  // Forgets tokens from `tokens` on (KV and history).
  void truncate(int32_t tokens);
  void reset();

  SessionPaging paging;
  SessionWork work;             // what it submitted to the model's scheduler (its lock guards it)
  std::unique_ptr<Step> step;   // a step paused at a breakpoint, or null
  StepStats last;               // the last forward or generate call
  int32_t last_passes = 0;      // its forward passes (a generate call runs several)
  BreakpointView breakpoints;   // the paused step, or else the last step that had breakpoints
  std::mutex busy;              // one call at a time
  std::atomic<bool> batched{false};  // `busy` is held by a batched step of the scheduler (not by a call)
  // `busy` is held by the pager for a moment (it moves this session's blocks for another session's step,
  // or prefetches them): a call waits for it rather than failing.
  std::atomic<bool> paging_hold{false};

  // `busy` for a call: at once, or after the pager's brief hold; not owned when a call or step has it.
  std::unique_lock<std::mutex> call_lock() {
    std::unique_lock<std::mutex> lock(busy, std::try_to_lock);
    if (!lock.owns_lock() && paging_hold.load()) lock.lock();
    return lock;
  }

 private:
  Model &model_;
  int32_t id_;
  BlockTable table_;
  std::vector<int32_t> history_;
};

}  // namespace vl
