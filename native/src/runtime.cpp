#include "runtime.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "error.h"

namespace vl {

namespace {
uint64_t resolve_budget(Backend &be, const std::string &device, uint64_t budget) {
  if (budget > 0) return budget;
  const DeviceInfo info = be.device_info();
  return device == "cpu" ? info.total_bytes : info.free_bytes;
}
}  // namespace

uint64_t default_host_budget() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) / 2 : uint64_t(8) << 30;
}

Runtime::Runtime(std::unique_ptr<Backend> b, std::string dev, const RuntimeOptions &options)
    : backend(std::move(b)),
      device(std::move(dev)),
      budget_given(options.budget > 0),
      arena(*backend, resolve_budget(*backend, device, options.budget), MemoryKind::Device),
      host(*backend, options.host_budget > 0 ? options.host_budget : default_host_budget(), MemoryKind::PinnedHost) {}

void Runtime::load_progress(uint64_t &done, uint64_t &total) const {
  // total first: a load adds its total before its first done, and the last one to end clears total
  // first, so done read after it is at most total once clamped.
  total = load_total.load();
  done = std::min(load_done.load(), total);
}

LoadProgress::LoadProgress(Runtime &rt) : rt_(rt) {
  std::lock_guard<std::mutex> lock(rt_.load_mu_);
  rt_.loads_in_flight_++;
}

LoadProgress::~LoadProgress() {
  std::lock_guard<std::mutex> lock(rt_.load_mu_);
  if (done_ < total_) rt_.load_done += total_ - done_;
  if (--rt_.loads_in_flight_ == 0) {
    rt_.load_total = 0;
    rt_.load_done = 0;
  }
}

void LoadProgress::set_total(uint64_t bytes) {
  rt_.load_total += bytes - total_;
  total_ = bytes;
}

void LoadProgress::done(uint64_t bytes) {
  bytes = std::min(bytes, total_ - done_);
  done_ += bytes;
  rt_.load_done += bytes;
}

namespace {
// Host memory of the probe: pinned through the backend, or pageable; every page touched.
class ProbeHost {
 public:
  ProbeHost(Backend &be, size_t bytes, bool pinned) : be_(be), pinned_(pinned) {
    data_ = pinned ? be.host_alloc(bytes) : std::malloc(bytes);
    if (!data_) throw Error(VL_ERR_OUT_OF_MEMORY, "out of host memory for the bandwidth probe");
    std::memset(data_, 1, bytes);
  }
  ~ProbeHost() { pinned_ ? be_.host_free(data_) : std::free(data_); }
  ProbeHost(const ProbeHost &) = delete;
  ProbeHost &operator=(const ProbeHost &) = delete;
  void *get() const { return data_; }

 private:
  Backend &be_;
  bool pinned_;
  void *data_ = nullptr;
};

// Backend events, destroyed with the scope.
class Events {
 public:
  Events(Backend &be, int n) : be_(be) {
    for (int i = 0; i < n; i++) ev_.push_back(be.event_create());
  }
  ~Events() {
    for (Event *e : ev_) be_.event_destroy(e);
  }
  Event *operator[](size_t i) const { return ev_[i]; }

 private:
  Backend &be_;
  std::vector<Event *> ev_;
};
}  // namespace

double Runtime::copy_bandwidth(uint64_t bytes, bool pinned, int32_t reps, CopyDirection direction) {
  if (bytes == 0 || reps < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "bytes and reps must be positive");
  Backend &be = *backend;
  if (direction == CopyDirection::DeviceToDevice) {
    Buffer a = arena.alloc(bytes, "the bandwidth probe"), b = arena.alloc(bytes, "the bandwidth probe");
    Events ev(be, 2);
    be.copy(b.get(), a.get(), bytes, CopyKind::DeviceToDevice, StreamId::Compute);  // warm-up
    be.event_record(ev[0], StreamId::Compute);
    for (int32_t i = 0; i < reps; i++) be.copy(b.get(), a.get(), bytes, CopyKind::DeviceToDevice, StreamId::Compute);
    be.event_record(ev[1], StreamId::Compute);
    be.event_synchronize(ev[1]);
    const double ms = be.event_elapsed_ms(ev[0], ev[1]);
    return ms > 0 ? 2.0 * double(bytes) * reps / (ms * 1e6) : 0;
  }
  const bool in = direction != CopyDirection::DeviceToHost, out = direction != CopyDirection::HostToDevice;
  // One device buffer per direction, so that the two copies of Both touch different memory.
  Buffer dev_in = in ? arena.alloc(bytes, "the bandwidth probe") : Buffer();
  Buffer dev_out = out ? arena.alloc(bytes, "the bandwidth probe") : Buffer();
  ProbeHost host_in(be, in ? bytes : 1, pinned), host_out(be, out ? bytes : 1, pinned);
  Events ev(be, 4);  // start, and the end of each stream's copies
  auto run = [&](int32_t n) {
    // Both streams start after the same point of the Compute stream.
    be.event_record(ev[0], StreamId::Compute);
    if (in) {
      be.stream_wait(StreamId::Copy, ev[0]);
      for (int32_t i = 0; i < n; i++) be.copy(dev_in.get(), host_in.get(), bytes, CopyKind::HostToDevice, StreamId::Copy);
      be.event_record(ev[1], StreamId::Copy);
    }
    if (out) {
      be.stream_wait(StreamId::Offload, ev[0]);
      for (int32_t i = 0; i < n; i++) be.copy(host_out.get(), dev_out.get(), bytes, CopyKind::DeviceToHost, StreamId::Offload);
      be.event_record(ev[2], StreamId::Offload);
    }
    if (in) be.event_synchronize(ev[1]);
    if (out) be.event_synchronize(ev[2]);
  };
  run(1);  // warm-up
  run(reps);
  double ms = 0;
  if (in) ms = std::max(ms, double(be.event_elapsed_ms(ev[0], ev[1])));
  if (out) ms = std::max(ms, double(be.event_elapsed_ms(ev[0], ev[2])));
  const double total = double(bytes) * reps * (in && out ? 2 : 1);
  return ms > 0 ? total / (ms * 1e6) : 0;
}

}  // namespace vl
