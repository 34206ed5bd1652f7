#include "kv_pool.h"

#include "error.h"

namespace vl {

KvPool::KvPool(Arena &arena, KvLayout shape) : layout_(shape) {
  mem_ = arena.alloc(shape.bytes(), "the KV pool (" + std::to_string(shape.n_blocks) + " blocks of " +
                                        std::to_string(shape.block_tokens) + " tokens)");
  layout_.base = mem_.get();
  free_.reserve(size_t(shape.n_blocks));
  for (int32_t b = shape.n_blocks - 1; b >= 0; b--) free_.push_back(b);
}

int32_t KvPool::free_blocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int32_t(free_.size());
}

std::vector<int32_t> KvPool::alloc(int32_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  if (size_t(n) > free_.size())
    throw Error(VL_ERR_OUT_OF_MEMORY,
                "KV pool exhausted: the step needs " + std::to_string(n) + " more blocks of " +
                    std::to_string(layout_.block_tokens) + " tokens but " + std::to_string(free_.size()) + " of " +
                    std::to_string(layout_.n_blocks) +
                    " are free; free other sessions or load the model with a larger KV pool (kv_pool_tokens)");
  std::vector<int32_t> out(free_.end() - n, free_.end());
  free_.resize(free_.size() - size_t(n));
  return std::vector<int32_t>(out.rbegin(), out.rend());
}

void KvPool::release(const int32_t *blocks, size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = n; i-- > 0;) free_.push_back(blocks[i]);
}

int32_t BlockTable::reserve(int32_t extra) {
  const int32_t bt = pool_.layout().block_tokens;
  int32_t need = (n_tokens_ + extra + bt - 1) / bt - int32_t(blocks_.size());
  if (need <= 0) return 0;
  std::vector<int32_t> got = pool_.alloc(need);
  blocks_.insert(blocks_.end(), got.begin(), got.end());
  return need;
}

void BlockTable::rollback(int32_t added) {
  if (added <= 0) return;
  pool_.release(blocks_.data() + blocks_.size() - size_t(added), size_t(added));
  blocks_.resize(blocks_.size() - size_t(added));
}

int32_t BlockTable::slot(int32_t pos) const {
  const int32_t bt = pool_.layout().block_tokens;
  return blocks_[size_t(pos / bt)] * bt + pos % bt;
}

void BlockTable::truncate(int32_t tokens) {
  if (tokens >= n_tokens_) return;
  const int32_t bt = pool_.layout().block_tokens;
  int32_t keep = (tokens + bt - 1) / bt;
  rollback(int32_t(blocks_.size()) - keep);
  n_tokens_ = tokens;
}

void BlockTable::clear() {
  pool_.release(blocks_.data(), blocks_.size());
  blocks_.clear();
  n_tokens_ = 0;
}

}  // namespace vl
