#include "kv_pool.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <functional>
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

uint64_t KvPool::host_room() const { return host_.budget() > host_.current() ? host_.budget() - host_.current() : 0; }

void KvPool::grow_locked(const char *why) {
  // One more chunk of slots; the last one may be smaller when the host budget cannot hold a full one.
  const uint64_t room = host_room();
  const int32_t n = int32_t(std::min<uint64_t>(kSlotsPerChunk, room / block_bytes()));
  if (n < 1)
    throw Error(VL_ERR_OUT_OF_MEMORY, std::string("host budget too small: ") + why + " needs " + format_bytes(block_bytes()) +
                                          " of pinned host memory but " + format_bytes(room) + " of the " +
                                          format_bytes(host_.budget()) + " host budget is free (" +
                                          std::to_string(slots_) + " blocks in the host store); raise it (--host-budget)");
  // Pinning is slow (the OS zeroes and locks every page): its time is reported, so that a run can
  // reserve the store before what it measures (reserve_slots).
  const auto t0 = std::chrono::steady_clock::now();
  chunks_.push_back(host_.alloc(size_t(n) * block_bytes(), "the KV host block store"));
  alloc_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const int32_t base = int32_t(chunks_.size() - 1) * kSlotsPerChunk;
  for (int32_t s = base + n - 1; s >= base; s--) free_slots_.push_back(s);
  slots_ += n;
}

int32_t KvPool::alloc_slot() {
  std::lock_guard<std::mutex> lock(mu_);
  if (free_slots_.empty()) grow_locked("paging out a KV block");
  const int32_t s = free_slots_.back();
  free_slots_.pop_back();
  return s;
}

double KvPool::reserve_slots(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  const double before = alloc_ms_;
  if (n > slots_) {
    // What the budget can still hold, in slots (no product of n that could overflow).
    const uint64_t most = std::min<uint64_t>(uint64_t(slots_) + host_room() / block_bytes(), INT32_MAX / 2);  // slot ids are int32
    if (uint64_t(n) > most)
      throw Error(VL_ERR_OUT_OF_MEMORY, "host budget too small: reserving " + std::to_string(n) + " KV host blocks of " +
                                            format_bytes(block_bytes()) + " needs more than the " + format_bytes(host_.budget()) +
                                            " host budget, which holds at most " + std::to_string(most) +
                                            "; raise it (--host-budget) or reserve less");
    while (slots_ < n) grow_locked("reserving KV host blocks");
    // Lowest ids on top again, so that consecutive page-outs land in consecutive slots (one copy each run).
    std::sort(free_slots_.begin(), free_slots_.end(), std::greater<int32_t>());
  }
  return alloc_ms_ - before;
}

double KvPool::host_alloc_ms() const {
  std::lock_guard<std::mutex> lock(mu_);
  return alloc_ms_;
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
