// kv_pool.h: the paged KV cache's storage. One pool per model with two tiers: fixed-size blocks in
// device memory (a block holds block_tokens positions of every layer, see KvLayout) and a host block
// store of the same block size in pinned memory, grown in chunks under the runtime's host budget. A
// block table per session maps its positions to blocks, each resident on the device or paged out to a
// host slot. Attention reads through the device ids; the pager (kv_pager.h) moves whole blocks between
// the tiers; this file only allocates and frees.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "arena.h"
#include "backend.h"

namespace vl {

class KvPool {
 public:
  // Allocates n_blocks device blocks of `shape` (base ignored) from `device`; host slots come from
  // `host` as they are needed.
  KvPool(Arena &device, Arena &host, KvLayout shape);

  const KvLayout &layout() const { return layout_; }
  size_t block_bytes() const { return layout_.block_bytes(); }

  // ---- device blocks ----
  int32_t free_blocks() const;
  // n device blocks, all or none; throws Error(VL_ERR_OUT_OF_MEMORY) when fewer are free.
  std::vector<int32_t> alloc(int32_t n);
  void release(const int32_t *blocks, size_t n);
  // The start of device block b: its layers' K and V planes follow one another from there.
  char *block_data(int32_t b) const { return static_cast<char *>(layout_.base) + size_t(b) * block_bytes(); }

  // ---- host slots (pinned, block_bytes each) ----
  // A free slot, growing the store by a chunk when none is; throws Error(VL_ERR_OUT_OF_MEMORY) naming
  // the host budget when it cannot grow.
  int32_t alloc_slot();
  void release_slot(int32_t slot);
  char *slot_data(int32_t slot) const;
  int32_t used_slots() const;
  // One past the largest slot id (ids are chunk * kSlotsPerChunk + index, so slots of a chunk are consecutive).
  int32_t slot_capacity() const;
  // Pinned bytes the store holds (its chunks), used or not.
  uint64_t host_bytes() const;
  // Grows the store to at least n slots now (whole chunks; n <= slots held: nothing), so that paging
  // later does not wait for pinned allocations. Returns the milliseconds it spent pinning; throws
  // Error(VL_ERR_OUT_OF_MEMORY) naming the host budget, with nothing allocated, when n does not fit it.
  double reserve_slots(int64_t n);
  // Milliseconds spent pinning the store's chunks so far (reserved or grown on demand).
  double host_alloc_ms() const;

 private:
  Buffer mem_;
  KvLayout layout_;
  Arena &host_;
  mutable std::mutex mu_;
  std::vector<int32_t> free_;        // device blocks: a stack, lowest ids on top so fresh pools hand out 0, 1, 2...
  std::vector<Buffer> chunks_;       // the host store, up to kSlotsPerChunk slots each
  std::vector<int32_t> free_slots_;  // a stack, lowest ids on top
  int32_t slots_ = 0;                // slots in chunks_
  double alloc_ms_ = 0;              // host time spent in the chunks' allocations
  void grow_locked(const char *why);
  uint64_t host_room() const;  // bytes the host budget can still give

 public:
  static constexpr int32_t kSlotsPerChunk = 64;
};

// A session's logical block: resident in device block `device`, or paged out to host slot `host`
// (holding the block's first `layers` layers: a breakpoint offload saves only the layers its step ran).
struct BlockRef {
  int32_t device = -1;
  int32_t host = -1;
  int32_t layers = 0;
  bool resident() const { return device >= 0; }
};

// One session's positions -> blocks. Position p lives in blocks()[p / block_tokens] at offset
// p % block_tokens. Steps run only on a table whose blocks are all resident.
class BlockTable {
 public:
  explicit BlockTable(KvPool &pool) : pool_(pool) {}
  ~BlockTable() { clear(); }
  BlockTable(const BlockTable &) = delete;
  BlockTable &operator=(const BlockTable &) = delete;

  KvPool &pool() const { return pool_; }
  int32_t n_tokens() const { return n_tokens_; }
  const std::vector<BlockRef> &blocks() const { return blocks_; }
  int32_t device_blocks() const;
  int32_t host_blocks() const;
  bool resident() const { return host_blocks() == 0; }
  // Bumped at every change of the blocks (reserve, rollback, paging): a step's uploaded block table
  // and slots are current while it is unchanged.
  uint64_t generation() const { return generation_; }

  // New blocks `extra` more tokens need beyond those held.
  int32_t blocks_needed(int32_t extra) const;
  // Makes room for `extra` more tokens from the device pool; returns how many blocks were added (for
  // rollback). Throws Error(VL_ERR_OUT_OF_MEMORY) when the pool has too few free (the pager makes room first).
  int32_t reserve(int32_t extra);
  // Gives back the last `added` blocks after a failed step, so the session is as before it.
  void rollback(int32_t added);
  void commit(int32_t tokens) { n_tokens_ += tokens; }
  // Forgets positions from `tokens` on and gives back the blocks no longer needed.
  void truncate(int32_t tokens);
  // The pool slot of position pos (block_id * block_tokens + offset); its block must be resident.
  int32_t slot(int32_t pos) const;
  // The device ids of every block, in order (all resident).
  void device_ids(std::vector<int32_t> &out) const;
  void clear();

  // ---- for the pager: a block changing tier ----
  // Block i now lives in host slot `slot` (its first `layers` layers); the device block is not freed here.
  void set_host(size_t i, int32_t slot, int32_t layers);
  // Block i now lives in device block `block`; the host slot is not freed here.
  void set_device(size_t i, int32_t block);

 private:
  void release(const BlockRef &b);

  KvPool &pool_;
  std::vector<BlockRef> blocks_;
  int32_t n_tokens_ = 0;
  uint64_t generation_ = 0;
};

}  // namespace vl
