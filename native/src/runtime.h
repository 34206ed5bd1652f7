// runtime.h: what the C ABI's vl_runtime handle holds: one backend (device) and the Arena that caps
// its device memory at the VRAM budget.
#pragma once
#include <atomic>
#include <memory>
#include <string>

#include "arena.h"
#include "backend.h"

namespace vl {

struct Runtime {
  Runtime(std::unique_ptr<Backend> b, std::string dev, uint64_t budget)
      : backend(std::move(b)), arena(*backend, budget), device(std::move(dev)) {}

  std::unique_ptr<Backend> backend;
  Arena arena;
  std::string device;
  std::atomic<int> live_models{0};
};

}  // namespace vl
