#include "kv_pool.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace vl {

KvPool::KvPool(Arena &device, Arena &host, KvLayout shape) : layout_(shape), host_(host) {
  mem_ = device.alloc(shape.bytes(), "the KV pool (" + std::to_string(shape.n_blocks) + " blocks of " +
                                         std::to_string(shape.block_tokens) + " tokens, " +
                                         format_bytes(shape.block_bytes()) + " each)");
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
  if (n < 0 || size_t(n) > free_.size())
    throw Error(VL_ERR_OUT_OF_MEMORY, "KV pool exhausted: the step needs " + std::to_string(n) + " more blocks of " +
                                          std::to_string(layout_.block_tokens) + " tokens but " +
                                          std::to_string(free_.size()) + " of " + std::to_string(layout_.n_blocks) +
                                          " are free");
  std::vector<int32_t> out(free_.rbegin(), free_.rbegin() + n);
  free_.resize(free_.size() - size_t(n));
  return out;
}

void KvPool::release(const int32_t *blocks, size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = n; i-- > 0;) free_.push_back(blocks[i]);
}

int32_t KvPool::alloc_slot() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_slots_.empty()) {
    // One more chunk of slots; the last one may be smaller when the host budget cannot hold a full one.
    const uint64_t room = host_.budget() > host_.current() ? host_.budget() - host_.current() : 0;
    const int32_t n = int32_t(std::min<uint64_t>(kSlotsPerChunk, room / block_bytes()));
    if (n < 1)
      throw Error(VL_ERR_OUT_OF_MEMORY, "host budget too small: paging out a KV block needs " + format_bytes(block_bytes()) +
                                            " of pinned host memory but " + format_bytes(room) + " of the " +
                                            format_bytes(host_.budget()) + " host budget is free (" +
                                            std::to_string(slots_) + " blocks already paged out); raise it (--host-budget)");
    chunks_.push_back(host_.alloc(size_t(n) * block_bytes(), "the KV host block store"));
    const int32_t base = int32_t(chunks_.size() - 1) * kSlotsPerChunk;
    for (int32_t s = base + n - 1; s >= base; s--) free_slots_.push_back(s);
    slots_ += n;
  }
  const int32_t s = free_slots_.back();
  free_slots_.pop_back();
  return s;
}

void KvPool::release_slot(int32_t slot) {
  std::lock_guard<std::mutex> lock(mu_);
  free_slots_.push_back(slot);
}

char *KvPool::slot_data(int32_t slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  // Chunks are full (kSlotsPerChunk) except possibly the last.
  const size_t c = size_t(slot / kSlotsPerChunk), i = size_t(slot % kSlotsPerChunk);
  if (slot < 0 || c >= chunks_.size() || (i + 1) * block_bytes() > chunks_[c].bytes())
    throw Error(VL_ERR_INTERNAL, "host slot " + std::to_string(slot) + " does not exist");
  return chunks_[c].as<char>() + i * block_bytes();
}

int32_t KvPool::used_slots() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_ - int32_t(free_slots_.size());
}

int32_t KvPool::slot_capacity() const {
  std::lock_guard<std::mutex> lock(mu_);
  return int32_t(chunks_.size()) * kSlotsPerChunk;
}

uint64_t KvPool::host_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t b = 0;
  for (const Buffer &c : chunks_) b += c.bytes();
  return b;
}

int32_t BlockTable::device_blocks() const {
  return int32_t(std::count_if(blocks_.begin(), blocks_.end(), [](const BlockRef &b) { return b.resident(); }));
}

int32_t BlockTable::host_blocks() const { return int32_t(blocks_.size()) - device_blocks(); }

int32_t BlockTable::blocks_needed(int32_t extra) const {
  const int64_t bt = pool_.layout().block_tokens;
  const int64_t need = (int64_t(n_tokens_) + extra + bt - 1) / bt - int64_t(blocks_.size());
  return need > 0 ? int32_t(need) : 0;
}

int32_t BlockTable::reserve(int32_t extra) {
  const int32_t need = blocks_needed(extra);
  if (need == 0) return 0;
  for (int32_t b : pool_.alloc(need)) blocks_.push_back(BlockRef{b, -1, 0});
  generation_++;
  return need;
}

void BlockTable::release(const BlockRef &b) {
  if (b.device >= 0) pool_.release(&b.device, 1);
  if (b.host >= 0) pool_.release_slot(b.host);
}

void BlockTable::rollback(int32_t added) {
  if (added <= 0) return;
  for (size_t i = 0; i < size_t(added) && !blocks_.empty(); i++) {
    release(blocks_.back());
    blocks_.pop_back();
  }
  generation_++;
}

int32_t BlockTable::slot(int32_t pos) const {
  const int32_t bt = pool_.layout().block_tokens;
  const size_t i = size_t(pos / bt);
  if (pos < 0 || i >= blocks_.size() || !blocks_[i].resident())
    throw Error(VL_ERR_INTERNAL, "position " + std::to_string(pos) + " has no resident KV block (" +
                                     std::to_string(blocks_.size()) + " blocks held)");
  return blocks_[i].device * bt + pos % bt;
}

void BlockTable::device_ids(std::vector<int32_t> &out) const {
  out.clear();
  for (const BlockRef &b : blocks_) {
    if (!b.resident()) throw Error(VL_ERR_INTERNAL, "a step started on a session with KV blocks paged out");
    out.push_back(b.device);
  }
}

void BlockTable::truncate(int32_t tokens) {
  if (tokens >= n_tokens_) return;
  const int32_t bt = pool_.layout().block_tokens;
  const int32_t keep = (tokens + bt - 1) / bt;
  rollback(int32_t(blocks_.size()) - keep);
  n_tokens_ = tokens;
}

void BlockTable::clear() {
  for (const BlockRef &b : blocks_) release(b);
  blocks_.clear();
  n_tokens_ = 0;
  generation_++;
}

void BlockTable::set_host(size_t i, int32_t slot, int32_t layers) {
  blocks_[i].device = -1;
  blocks_[i].host = slot;
  blocks_[i].layers = layers;
  generation_++;
}

void BlockTable::set_device(size_t i, int32_t block) {
  blocks_[i].device = block;
  blocks_[i].host = -1;
  blocks_[i].layers = 0;
  generation_++;
}

}  // namespace vl
