// arena.h: every allocation of a runtime goes through one of its two Arenas, which enforce a budget
// and track current and peak use: device memory under the VRAM budget (the same on the CPU "device" as
// on a GPU), and pinned host memory under the host budget (the KV pager's host block store).
#pragma once
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "backend.h"

namespace vl {

// "1.50 GiB", "312.0 KiB", "17 B".
std::string format_bytes(uint64_t bytes, int decimals = 2);

class Arena;

// Owns one allocation of an Arena; frees it (and gives its bytes back to the budget) when destroyed.
class Buffer {
 public:
  Buffer() = default;
  Buffer(Arena *arena, void *ptr, size_t bytes) : arena_(arena), ptr_(ptr), bytes_(bytes) {}
  ~Buffer() { reset(); }
  Buffer(Buffer &&o) noexcept { *this = std::move(o); }
  Buffer &operator=(Buffer &&o) noexcept;
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;

  void reset();
  void *get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <typename T>
  T *as() const { return static_cast<T *>(ptr_); }

 private:
  Arena *arena_ = nullptr;
  void *ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Which memory an Arena hands out: the backend's device memory, or its pinned host memory.
enum class MemoryKind { Device, PinnedHost };

class Arena {
 public:
  Arena(Backend &backend, uint64_t budget, MemoryKind kind = MemoryKind::Device)
      : backend_(backend), budget_(budget), kind_(kind) {}

  // Throws Error(VL_ERR_OUT_OF_MEMORY) naming `what` when the budget (or the memory) cannot hold it.
  Buffer alloc(size_t bytes, const std::string &what);
  // Throws the same error, without allocating, unless `bytes` more fit in the budget now.
  void check_fits(uint64_t bytes, const std::string &what) const;

  uint64_t budget() const { return budget_; }
  uint64_t current() const;
  uint64_t peak() const;
  Backend &backend() { return backend_; }

 private:
  friend class Buffer;
  void release(void *p, size_t bytes);

  Backend &backend_;
  uint64_t budget_;
  MemoryKind kind_;
  mutable std::mutex mu_;
  uint64_t current_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace vl
