#include "arena.h"

#include <cstdio>

#include "error.h"

namespace vl {

std::string format_bytes(uint64_t b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; u++; }
  char buf[32];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&o) noexcept {
  if (this != &o) {
    reset();
    arena_ = o.arena_;
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.arena_ = nullptr;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (arena_ && ptr_) arena_->release(ptr_, bytes_);
  arena_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

namespace {
Error budget_error(uint64_t bytes, const std::string &what, uint64_t current, uint64_t budget) {
  return Error(VL_ERR_OUT_OF_MEMORY, "VRAM budget too small: " + what + " needs " + format_bytes(bytes) + " but " +
                                         format_bytes(budget - current) + " of the " + format_bytes(budget) +
                                         " budget is free; raise the budget (--budget) to at least " +
                                         format_bytes(current + bytes));
}
}  // namespace

void Arena::check_fits(uint64_t bytes, const std::string &what) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ + bytes > budget_) throw budget_error(bytes, what, current_, budget_);
}

DeviceBuffer Arena::alloc(size_t bytes, const std::string &what) {
  {
    // Check and reserve under one lock so concurrent allocations cannot overshoot the budget.
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ + bytes > budget_) throw budget_error(bytes, what, current_, budget_);
    current_ += bytes;
    if (current_ > peak_) peak_ = current_;
  }
  void *p = nullptr;
  try {
    p = backend_.device_alloc(bytes ? bytes : 1);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ -= bytes;
    throw;
  }
  return DeviceBuffer(this, p, bytes);
}

void Arena::release(void *p, size_t bytes) {
  backend_.device_free(p);
  std::lock_guard<std::mutex> lock(mu_);
  current_ -= bytes;
}

uint64_t Arena::current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

uint64_t Arena::peak() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_;
}

}  // namespace vl
