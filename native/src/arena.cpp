#include "arena.h"

#include <cstdio>

#include "error.h"

namespace vl {

std::string format_bytes(uint64_t b, int decimals) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = 0;
  while (v >= 1024 && u < 4) { v /= 1024; u++; }
  char buf[48];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  else std::snprintf(buf, sizeof buf, "%.*f %s", decimals, v, units[u]);
  return buf;
}

Buffer &Buffer::operator=(Buffer &&o) noexcept {
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

void Buffer::reset() {
  if (arena_ && ptr_) arena_->release(ptr_, bytes_);
  arena_ = nullptr;
  ptr_ = nullptr;
  bytes_ = 0;
}

namespace {
Error budget_error(MemoryKind kind, uint64_t bytes, const std::string &what, uint64_t current, uint64_t budget) {
  // Enough decimals that what is needed and what is free never read the same (1.91 MiB vs 1.91 MiB);
  // past 6 decimals, exact byte counts.
  const uint64_t free = budget - current, least = current + bytes;
  int d = 2;
  while (d <= 6 && (format_bytes(bytes, d) == format_bytes(free, d) || format_bytes(least, d) == format_bytes(budget, d))) d++;
  const auto fmt = [d](uint64_t b) { return d <= 6 ? format_bytes(b, d) : std::to_string(b) + " B"; };
  const bool device = kind == MemoryKind::Device;
  return Error(VL_ERR_OUT_OF_MEMORY, std::string(device ? "VRAM" : "host") + " budget too small: " + what + " needs " +
                                         fmt(bytes) + " but " + fmt(free) + " of the " + fmt(budget) +
                                         " budget is free; raise the budget (" + (device ? "--budget" : "--host-budget") +
                                         ") to at least " + fmt(least));
}
}  // namespace

void Arena::check_fits(uint64_t bytes, const std::string &what) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ + bytes > budget_) throw budget_error(kind_, bytes, what, current_, budget_);
}

Buffer Arena::alloc(size_t bytes, const std::string &what) {
  {
    // Check and reserve under one lock so concurrent allocations cannot overshoot the budget.
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ + bytes > budget_) throw budget_error(kind_, bytes, what, current_, budget_);
    current_ += bytes;
    if (current_ > peak_) peak_ = current_;
  }
  void *p = nullptr;
  try {
    p = kind_ == MemoryKind::Device ? backend_.device_alloc(bytes ? bytes : 1) : backend_.host_alloc(bytes ? bytes : 1);
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ -= bytes;
    throw;
  }
  return Buffer(this, p, bytes);
}

void Arena::release(void *p, size_t bytes) {
  if (kind_ == MemoryKind::Device) backend_.device_free(p);
  else backend_.host_free(p);
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
