// runtime.h: what the C ABI's vl_runtime handle holds: one backend (device), the Arena that caps its
// device memory at the VRAM budget, and the Arena that caps the pinned host memory of the KV pagers
// (their host block stores) at the host budget.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "arena.h"
#include "backend.h"

namespace vl {

// What a copy-bandwidth probe times: host to device (on the Copy stream), device to host (on the
// Offload stream), both at once (one copy on each, started together), or device to device (on the
// Compute stream; its bytes read and written both count: the memory's bandwidth, the HBM floor's).
enum class CopyDirection { HostToDevice, DeviceToHost, Both, DeviceToDevice };

struct RuntimeOptions {
  uint64_t budget = 0;       // the VRAM budget; 0: the device's free memory (all of it for the CPU)
  uint64_t host_budget = 0;  // pinned host memory for KV pages; 0: default_host_budget()
};

struct Runtime {
  Runtime(std::unique_ptr<Backend> b, std::string dev, const RuntimeOptions &options);

  std::unique_ptr<Backend> backend;
  std::string device;
  // True when the caller gave the VRAM budget: a model's KV pool then takes what the budget leaves.
  bool budget_given;
  Arena arena;  // device memory, under the VRAM budget
  Arena host;   // pinned host memory of the KV pagers, under the host budget
  std::atomic<int> live_models{0};

  // The progress of the loads in flight (vl_runtime_load_progress, read from any thread while they
  // run): the weight bytes placed so far (read or generated, and copied where they live) and the
  // bytes they place in all, summed over the loads that overlap; both 0 while no load runs. A load
  // holds a LoadProgress for its duration.
  std::atomic<uint64_t> load_done{0};
  std::atomic<uint64_t> load_total{0};
  // done <= total, both 0 with no load in flight.
  void load_progress(uint64_t &done, uint64_t &total) const;

  // Copy bandwidth in GB/s (1e9 bytes/s): `bytes` copied `reps` times between a device buffer (under
  // the budget while it lives) and pinned (or pageable) host memory, timed with events; Both counts
  // the bytes of both directions over the time of the pair.
  double copy_bandwidth(uint64_t bytes, bool pinned, int32_t reps, CopyDirection direction);

 private:
  friend class LoadProgress;
  std::mutex load_mu_;
  int32_t loads_in_flight_ = 0;  // under load_mu_
};

// One load's share of its runtime's load counters, from its start to its end: set_total() once its
// bytes are known (after the placement), done() as bytes are placed. At its end (success or failure)
// what it did not count is counted done, so that overlapping loads still reach done == total; the
// last load in flight to end sets both back to 0.
class LoadProgress {
 public:
  explicit LoadProgress(Runtime &rt);
  ~LoadProgress();
  LoadProgress(const LoadProgress &) = delete;
  LoadProgress &operator=(const LoadProgress &) = delete;
  void set_total(uint64_t bytes);
  void done(uint64_t bytes);

 private:
  Runtime &rt_;
  uint64_t total_ = 0, done_ = 0;
};

// Half the machine's physical memory: what can be pinned without starving the host (the weights of
// streamed layers and the process itself live there too).
uint64_t default_host_budget();

}  // namespace vl
