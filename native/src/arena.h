// arena.h: every device allocation of a runtime goes through its Arena, which enforces the VRAM
// budget (the same on the CPU "device" as on a GPU) and tracks current and peak use.
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

// Owns one device allocation; frees it (and gives its bytes back to the budget) when destroyed.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  DeviceBuffer(Arena *arena, void *ptr, size_t bytes) : arena_(arena), ptr_(ptr), bytes_(bytes) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer &&o) noexcept { *this = std::move(o); }
  DeviceBuffer &operator=(DeviceBuffer &&o) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

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

class Arena {
 public:
  Arena(Backend &backend, uint64_t budget) : backend_(backend), budget_(budget) {}

  // Throws Error(VL_ERR_OUT_OF_MEMORY) naming `what` when the budget (or the device) cannot hold it.
  DeviceBuffer alloc(size_t bytes, const std::string &what);
  // Throws the same error, without allocating, unless `bytes` more fit in the budget now.
  void check_fits(uint64_t bytes, const std::string &what) const;

  uint64_t budget() const { return budget_; }
  uint64_t current() const;
  uint64_t peak() const;
  Backend &backend() { return backend_; }

 private:
  friend class DeviceBuffer;
  void release(void *p, size_t bytes);

  Backend &backend_;
  uint64_t budget_;
  mutable std::mutex mu_;
  uint64_t current_ = 0;
  uint64_t peak_ = 0;
};

}  // namespace vl
