#include "kv_pager.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <set>

#include "error.h"
#include "session.h"

namespace vl {

namespace {
using Clock = std::chrono::steady_clock;

// The `busy` locks of the sessions whose blocks the pager moves, marked as the pager's (Session::
// paging_hold) so that their own calls wait for the move instead of failing; released, then unmarked.
struct PagingHolds {
  std::vector<std::unique_lock<std::mutex>> locks;
  std::vector<Session *> sessions;
  bool take(Session &s) {
    std::unique_lock<std::mutex> lock(s.busy, std::try_to_lock);
    if (!lock.owns_lock()) return false;
    s.paging_hold = true;
    locks.push_back(std::move(lock));
    sessions.push_back(&s);
    return true;
  }
  ~PagingHolds() {
    locks.clear();
    for (Session *s : sessions) s->paging_hold = false;
  }
};
double now_ms() { return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count(); }

// Blocks per chunk of copies: large enough that each copy runs near link speed (8 blocks of a 13B model
// are 105 MB), small enough that a page-in can start on the first blocks a page-out has freed.
constexpr size_t kChunkBlocks = 8;
}  // namespace

const char *paging_policy_name(PagingPolicy p) {
  switch (p) {
    case PagingPolicy::Lru: return "lru";
    case PagingPolicy::NextUse: return "next-use";
    case PagingPolicy::Recompute: return "recompute";
    case PagingPolicy::None: return "none";
  }
  return "?";
}

struct KvPager::Chunk {
  uint64_t seq = 0;
  PageKind kind = PageKind::Out;
  Event *start = nullptr, *end = nullptr;
  uint64_t bytes = 0;
  std::vector<int32_t> blocks, slots;  // the device blocks and host slots whose waits name this chunk
};

KvPager::KvPager(Backend &be, KvPool &pool, PagingPolicy policy)
    : be_(be), pool_(pool), policy_(policy), t0_ms_(now_ms()) {
  block_wait_.assign(size_t(pool.layout().n_blocks), 0);
  stats_.origin_ms = t0_ms_;
  compute_mark_ = be_.event_create();
}

KvPager::~KvPager() {
  // The copies read and write the pool's memory, which goes right after: wait for them.
  try {
    be_.synchronize(StreamId::Copy);
    be_.synchronize(StreamId::Offload);
  } catch (...) {
  }
  for (auto &[seq, c] : pending_) delete c;
  for (Event *e : all_events_) be_.event_destroy(e);
  be_.event_destroy(compute_mark_);
}

PagingPolicy KvPager::policy() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policy_;
}

void KvPager::set_policy(PagingPolicy p) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_ = p;
}

void KvPager::add_session(Session &s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.push_back(&s);
}

void KvPager::remove_session(Session &s) {
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(std::remove(sessions_.begin(), sessions_.end(), &s), sessions_.end());
}

std::vector<Session *> KvPager::sessions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_;
}

int32_t KvPager::next_session_id() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_id_++;
}

double KvPager::key_of(const Session &s) const {
  return policy_ == PagingPolicy::NextUse ? s.paging.next_use : double(s.paging.last_use);
}

Event *KvPager::event_locked() {
  if (!free_events_.empty()) {
    Event *e = free_events_.back();
    free_events_.pop_back();
    return e;
  }
  all_events_.push_back(be_.event_create());
  return all_events_.back();
}

KvPager::Chunk &KvPager::new_chunk_locked(PageKind kind, StreamId stream) {
  auto *c = new Chunk();
  c->seq = ++chunk_seq_;
  c->kind = kind;
  c->start = event_locked();
  c->end = event_locked();
  pending_[c->seq] = c;
  be_.event_record(c->start, stream);
  return *c;
}

void KvPager::harvest_locked(bool wait) {
  for (auto it = pending_.begin(); it != pending_.end();) {
    Chunk *c = it->second;
    if (wait) be_.event_synchronize(c->end);
    else if (!be_.event_query(c->end)) {
      ++it;
      continue;
    }
    const double ms = be_.event_elapsed_ms(c->start, c->end);
    (c->kind == PageKind::Out ? stats_.out_ms : stats_.in_ms) += ms;
    for (int32_t b : c->blocks)
      if (block_wait_[size_t(b)] == c->seq) block_wait_[size_t(b)] = 0;
    for (int32_t s : c->slots)
      if (size_t(s) < slot_wait_.size() && slot_wait_[size_t(s)] == c->seq) slot_wait_[size_t(s)] = 0;
    free_events_.push_back(c->start);
    free_events_.push_back(c->end);
    delete c;
    it = pending_.erase(it);
  }
  while (!stalls_.empty() && (wait || be_.event_query(stalls_.front().second))) {
    auto [before, after] = stalls_.front();
    if (wait) be_.event_synchronize(after);
    stats_.stall_ms += std::max(0.f, be_.event_elapsed_ms(before, after));
    free_events_.push_back(before);
    free_events_.push_back(after);
    stalls_.pop_front();
  }
}

void KvPager::wait_blocks_locked(StreamId stream, const std::vector<int32_t> &blocks) {
  std::set<uint64_t> seqs;
  for (int32_t b : blocks)
    if (uint64_t w = block_wait_[size_t(b)]; w != 0 && pending_.count(w)) seqs.insert(w);
  for (uint64_t w : seqs) be_.stream_wait(stream, pending_[w]->end);
}

void KvPager::record_locked(const Session &s, PageKind kind, PageReason why, int32_t blocks, uint64_t bytes, double key) {
  PagingEvent e;
  e.seq = events_.size() + 1;
  e.t_ms = now_ms() - t0_ms_;
  e.session = s.id();
  e.kind = kind;
  e.reason = why;
  e.blocks = blocks;
  e.bytes = bytes;
  e.key = key;
  e.device_blocks = s.table().device_blocks();
  e.host_blocks = s.table().host_blocks();
  e.pool_used = pool_.layout().n_blocks - pool_.free_blocks();
  e.host_used = pool_.used_slots();
  events_.push_back(e);
}

void KvPager::out_locked(Session &s, const std::vector<size_t> &idx, int32_t layers, PageReason why, double key) {
  if (idx.empty()) return;
  const KvLayout &kv = pool_.layout();
  const size_t layer_bytes = 2 * kv.plane_elems() * dtype_size(kv.dtype);  // one layer's K and V planes of a block
  const size_t bytes = size_t(layers) * layer_bytes;                          // a prefix of the block's range
  BlockTable &t = s.table();
  // The victim's own compute (a paused step's save, its last step) is done before its blocks are read.
  be_.event_record(compute_mark_, StreamId::Compute);
  be_.stream_wait(StreamId::Offload, compute_mark_);
  uint64_t total = 0;
  for (size_t first = 0; first < idx.size(); first += kChunkBlocks) {
    const size_t n = std::min(kChunkBlocks, idx.size() - first);
    std::vector<int32_t> slots;
    try {
      for (size_t k = 0; k < n; k++) slots.push_back(pool_.alloc_slot());
    } catch (...) {
      for (int32_t sl : slots) pool_.release_slot(sl);
      if (total > 0) record_locked(s, PageKind::Out, why, int32_t(first), total, key);
      throw;
    }
    if (slot_wait_.size() < size_t(pool_.slot_capacity())) slot_wait_.resize(size_t(pool_.slot_capacity()), 0);
    // Wait for what last used this memory: a page-in that read these slots, one that filled these blocks.
    std::vector<int32_t> devs;
    for (size_t k = 0; k < n; k++) devs.push_back(t.blocks()[idx[first + k]].device);
    wait_for_locked(devs, slots, StreamId::Offload);
    Chunk &c = new_chunk_locked(PageKind::Out, StreamId::Offload);
    // Coalesce runs of consecutive device blocks landing in consecutive slots into one copy.
    for (size_t k = 0; k < n;) {
      size_t run = 1;
      const int32_t d0 = t.blocks()[idx[first + k]].device;
      while (bytes == kv.block_bytes() && k + run < n && t.blocks()[idx[first + k + run]].device == d0 + int32_t(run) &&
             slots[k + run] == slots[k] + int32_t(run) && (slots[k] + int32_t(run)) % KvPool::kSlotsPerChunk != 0)
        run++;
      be_.copy(pool_.slot_data(slots[k]), pool_.block_data(d0), run * bytes, CopyKind::DeviceToHost, StreamId::Offload);
      k += run;
    }
    be_.event_record(c.end, StreamId::Offload);
    for (size_t k = 0; k < n; k++) {
      const size_t i = idx[first + k];
      const int32_t dev = t.blocks()[i].device;
      t.set_host(i, slots[k], layers);
      pool_.release(&dev, 1);
      block_wait_[size_t(dev)] = c.seq;  // reused only after this copy has read it
      slot_wait_[size_t(slots[k])] = c.seq;  // read back only after it is written
      c.blocks.push_back(dev);
      c.slots.push_back(slots[k]);
    }
    c.bytes = n * bytes;
    total += c.bytes;
  }
  stats_.out_bytes += total;
  stats_.out_blocks += idx.size();
  s.paging.out_bytes += total;
  record_locked(s, PageKind::Out, why, int32_t(idx.size()), total, key);
}

void KvPager::drop_locked(Session &s, int32_t blocks, double key) {
  BlockTable &t = s.table();
  const int32_t keep = int32_t(t.blocks().size()) - blocks;
  const std::vector<BlockRef> &refs = t.blocks();
  std::vector<int32_t> devs;
  for (size_t i = size_t(keep); i < refs.size(); i++) devs.push_back(refs[i].device);
  t.truncate(keep * pool_.layout().block_tokens);  // gives the blocks back; the history keeps the ids
  // The dropped blocks may still be read by a page-out or written by a page-in in flight: their waits stay.
  stats_.dropped_blocks += uint64_t(blocks);
  record_locked(s, PageKind::Drop, PageReason::Lru, blocks, 0, key);
}

void KvPager::wait_for_locked(const std::vector<int32_t> &devs, const std::vector<int32_t> &slots, StreamId stream) {
  std::set<uint64_t> waits;
  for (int32_t d : devs)
    if (const uint64_t w = block_wait_[size_t(d)]; w != 0 && pending_.count(w)) waits.insert(w);
  for (int32_t sl : slots)
    if (const uint64_t w = slot_wait_[size_t(sl)]; w != 0 && pending_.count(w)) waits.insert(w);
  for (uint64_t w : waits) be_.stream_wait(stream, pending_[w]->end);
}

int32_t KvPager::in_locked(Session &s, PageReason why, int32_t limit) {
  BlockTable &t = s.table();
  std::vector<size_t> idx;
  for (size_t i = 0; i < t.blocks().size() && int32_t(idx.size()) < limit; i++)
    if (!t.blocks()[i].resident()) idx.push_back(i);
  if (idx.empty()) return 0;
  const KvLayout &kv = pool_.layout();
  const size_t layer_bytes = 2 * kv.plane_elems() * dtype_size(kv.dtype);
  uint64_t total = 0;
  for (size_t first = 0; first < idx.size(); first += kChunkBlocks) {
    const size_t n = std::min(kChunkBlocks, idx.size() - first);
    std::vector<int32_t> devs = pool_.alloc(int32_t(n));
    std::vector<int32_t> slots;
    for (size_t k = 0; k < n; k++) slots.push_back(t.blocks()[idx[first + k]].host);
    wait_for_locked(devs, slots, StreamId::Copy);  // a page-out still reading these blocks or slots
    Chunk &c = new_chunk_locked(PageKind::In, StreamId::Copy);
    for (size_t k = 0; k < n;) {
      const BlockRef &r = t.blocks()[idx[first + k]];
      const size_t bytes = size_t(r.layers) * layer_bytes;
      size_t run = 1;
      while (bytes == kv.block_bytes() && k + run < n && devs[k + run] == devs[k] + int32_t(run)) {
        const BlockRef &q = t.blocks()[idx[first + k + run]];
        if (q.host != r.host + int32_t(run) || q.layers != r.layers || q.host % KvPool::kSlotsPerChunk == 0) break;
        run++;
      }
      be_.copy(pool_.block_data(devs[k]), pool_.slot_data(r.host), run * bytes, CopyKind::HostToDevice, StreamId::Copy);
      c.bytes += run * bytes;
      k += run;
    }
    be_.event_record(c.end, StreamId::Copy);
    for (size_t k = 0; k < n; k++) {
      const size_t i = idx[first + k];
      const int32_t slot = t.blocks()[i].host;
      t.set_device(i, devs[k]);
      pool_.release_slot(slot);
      slot_wait_[size_t(slot)] = c.seq;      // rewritten only after this copy has read it
      block_wait_[size_t(devs[k])] = c.seq;  // computed on only after it is filled
      c.blocks.push_back(devs[k]);
      c.slots.push_back(slot);
    }
    total += c.bytes;
  }
  stats_.in_bytes += total;
  stats_.in_blocks += idx.size();
  if (why == PageReason::Prefetch) stats_.prefetched_blocks += idx.size();
  s.paging.in_bytes += total;
  record_locked(s, PageKind::In, why, int32_t(idx.size()), total, key_of(s));
  return int32_t(idx.size());
}

int32_t KvPager::evict_locked(int32_t need, const Session *self, const Session *also, double before, PageReason why) {
  if (need <= 0 || policy_ == PagingPolicy::None) return 0;
  // Victims: idle sessions with device blocks, their calls locked out while they are changed.
  PagingHolds holds;
  std::vector<Session *> victims;
  for (Session *v : sessions_) {
    if (v == self || v == also || v->paging.running || v->table().device_blocks() == 0) continue;
    if (policy_ == PagingPolicy::NextUse && before >= 0 && v->paging.next_use >= 0 && v->paging.next_use <= before) continue;
    if (holds.take(*v)) victims.push_back(v);
  }
  const auto older = [](const Session *a, const Session *b) {
    return a->paging.last_use != b->paging.last_use ? a->paging.last_use < b->paging.last_use : a->id() < b->id();
  };
  if (policy_ == PagingPolicy::NextUse) {
    // Furthest next use first; an unknown one is the furthest of all.
    std::sort(victims.begin(), victims.end(), [&](const Session *a, const Session *b) {
      const double ka = a->paging.next_use < 0 ? INFINITY : a->paging.next_use;
      const double kb = b->paging.next_use < 0 ? INFINITY : b->paging.next_use;
      return ka != kb ? ka > kb : older(a, b);
    });
  } else {
    std::sort(victims.begin(), victims.end(), older);
  }
  const int32_t L = pool_.layout().n_layers;
  int32_t freed = 0;
  for (Session *v : victims) {
    if (freed >= need) break;
    BlockTable &t = v->table();
    const int32_t take = std::min(t.device_blocks(), need - freed);
    stats_.evictions++;
    // Recompute drops an idle session's last blocks when they are all on the device (a suffix of its
    // tokens, to be re-run); a paused step's KV cannot be re-run, so it is copied out.
    const size_t nb = t.blocks().size();
    bool suffix = true;
    for (size_t i = nb - size_t(take); i < nb; i++) suffix = suffix && t.blocks()[i].resident();
    if (policy_ == PagingPolicy::Recompute && !v->step && suffix && t.host_blocks() == 0) {
      drop_locked(*v, take, key_of(*v));
    } else {
      std::vector<size_t> idx;
      for (size_t i = nb; i-- > 0 && int32_t(idx.size()) < take;)
        if (t.blocks()[i].resident()) idx.push_back(i);
      std::reverse(idx.begin(), idx.end());
      out_locked(*v, idx, L, why, key_of(*v));
    }
    freed += take;
  }
  return freed;
}

std::string KvPager::Holders::text() const {
  if (running == 0 && idle == 0) return ", and no other session holds any";
  return " (" + std::to_string(running) + " held by running sessions, " + std::to_string(idle) + " by idle ones)";
}

KvPager::Holders KvPager::held_by_others_locked(const Session &self) const {
  Holders h;
  for (const Session *v : sessions_) {
    if (v == &self) continue;
    (v->paging.running ? h.running : h.idle) += v->table().device_blocks();
  }
  return h;
}

namespace {
// The pool's size as the command line and the API name it.
const char *const kRaisePool = "raise the KV pool (--kv-pool-tokens, or kvPoolTokens in the API)";
}  // namespace

int32_t KvPager::prepare_locked(Session &s, int32_t extra, bool first) {
  BlockTable &t = s.table();
  const KvLayout &kv = pool_.layout();
  const int32_t host = t.host_blocks(), fresh = t.blocks_needed(extra);
  const int32_t need = host + fresh;
  const int32_t total = int32_t(t.blocks().size()) + fresh;
  if (s.paging.quota > 0 && total > s.paging.quota)
    throw Error(VL_ERR_OUT_OF_MEMORY, "the step needs " + std::to_string(total) + " KV blocks for the session but its quota is " +
                                          std::to_string(s.paging.quota) + " device blocks; raise the quota or shorten the session");
  if (need > pool_.free_blocks()) {
    const PageReason why = policy_ == PagingPolicy::NextUse ? PageReason::NextUse : PageReason::Lru;
    evict_locked(need - pool_.free_blocks(), &s, nullptr, -1, why);
  }
  const int32_t free = pool_.free_blocks();
  if (need > free) {
    // Advice that fits the case: sessions to free or pause only when other sessions hold blocks.
    const Holders others = held_by_others_locked(s);
    std::string advice = std::string("; ") + kRaisePool;
    if (others.idle > 0 && policy_ == PagingPolicy::None) advice = "; paging is off (--paging none, or paging: 'none' in the API): turn it on, free idle sessions, or " + std::string(kRaisePool);
    else if (others.running > 0) advice += ", or free or pause the sessions that run";
    else if (others.idle > 0) advice += ", or free idle sessions";
    throw Error(VL_ERR_OUT_OF_MEMORY,
                "KV pool exhausted: the step needs " + std::to_string(need) + " blocks (" + format_bytes(uint64_t(need) * kv.block_bytes()) +
                    ": " + std::to_string(host) + " of the session's back from host memory, " + std::to_string(fresh) +
                    " new) but only " + std::to_string(free) + " of the " + std::to_string(kv.n_blocks) + " are free" +
                    others.text() + advice);
  }
  in_locked(s, PageReason::Step, INT_MAX);
  const int32_t added = t.reserve(extra);
  // Compute waits for the copies that fill its blocks and for those still reading the new ones (none
  // in flight: nothing to look up, the common case of a decode step).
  std::set<uint64_t> seqs;
  if (!pending_.empty())
    for (const BlockRef &b : t.blocks())
      if (uint64_t w = block_wait_[size_t(b.device)]; w != 0 && pending_.count(w)) seqs.insert(w);
  if (!seqs.empty()) {
    Event *before = event_locked(), *after = event_locked();
    be_.event_record(before, StreamId::Compute);
    for (uint64_t w : seqs) be_.stream_wait(StreamId::Compute, pending_[w]->end);
    be_.event_record(after, StreamId::Compute);
    stalls_.emplace_back(before, after);
  }
  if (first) {
    s.paging.running = true;
    s.paging.last_use = ++clock_;
    record_locked(s, PageKind::Run, PageReason::Step, int32_t(t.blocks().size()), 0, double(extra));
    if (policy_ == PagingPolicy::NextUse) prefetch_locked(s);
  }
  return added;
}

int32_t KvPager::prepare(Session &s, int32_t extra) {
  std::lock_guard<std::mutex> lock(mu_);
  harvest_locked(false);
  return prepare_locked(s, extra, true);
}

int32_t KvPager::reserve(Session &s, int32_t extra) {
  std::lock_guard<std::mutex> lock(mu_);
  return prepare_locked(s, extra, false);
}

void KvPager::prefetch_locked(const Session &current) {
  // The session that runs next (the smallest known key among those not running), when its blocks are
  // on the host. Only that one: fetching sessions further ahead would evict ones needed before them
  // (a sliding window that moves a session every turn, as lru does).
  Session *next = nullptr;
  for (Session *v : sessions_) {
    if (v == &current || v->paging.running || v->paging.next_use < 0) continue;
    if (!next || v->paging.next_use < next->paging.next_use || (v->paging.next_use == next->paging.next_use && v->id() < next->id()))
      next = v;
  }
  if (!next || next->table().host_blocks() == 0) return;
  PagingHolds hold;
  if (!hold.take(*next)) return;
  // Room from free blocks and from sessions needed after it (never from the one computing).
  const int32_t want = next->table().host_blocks();
  if (want > pool_.free_blocks()) evict_locked(want - pool_.free_blocks(), &current, next, next->paging.next_use, PageReason::NextUse);
  const int32_t room = std::min(want, pool_.free_blocks());
  if (room > 0) in_locked(*next, PageReason::Prefetch, room);
}

void KvPager::finish(Session &s) {
  std::lock_guard<std::mutex> lock(mu_);
  s.paging.running = false;
  harvest_locked(false);
}

void KvPager::offload(Session &s, size_t first, size_t count, int32_t layers) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<size_t> idx;
  for (size_t i = first; i < first + count && i < s.table().blocks().size(); i++)
    if (s.table().blocks()[i].resident()) idx.push_back(i);
  out_locked(s, idx, layers, PageReason::Offload, key_of(s));
}

void KvPager::stash(std::vector<int32_t> &slots, const void *src, size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t bb = pool_.block_bytes();
  if (slots.empty()) {
    try {
      for (size_t off = 0; off < bytes; off += bb) slots.push_back(pool_.alloc_slot());
    } catch (...) {
      for (int32_t sl : slots) pool_.release_slot(sl);
      slots.clear();
      throw;
    }
  }
  if (slot_wait_.size() < size_t(pool_.slot_capacity())) slot_wait_.resize(size_t(pool_.slot_capacity()), 0);
  std::set<uint64_t> waits;
  for (int32_t sl : slots)
    if (uint64_t w = slot_wait_[size_t(sl)]; w != 0 && pending_.count(w)) waits.insert(w);
  for (uint64_t w : waits) be_.stream_wait(StreamId::Compute, pending_[w]->end);
  for (size_t k = 0; k < slots.size(); k++)
    be_.copy(pool_.slot_data(slots[k]), static_cast<const char *>(src) + k * bb, std::min(bb, bytes - k * bb),
             CopyKind::DeviceToHost, StreamId::Compute);
}

void KvPager::unstash(const std::vector<int32_t> &slots, void *dst, size_t bytes) {
  const size_t bb = pool_.block_bytes();
  for (size_t k = 0; k < slots.size(); k++)
    be_.copy(static_cast<char *>(dst) + k * bb, pool_.slot_data(slots[k]), std::min(bb, bytes - k * bb),
             CopyKind::HostToDevice, StreamId::Compute);
}

void KvPager::read_stash(const std::vector<int32_t> &slots, void *out, size_t bytes) {
  const size_t bb = pool_.block_bytes();
  for (size_t k = 0; k < slots.size(); k++)
    std::memcpy(static_cast<char *>(out) + k * bb, pool_.slot_data(slots[k]), std::min(bb, bytes - k * bb));
}

void KvPager::write_stash(const std::vector<int32_t> &slots, const void *in, size_t bytes) {
  const size_t bb = pool_.block_bytes();
  for (size_t k = 0; k < slots.size(); k++)
    std::memcpy(pool_.slot_data(slots[k]), static_cast<const char *>(in) + k * bb, std::min(bb, bytes - k * bb));
}

void KvPager::release_stash(std::vector<int32_t> &slots) {
  // Called once the Compute stream is past the stash's copies (the step ended, or was settled).
  for (int32_t sl : slots) pool_.release_slot(sl);
  slots.clear();
}

void KvPager::page_out(Session &s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (s.paging.running) throw Error(VL_ERR_STATE, "the session is running a step: page it out once the step is done");
  harvest_locked(false);
  std::vector<size_t> idx;
  for (size_t i = 0; i < s.table().blocks().size(); i++)
    if (s.table().blocks()[i].resident()) idx.push_back(i);
  out_locked(s, idx, pool_.layout().n_layers, PageReason::Explicit, key_of(s));
}

void KvPager::page_in(Session &s) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (s.paging.running) throw Error(VL_ERR_STATE, "the session is running a step: it is resident already");
    harvest_locked(false);
    const int32_t host = s.table().host_blocks();
    if (host > pool_.free_blocks()) {
      const PageReason why = policy_ == PagingPolicy::NextUse ? PageReason::NextUse : PageReason::Lru;
      evict_locked(host - pool_.free_blocks(), &s, nullptr, -1, why);
    }
    if (host > pool_.free_blocks())
      throw Error(VL_ERR_OUT_OF_MEMORY, "cannot page the session in: it has " + std::to_string(host) + " KV blocks on the host and " +
                                            std::to_string(pool_.free_blocks()) + " device blocks are free" +
                                            held_by_others_locked(s).text());
    in_locked(s, PageReason::Explicit, INT_MAX);
  }
  be_.synchronize(StreamId::Copy);  // resident when the call returns
}

void KvPager::set_next_use(Session &s, double key) {
  std::lock_guard<std::mutex> lock(mu_);
  s.paging.next_use = key < 0 || key != key ? -1 : key;
}

void KvPager::set_quota(Session &s, int32_t max_device_blocks) {
  if (max_device_blocks < 0) throw Error(VL_ERR_INVALID_ARGUMENT, "a quota is a number of device blocks >= 0 (0: no limit)");
  std::lock_guard<std::mutex> lock(mu_);
  s.paging.quota = max_device_blocks;
}

void KvPager::note_recompute(Session &s, int32_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.recomputed_tokens += uint64_t(tokens);
  s.paging.recomputed_tokens += tokens;
}

PagingStats KvPager::stats() {
  std::lock_guard<std::mutex> lock(mu_);
  harvest_locked(false);
  PagingStats s = stats_;
  s.host_alloc_ms = pool_.host_alloc_ms();
  return s;
}

std::vector<PagingEvent> KvPager::events() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_;
}

size_t KvPager::event_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.size();
}

}  // namespace vl
