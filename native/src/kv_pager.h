// kv_pager.h: every move of KV blocks between a model's device pool and its host block store (one
// pager per model). Before a step the engine asks it to make the step's session resident: its paged-out
// blocks come back (host to device, on the Copy stream) and, when the pool lacks room, blocks of
// sessions that are not running (idle, or paused at a breakpoint) go out (device to host, on the Offload
// stream) or, under the recompute policy, are dropped and re-run when their session returns. The two
// directions run at once, in chunks, each chunk waiting only for the copies whose memory it reuses.
//
// Policies (per model):
//   lru        evicts the least recently run sessions first;
//   next-use   evicts the sessions whose next turn is furthest away (the caller gives each session a key,
//              smaller = sooner: the order of upcoming turns, or an expected start time), and prefetches
//              the next session's blocks while the current one computes;
//   recompute  drops the evicted KV instead of copying it, and re-runs the tokens when the session
//              returns (the stateless baseline; a paused session is copied instead);
//   none       never evicts: a step that does not fit fails (the out-of-memory baseline).
// Every decision is recorded (PagingEvent): the same calls under the same policy give the same
// sequence, whatever the timings, so a run can be replayed and compared.
//
// Ordering on the device: a device block freed by a page-out is reused only after that copy (the
// consumer stream waits for its chunk's event); a host slot freed by a page-in likewise; a step's
// compute waits for the chunks that fill its blocks. Chunks complete in order per stream and are
// harvested (their device times added to the stats) as they are found complete.
//
// Threads: one lock. The engine calls prepare/reserve/finish/offload under its own lock (engine ->
// pager); explicit page_out / page_in come from any thread. A session is a victim only when the pager
// can take its `busy` lock (no call of it is under way) and it is not running.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backend.h"
#include "kv_pool.h"

namespace vl {

class Session;

enum class PagingPolicy : int32_t { Lru = 0, NextUse = 1, Recompute = 2, None = 3 };
const char *paging_policy_name(PagingPolicy p);

// What a record says happened, and why (the rule that chose it).
enum class PageKind : int32_t { Out = 0, In = 1, Drop = 2, Run = 3 };
enum class PageReason : int32_t {
  Step = 0,       // in: the step's own blocks, back before it runs; run: a step started
  Lru = 1,        // out/drop: the least recently run session
  NextUse = 2,    // out/drop: the session whose next turn is furthest away
  Prefetch = 3,   // in: the next session's blocks, while the current one computes
  Explicit = 4,   // page_out() / page_in()
  Offload = 5,    // out: a breakpoint pause with offload
};

struct PagingEvent {
  uint64_t seq = 0;
  double t_ms = 0;          // host milliseconds since the pager was made
  int32_t session = -1;     // Session::id()
  PageKind kind = PageKind::Run;
  PageReason reason = PageReason::Step;
  int32_t blocks = 0;       // blocks moved or dropped (run: the session's blocks)
  uint64_t bytes = 0;       // bytes copied (run: 0)
  double key = 0;           // the policy's value for the session: last use (lru), next-use key, tokens (run)
  int32_t device_blocks = 0;  // the session's blocks on the device after it
  int32_t host_blocks = 0;    // and on the host
  int32_t pool_used = 0;      // device blocks in use, all sessions, after it
  int32_t host_used = 0;      // host slots in use, after it
};

struct PagingStats {
  uint64_t out_bytes = 0, in_bytes = 0;
  uint64_t out_blocks = 0, in_blocks = 0;
  uint64_t evictions = 0;          // victim sessions chosen (each out or drop decision)
  uint64_t dropped_blocks = 0;     // recompute: blocks dropped
  uint64_t recomputed_tokens = 0;  // recompute: tokens re-run
  uint64_t prefetched_blocks = 0;  // next-use: blocks paged in ahead of their step
  double out_ms = 0, in_ms = 0;    // the copies' own device time, harvested chunks only
  double stall_ms = 0;             // compute waiting for pages (device time)
  double host_alloc_ms = 0;        // host time pinning the host store's chunks (KvPool::reserve_slots and growth)
  double origin_ms = 0;            // the records' t_ms origin on the steady clock (CLOCK_MONOTONIC), ms
};

class KvPager {
 public:
  KvPager(Backend &be, KvPool &pool, PagingPolicy policy);
  ~KvPager();  // waits for the copies in flight (their memory goes with the pool)
  KvPager(const KvPager &) = delete;
  KvPager &operator=(const KvPager &) = delete;

  PagingPolicy policy() const;
  void set_policy(PagingPolicy p);

  // ---- the model's sessions ----
  void add_session(Session &s);
  void remove_session(Session &s);
  int32_t next_session_id();
  // The model's sessions now, in creation order.
  std::vector<Session *> sessions() const;

  // ---- the engine (its lock held) ----
  // Makes every block of `s` resident and reserves blocks for `extra` more tokens, evicting blocks of
  // other sessions as the policy says when the pool lacks room; marks s running; makes the Compute
  // stream wait for the copies its blocks depend on; under next-use, prefetches the next session.
  // Returns the blocks added (for rollback). When s cannot fit even with every other session evicted,
  // throws Error(VL_ERR_OUT_OF_MEMORY) saying what it needs; s is then as before the call.
  int32_t prepare(Session &s, int32_t extra);
  // More blocks for a session already prepared (a generation's decode positions).
  int32_t reserve(Session &s, int32_t extra);
  // The step of s ended or paused: it may be a victim again.
  void finish(Session &s);
  // A breakpoint pause with offload: blocks [first, first + count) of s's table, their first `layers`
  // layers, to host slots (the device blocks go back to the pool once copied).
  void offload(Session &s, size_t first, size_t count, int32_t layers);
  // Device bytes to host slots, on the Compute stream (the offloaded residual; `slots` are allocated when
  // empty, else reused); and back, on Compute.
  void stash(std::vector<int32_t> &slots, const void *src, size_t bytes);
  void unstash(const std::vector<int32_t> &slots, void *dst, size_t bytes);
  // Host reads and writes of a stash, once its copies have run.
  void read_stash(const std::vector<int32_t> &slots, void *out, size_t bytes);
  void write_stash(const std::vector<int32_t> &slots, const void *in, size_t bytes);
  void release_stash(std::vector<int32_t> &slots);

  // ---- explicit control (any thread; s must not be running) ----
  void page_out(Session &s);
  // Returns once every block of s is resident (waits for its copies).
  void page_in(Session &s);
  void set_next_use(Session &s, double key);
  void set_quota(Session &s, int32_t max_device_blocks);

  // ---- what happened ----
  // A recompute re-ran `tokens` tokens of s.
  void note_recompute(Session &s, int32_t tokens);
  PagingStats stats();
  std::vector<PagingEvent> events() const;
  size_t event_count() const;

 private:
  struct Chunk;
  struct Victim;
  // Evicts at least `need` device blocks from sessions other than `self` (and `also`), best victims
  // first as the policy orders them; under next-use with `before` >= 0 only sessions whose next use is
  // after `before`. Returns the blocks freed.
  int32_t evict_locked(int32_t need, const Session *self, const Session *also, double before, PageReason why);
  // Pages out blocks `idx` of s (all layers unless `layers`): chunks of copies on the Offload stream.
  void out_locked(Session &s, const std::vector<size_t> &idx, int32_t layers, PageReason why, double key);
  void drop_locked(Session &s, int32_t blocks, double key);
  // Pages in every host block of s (as many as `limit`), on the Copy stream.
  int32_t in_locked(Session &s, PageReason why, int32_t limit);
  int32_t prepare_locked(Session &s, int32_t extra, bool first);
  // Makes `stream` wait for the pending chunks that `blocks` (device) depend on.
  void wait_blocks_locked(StreamId stream, const std::vector<int32_t> &blocks);
  void prefetch_locked(const Session &current);
  void harvest_locked(bool wait);
  Chunk &new_chunk_locked(PageKind kind, StreamId stream);
  // Makes `stream` wait for the copies in flight that last used these device blocks or host slots.
  void wait_for_locked(const std::vector<int32_t> &devs, const std::vector<int32_t> &slots, StreamId stream);
  Event *event_locked();
  void record_locked(const Session &s, PageKind kind, PageReason why, int32_t blocks, uint64_t bytes, double key);
  double key_of(const Session &s) const;
  // The device blocks other sessions than self hold, running and idle, and what a pool error should
  // advise from them (no other session: nothing to free).
  struct Holders {
    int32_t running = 0, idle = 0;
    std::string text() const;  // " (R held by running sessions, I by idle ones)", or ", and no other session holds any"
  };
  Holders held_by_others_locked(const Session &self) const;

  Backend &be_;
  KvPool &pool_;
  mutable std::mutex mu_;
  PagingPolicy policy_;
  std::vector<Session *> sessions_;
  int32_t next_id_ = 0;
  uint64_t clock_ = 0;  // steps started: the lru clock
  double t0_ms_;        // host clock at construction

  // Chunks of copies in flight, by sequence number; device blocks and host slots name the chunk whose
  // copy must complete before they are reused (0: none).
  std::map<uint64_t, Chunk *> pending_;
  uint64_t chunk_seq_ = 0;
  std::vector<uint64_t> block_wait_;  // per device block
  std::vector<uint64_t> slot_wait_;   // per host slot
  std::vector<Event *> free_events_;
  std::vector<Event *> all_events_;
  Event *compute_mark_ = nullptr;     // re-recorded before each page-out: the victims' compute is done
  std::deque<std::pair<Event *, Event *>> stalls_;  // (before, after) the Compute stream's waits

  PagingStats stats_;
  std::vector<PagingEvent> events_;
};

}  // namespace vl
