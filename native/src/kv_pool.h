// kv_pool.h: the paged KV cache. One pool of fixed-size blocks per model (a block holds
// block_tokens positions of every layer, see KvLayout), and a block table per session that maps
// positions to blocks. Attention reads through the table; the pager moves whole blocks.
#pragma once
#include <cstdint>
#include <mutex>
#include <vector>

#include "arena.h"
#include "backend.h"

namespace vl {

class KvPool {
 public:
  // Allocates n_blocks blocks of `shape` (base ignored) from the arena.
  KvPool(Arena &arena, KvLayout shape);

  const KvLayout &layout() const { return layout_; }
  int32_t free_blocks() const;
  // n blocks, all or none; throws Error(VL_ERR_OUT_OF_MEMORY) when the pool has fewer free.
  std::vector<int32_t> alloc(int32_t n);
  void release(const int32_t *blocks, size_t n);

 private:
  DeviceBuffer mem_;
  KvLayout layout_;
  mutable std::mutex mu_;
  std::vector<int32_t> free_;  // a stack; lowest ids on top so fresh pools hand out 0, 1, 2...
};

// One session's positions -> blocks. Position p lives in blocks()[p / block_tokens] at offset
// p % block_tokens.
class BlockTable {
 public:
  explicit BlockTable(KvPool &pool) : pool_(pool) {}
  ~BlockTable() { clear(); }
  BlockTable(const BlockTable &) = delete;
  BlockTable &operator=(const BlockTable &) = delete;

  int32_t n_tokens() const { return n_tokens_; }
  const std::vector<int32_t> &blocks() const { return blocks_; }
  // Makes room for `extra` more tokens; returns how many blocks were added (for rollback).
  int32_t reserve(int32_t extra);
  // Gives back the last `added` blocks after a failed step, so the session is as before it.
  void rollback(int32_t added);
  void commit(int32_t tokens) { n_tokens_ += tokens; }
  // Forgets positions from `tokens` on and gives back the blocks no longer needed.
  void truncate(int32_t tokens);
  // The pool slot of position pos: block_id * block_tokens + offset.
  int32_t slot(int32_t pos) const;
  void clear();

 private:
  KvPool &pool_;
  std::vector<int32_t> blocks_;
  int32_t n_tokens_ = 0;
};

}  // namespace vl
