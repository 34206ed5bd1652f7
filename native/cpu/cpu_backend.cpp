// cpu_backend.cpp: the CPU reference backend. Its "device" memory is host memory whose use the
// core's Arena caps at the VRAM budget, exactly as on a GPU. The Compute stream runs kernels on the
// calling thread; the Copy stream is a real asynchronous queue served by its own thread, so a
// missing event wait in the core shows up as wrong results in CI, without a GPU.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"
#include "cpu_kernels.h"
#include "error.h"

namespace vl {

using Clock = std::chrono::steady_clock;

// A recorded sequence of Compute-stream work (see Backend::graph_begin).
struct Graph {
  std::vector<std::function<void()>> steps;
};

// An event completes a "generation" each time work recorded on it has run.
struct Event {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t recorded = 0;
  uint64_t completed = 0;
  Clock::time_point when{};

  void complete(uint64_t gen) {
    std::lock_guard<std::mutex> lock(mu);
    if (gen > completed) { completed = gen; when = Clock::now(); }
    cv.notify_all();
  }
  void wait_for(uint64_t gen) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return completed >= gen; });
  }
  uint64_t next_generation() {
    std::lock_guard<std::mutex> lock(mu);
    return ++recorded;
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu);
    return completed >= recorded;
  }
  uint64_t last_generation() {
    std::lock_guard<std::mutex> lock(mu);
    return recorded;
  }
};

namespace {

// The Copy stream: jobs run in order on one thread. An optional delay per copy
// (VRAMLAB_CPU_COPY_DELAY_US) widens races so that ordering bugs show up in tests.
class CopyQueue {
 public:
  CopyQueue() {
    if (const char *d = std::getenv("VRAMLAB_CPU_COPY_DELAY_US")) delay_us_ = std::atoi(d);
    worker_ = std::thread([this] { run(); });
  }
  ~CopyQueue() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  void push(std::function<void()> job, bool is_copy) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back({std::move(job), is_copy});
      enqueued_++;
    }
    cv_.notify_all();
  }
  void drain() {
    std::unique_lock<std::mutex> lock(mu_);
    uint64_t target = enqueued_;
    done_cv_.wait(lock, [&] { return done_ >= target; });
  }

 private:
  struct Job {
    std::function<void()> fn;
    bool is_copy;
  };
  void run() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      if (job.is_copy && delay_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
      job.fn();
      {
        std::lock_guard<std::mutex> lock(mu_);
        done_++;
      }
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<Job> jobs_;
  uint64_t enqueued_ = 0, done_ = 0;
  bool stop_ = false;
  int delay_us_ = 0;
  std::thread worker_;
};

class CpuBackend final : public Backend {
 public:
  DeviceInfo device_info() override {
    DeviceInfo d;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    d.name = "cpu (" + std::to_string(threads) + " threads)";
    long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    d.total_bytes = uint64_t(pages) * uint64_t(page);
    d.free_bytes = uint64_t(avail) * uint64_t(page);
    return d;
  }
  DType activation_dtype() const override { return kCpuDtypes.activation; }
  DType kv_dtype() const override { return kCpuDtypes.kv; }

  void *device_alloc(size_t bytes) override { return aligned(bytes, "device"); }
  void device_free(void *p) override { std::free(p); }
  void *host_alloc(size_t bytes) override { return aligned(bytes, "pinned host"); }
  void host_free(void *p) override { std::free(p); }

  void copy(void *dst, const void *src, size_t bytes, CopyKind kind, StreamId stream) override {
    if (stream == StreamId::Compute) {
      on_compute([=] { std::memcpy(dst, src, bytes); });
    } else {
      queue(stream).push([=] { std::memcpy(dst, src, bytes); }, true);
    }
  }

  Event *event_create() override { return new Event(); }
  void event_destroy(Event *e) override { delete e; }
  void event_record(Event *e, StreamId stream) override {
    uint64_t gen = e->next_generation();
    if (stream == StreamId::Compute) e->complete(gen);  // compute work before this point has run
    else queue(stream).push([e, gen] { e->complete(gen); }, false);
  }
  void stream_wait(StreamId stream, Event *e) override {
    uint64_t gen = e->last_generation();
    if (stream == StreamId::Compute) e->wait_for(gen);
    else queue(stream).push([e, gen] { e->wait_for(gen); }, false);
  }
  void event_synchronize(Event *e) override { e->wait_for(e->last_generation()); }
  bool event_query(Event *e) override { return e->done(); }
  float event_elapsed_ms(Event *a, Event *b) override {
    std::chrono::duration<double, std::milli> d = b->when - a->when;
    return float(d.count());
  }
  void synchronize(StreamId stream) override {
    if (stream != StreamId::Compute) queue(stream).drain();
  }

  void embed(Tensor out, Tensor table, const int32_t *ids) override {
    on_compute([=] { cpu::embed(out, table, ids); });
  }
  void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) override {
    on_compute([=] { cpu::rmsnorm(out, x, weight, eps); });
  }
  void matmul(Tensor out, Tensor x, Tensor w, bool accumulate) override {
    on_compute([=] { cpu::matmul(out, x, w, accumulate); });
  }
  void rope(Tensor x, int32_t head_dim, const int32_t *positions, const float *inv_freq) override {
    on_compute([=] { cpu::rope(x, head_dim, positions, inv_freq); });
  }
  void kv_store(const KvLayout &kv, int32_t layer, Tensor k, Tensor v, const int32_t *slots) override {
    on_compute([=] { cpu::kv_store(kv, layer, k, v, slots); });
  }
  void attention(Tensor out, Tensor q, const KvLayout &kv, int32_t layer, const int32_t *block_table, const int32_t *tables,
                 const int32_t *positions, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale) override {
    on_compute([=] { cpu::attention(out, q, kv, layer, block_table, tables, positions, n_heads, n_kv_heads, head_dim, scale); });
  }
  void swiglu(Tensor out, Tensor gate, Tensor up) override {
    on_compute([=] { cpu::swiglu(out, gate, up); });
  }
  void scale_add_rows(Tensor x, float scale, const float *vec) override {
    on_compute([=] { cpu::scale_add_rows(x, scale, vec); });
  }
  void argmax_rows(int32_t *out, Tensor x, int32_t *nonfinite) override {
    if (x.dtype != DType::F32 || x.cols < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "argmax_rows: x must be F32 with >= 1 column");
    on_compute([=] { cpu::argmax_rows(out, x, nonfinite); });
  }

  // Graphs record the Compute-stream work as closures and replay them, as CUDA stream capture does,
  // so the engine's graph path (and any pointer it records that later goes stale) is tested in CI.
  bool graph_begin() override {
    recording_ = std::make_unique<Graph>();
    return true;
  }
  Graph *graph_end() override { return recording_.release(); }
  void graph_launch(Graph *g) override {
    for (auto &step : g->steps) step();
  }
  void graph_destroy(Graph *g) override { delete g; }

 private:
  static void *aligned(size_t bytes, const char *what) {
    size_t n = (bytes + 63) / 64 * 64;
    void *p = std::aligned_alloc(64, n ? n : 64);
    if (!p) throw Error(VL_ERR_OUT_OF_MEMORY, std::string("cpu: out of host memory allocating ") + std::to_string(bytes) + " bytes of " + what + " memory");
    return p;
  }

  // Runs Compute-stream work now, or records it while a graph is being recorded.
  void on_compute(std::function<void()> work) {
    if (recording_) recording_->steps.push_back(std::move(work));
    else work();
  }

  // The Copy and Offload streams: one queue and thread each, so page-ins and page-outs overlap.
  CopyQueue &queue(StreamId s) { return s == StreamId::Offload ? offload_ : copies_; }

  CopyQueue copies_, offload_;
  std::unique_ptr<Graph> recording_;  // set between graph_begin and graph_end
};

}  // namespace

Backend *create_cpu_backend() { return new CpuBackend(); }

}  // namespace vl
