// cuda_backend.cu: the CUDA backend (libvramlab_cuda.so), behind the interface of src/backend.h.
//
// defines: vl::cuda::CudaBackend, vl_cuda_backend_create (the plugin's only exported symbol)
//
// Reading order: the factory at the bottom, then CudaBackend top to bottom: setup and teardown,
// memory, streams / events / copies, and the kernels, which validate their shapes on the host and
// call the launchers of kernels/*.cuh on the Compute stream.
//
// Conventions
//  - Every CUDA call goes through CUDA_CHECK, every cuBLAS call through CUBLAS_CHECK, every launch is
//    followed by CUDA_CHECK_LAUNCH; failures throw vl::Error and leave the backend usable (except
//    after a sticky in-kernel fault, which the message names).
//  - Frees (device_free, host_free, event_destroy) never throw: the core calls them from destructors
//    and during error unwinding. A failure there is cleared and ignored.
//  - Each entry point makes this backend's device current on the calling thread (cudaSetDevice is
//    per thread, and the core runs sessions on worker threads).
//  - Kernel entry points take a mutex: they share the matmul scratch and the attention workspace. The
//    fused ops release it before falling back to Backend's default chain (which re-enters).
//  - Decode kernels (the GEMVs, attention, rmsnorm, rope_kv_store) launch with programmatic dependent
//    launch on sm_90+ (kernels/common.cuh), except in steps of 2..8 tokens (pdl_at: measured slower there).
//  - Memory outside the core's VRAM budget, owned by the backend: the cuBLAS workspace (32 MiB), the
//    matmul conversion scratch (only when x's dtype differs from w's or cuBLAS cannot write out's dtype)
//    and the flash-decoding partials (< 1 MiB for a decode step). See NOTES.md.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>
#include <string>

#include "backend.h"
#include "cublas_loader.h"
#include "cuda_check.h"
#include "error.h"
#include "kernels/argmax.cuh"
#include "kernels/attention.cuh"
#include "kernels/common.cuh"
#include "kernels/embed.cuh"
#include "kernels/gemm_skinny.cuh"
#include "kernels/gemv.cuh"
#include "kernels/kv_cache.cuh"
#include "kernels/matmul.cuh"
#include "kernels/rmsnorm.cuh"
#include "kernels/rope.cuh"
#include "kernels/scale_add.cuh"
#include "kernels/swiglu.cuh"

namespace vl {
namespace cuda {

namespace {

constexpr size_t kCublasWorkspaceBytes = size_t(32) << 20;  // NVIDIA's recommendation for Hopper

// A kernel that exists only so that init() can ask whether this build has code for the device.
__global__ void probe_kernel() {}

[[noreturn]] void invalid(const char *op, const std::string &what) {
  throw Error(VL_ERR_INVALID_ARGUMENT, std::string("cuda ") + op + ": " + what);
}

std::string shape(const Tensor &t) {
  return "(" + std::to_string(t.rows) + ", " + std::to_string(t.cols) + ") " + dtype_name(t.dtype);
}

cudaDataType_t cuda_dtype(DType t) {
  switch (t) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    default: return CUDA_R_32F;
  }
}

cudaMemcpyKind memcpy_kind(CopyKind k) {
  switch (k) {
    case CopyKind::HostToDevice: return cudaMemcpyHostToDevice;
    case CopyKind::DeviceToHost: return cudaMemcpyDeviceToHost;
    case CopyKind::DeviceToDevice: return cudaMemcpyDeviceToDevice;
    case CopyKind::HostToHost: return cudaMemcpyHostToHost;
  }
  return cudaMemcpyDefault;
}

// vl::Event is opaque to the core; here it is the cudaEvent_t itself (a pointer), so nothing is
// allocated per event on the host.
cudaEvent_t ev(Event *e) { return reinterpret_cast<cudaEvent_t>(e); }

bool env_flag(const char *name) {
  const char *v = std::getenv(name);
  return v && *v && std::string(v) != "0";
}

// Grow-only device buffer. Growing waits for `stream` (the only stream that uses it) before freeing.
struct DeviceBuffer {
  void *ptr = nullptr;
  size_t bytes = 0;

  // Returns true when the buffer was (re)allocated.
  bool reserve(size_t need, cudaStream_t stream) {
    if (need <= bytes) return false;
    size_t grow = bytes + bytes / 2;
    need = need > grow ? need : grow;
    need = (need + (size_t(1) << 16) - 1) & ~((size_t(1) << 16) - 1);  // whole 64 KiB
    if (ptr) {
      CUDA_CHECK(cudaStreamSynchronize(stream));
      CUDA_CHECK(cudaFree(ptr));
      ptr = nullptr;
      bytes = 0;
    }
    CUDA_CHECK(cudaMalloc(&ptr, need));
    bytes = need;
    return true;
  }
  void release() {
    if (ptr) (void)cudaFree(ptr);
    ptr = nullptr;
    bytes = 0;
  }
};

}  // namespace

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    try {
      init();
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaBackend() override { release(); }

  // ---- description ----

  DeviceInfo device_info() override {
    make_current();
    DeviceInfo info;
    info.name = prop_.name;
    int driver = 0, runtime = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    info.driver = "driver " + version(driver) + " / runtime " + version(runtime) + " / sm_" +
                  std::to_string(prop_.major) + std::to_string(prop_.minor) + " / " + blas_note_ + decode_note_;
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    info.total_bytes = total_b;
    info.free_bytes = free_b;
    return info;
  }

  // F16 activations and KV: half the bytes of F32 and full tensor-core speed. Weights may be F16, BF16
  // or F32; matmul converts x to the weight dtype where cuBLAS needs matching inputs.
  DType activation_dtype() const override { return kCudaDtypes.activation; }
  DType kv_dtype() const override { return kCudaDtypes.kv; }

  // ---- memory ----

  // `alloc(&p, n)` of at least one byte (distinct non-null pointers, even for 0); a failure names the
  // call, the size and `where`.
  template <typename Alloc>
  void *checked_alloc(size_t bytes, const char *call, const std::string &where, Alloc alloc) {
    make_current();
    void *p = nullptr;
    const cudaError_t err = alloc(&p, bytes ? bytes : 1);
    if (err != cudaSuccess) throw_cuda_error(err, (std::string(call) + "(" + format_bytes(bytes) + ")" + where).c_str(), __FILE__, __LINE__);
    return p;
  }

  void *device_alloc(size_t bytes) override {
    return checked_alloc(bytes, "cudaMalloc", " on cuda:" + std::to_string(device_), [](void **p, size_t n) { return cudaMalloc(p, n); });
  }

  void device_free(void *p) override {
    if (!p) return;
    make_current_nothrow();
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
  }

  void *host_alloc(size_t bytes) override {
    return checked_alloc(bytes, "cudaHostAlloc", "", [](void **p, size_t n) { return cudaHostAlloc(p, n, cudaHostAllocDefault); });
  }

  void host_free(void *p) override {
    if (!p) return;
    make_current_nothrow();
    if (cudaFreeHost(p) != cudaSuccess) (void)cudaGetLastError();
  }

  // ---- streams, events, copies ----

  void copy(void *dst, const void *src, size_t bytes, CopyKind kind, StreamId s) override {
    if (bytes == 0) return;
    if (!dst || !src) invalid("copy", "null pointer");
    make_current();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, memcpy_kind(kind), stream(s)));
  }

  Event *event_create() override {
    make_current();
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDefault));  // with timing, for event_elapsed_ms
    return reinterpret_cast<Event *>(e);
  }

  void event_destroy(Event *e) override {
    if (!e) return;
    make_current_nothrow();
    if (cudaEventDestroy(ev(e)) != cudaSuccess) (void)cudaGetLastError();
  }

  void event_record(Event *e, StreamId s) override {
    make_current();
    CUDA_CHECK(cudaEventRecord(ev(e), stream(s)));
  }

  void stream_wait(StreamId s, Event *e) override {
    make_current();
    CUDA_CHECK(cudaStreamWaitEvent(stream(s), ev(e), 0));
  }

  void event_synchronize(Event *e) override {
    make_current();
    CUDA_CHECK(cudaEventSynchronize(ev(e)));
  }

  bool event_query(Event *e) override {
    make_current();
    const cudaError_t st = cudaEventQuery(ev(e));
    if (st == cudaErrorNotReady) {
      (void)cudaGetLastError();  // not an error: the event is still pending
      return false;
    }
    CUDA_CHECK(st);
    return true;
  }

  float event_elapsed_ms(Event *start, Event *end) override {
    make_current();
    float ms = 0.f;
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev(start), ev(end)));
    return ms;
  }

  void synchronize(StreamId s) override {
    make_current();
    CUDA_CHECK(cudaStreamSynchronize(stream(s)));
  }

  // ---- kernels (Compute stream) ----

  // out (T, H) F32 = table[ids[t]]; table (V, H).
  void embed(Tensor out, Tensor table, const int32_t *ids) override {
    if (out.dtype != DType::F32) invalid("embed", "out must be F32, got " + shape(out));
    if (out.cols != table.cols) invalid("embed", "out " + shape(out) + " vs table " + shape(table));
    if (out.rows == 0) return;
    if (!ids) invalid("embed", "ids is null");
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    embed_forward(static_cast<float *>(out.data), table.data, table.dtype, ids, int(out.rows), int(table.rows),
                  int(table.cols), compute());
  }

  // out (T, H) = x / rms(x) * weight; x (T, H) F32, weight (1, H).
  void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) override {
    if (x.dtype != DType::F32) invalid("rmsnorm", "x must be F32, got " + shape(x));
    if (out.rows != x.rows || out.cols != x.cols) invalid("rmsnorm", "out " + shape(out) + " vs x " + shape(x));
    if (weight.rows * weight.cols != x.cols) invalid("rmsnorm", "weight " + shape(weight) + " vs x " + shape(x));
    if (x.rows == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    rmsnorm_forward(out.data, out.dtype, static_cast<const float *>(x.data), weight.data, weight.dtype, int(x.rows),
                    int(x.cols), eps, pdl_at(x.rows), compute());
  }

  // out_a, out_b (T, N) = x . w[:N]^T, x . w[N:]^T; w (2N, K) stacked. For T > 8 through cuBLAS one
  // batched GEMM of both halves: one launch, twice the blocks of each (the batched decode's [gate; up]).
  // Otherwise, and for outputs that the GEMM cannot write directly, two matmuls (Backend's default).
  void matmul_pair(Tensor out_a, Tensor out_b, Tensor x, Tensor w) override {
    const int64_t n = w.rows / 2, e = int64_t(dtype_size(out_a.dtype));
    const int64_t gap = static_cast<char *>(out_b.data) - static_cast<char *>(out_a.data);
    const bool direct = out_a.dtype == DType::F32 || (out_a.dtype == w.dtype && w.dtype != DType::F32);
    if (w.rows % 2 != 0 || out_a.rows != x.rows || out_b.rows != x.rows || out_a.cols != n || out_b.cols != n ||
        x.cols != w.cols || out_a.dtype != out_b.dtype || x.dtype != w.dtype || !direct || gap % e != 0 || gap / e < x.rows * n ||
        x.rows <= GEMV_MAX_T || x.rows > INT32_MAX || w.rows > INT32_MAX || w.cols > INT32_MAX || w.cols == 0 || !blas_)
      return Backend::matmul_pair(out_a, out_b, x, w);
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    gemm_cublas(out_a, x, Tensor{w.data, w.dtype, n, w.cols}, false, compute(), gap / e);
  }

  // out (T, N) = x (T, K) . w (N, K)^T (+ out).
  void matmul(Tensor out, Tensor x, Tensor w, bool accumulate) override {
    if (x.cols != w.cols || out.rows != x.rows || out.cols != w.rows)
      invalid("matmul", "out " + shape(out) + " = x " + shape(x) + " . w " + shape(w) + "^T");
    if (x.rows > INT32_MAX || w.rows > INT32_MAX || w.cols > INT32_MAX) invalid("matmul", "dimension over 2^31");
    const int T = int(x.rows), N = int(w.rows), K = int(w.cols);
    if (T == 0 || N == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    cudaStream_t s = compute();
    if (K == 0) {  // an empty sum
      if (!accumulate) CUDA_CHECK(cudaMemsetAsync(out.data, 0, out.bytes(), s));
      return;
    }
    if (skinny_takes(x.dtype, w.dtype, T, K, x.data, w.data)) {
      gemm_skinny_forward(out.data, out.dtype, accumulate, x.data, w.data, w.dtype, T, N, K, pdl_at(T), s);
    } else if (T <= GEMV_MAX_T) {
      if (gemv_vector_ok(x.data, w.data, K))
        gemv_forward(GEMV_PLAIN, gemv_args(out, x.data, nullptr, w, T, accumulate), w.dtype, x.dtype, gemv_cfg(T), s);
      else
        gemv_scalar_forward(out.data, out.dtype, x.data, x.dtype, w.data, w.dtype, T, N, K, accumulate, s);
    } else if (blas_) {
      gemm_cublas(out, x, w, accumulate, s);
    } else {
      gemm_tiled_forward(out.data, out.dtype, x.data, x.dtype, w.data, w.dtype, T, N, K, accumulate, s);
    }
  }

  // In place on x (T, heads * hd).
  void rope(Tensor x, int32_t head_dim, const int32_t *positions, const float *inv_freq) override {
    if (head_dim <= 0 || head_dim % 2 != 0 || x.cols % head_dim != 0)
      invalid("rope", "x " + shape(x) + " with head_dim " + std::to_string(head_dim));
    if (x.rows == 0) return;
    if (!positions || !inv_freq) invalid("rope", "positions or inv_freq is null");
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    rope_forward(x.data, x.dtype, int(x.rows), int(x.cols), head_dim, positions, inv_freq, compute());
  }

  // k, v (T, kv_dim) -> the pool at slots[t].
  void kv_store(const KvLayout &kv, int32_t layer, Tensor k, Tensor v, const int32_t *slots) override {
    if (k.rows != v.rows || k.cols != v.cols || k.dtype != v.dtype)
      invalid("kv_store", "k " + shape(k) + " vs v " + shape(v));
    if (k.cols != kv.kv_dim) invalid("kv_store", "k " + shape(k) + " vs kv_dim " + std::to_string(kv.kv_dim));
    if (layer < 0 || layer >= kv.n_layers) invalid("kv_store", "layer " + std::to_string(layer) + " out of range");
    if (k.rows == 0) return;
    if (!slots || !kv.base) invalid("kv_store", "slots or pool is null");
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    kv_store_forward(dev_kv(kv, layer), kv.dtype, k.data, v.data, k.dtype, slots, int(k.rows), compute());
  }

  // out, q (T, nh * hd) over the paged pool.
  void attention(Tensor out, Tensor q, const KvLayout &kv, int32_t layer, const int32_t *block_table,
                 const int32_t *tables, const int32_t *positions, int32_t n_heads, int32_t n_kv_heads,
                 int32_t head_dim, float scale) override {
    if (n_heads <= 0 || n_kv_heads <= 0 || head_dim <= 0 || n_heads % n_kv_heads != 0)
      invalid("attention", "n_heads " + std::to_string(n_heads) + ", n_kv_heads " + std::to_string(n_kv_heads) +
                               ", head_dim " + std::to_string(head_dim));
    if (q.cols < int64_t(n_heads) * head_dim || q.cols > INT32_MAX || out.rows != q.rows || out.cols != int64_t(n_heads) * head_dim)
      invalid("attention", "q " + shape(q) + ", out " + shape(out) + " for " + std::to_string(n_heads) + " x " +
                               std::to_string(head_dim));
    if (int64_t(n_kv_heads) * head_dim != kv.kv_dim)
      invalid("attention", "kv_dim " + std::to_string(kv.kv_dim) + " != n_kv_heads * head_dim");
    if (layer < 0 || layer >= kv.n_layers) invalid("attention", "layer " + std::to_string(layer) + " out of range");
    if (q.dtype != out.dtype)
      throw Error(VL_ERR_UNSUPPORTED, "cuda attention: q and out must share a dtype (" + shape(q) + ", " +
                                          shape(out) + ")");
    if (head_dim > 256)
      throw Error(VL_ERR_UNSUPPORTED, "cuda attention: head_dim " + std::to_string(head_dim) + " > 256");
    if (q.rows == 0) return;
    if (!block_table || !positions || !kv.base) invalid("attention", "block_table, positions or pool is null");
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    cudaStream_t s = compute();

    AttnArgs a{};
    a.out = out.data;
    a.q = q.data;
    a.q_stride = int(q.cols);
    a.kv = dev_kv(kv, layer);
    a.block_table = block_table;
    a.tables = tables;
    a.positions = positions;
    a.T = int(q.rows);
    a.n_heads = n_heads;
    a.n_kv_heads = n_kv_heads;
    a.head_dim = head_dim;
    a.scale_log2 = scale * 1.4426950408889634f;  // log2(e)
    // The tensor-core kernel shares key tiles between the queries of a tile: one sequence only.
    const bool prefill = !tables && attention_prefill_ok(q.dtype, out.dtype, kv.dtype, a.T, head_dim, q.data, a.q_stride,
                                                         out.data, kv.base, prop_.major);
    const AttnKernel kernel = prefill ? AttnKernel::Prefill
                              : attention_pipe_ok(q.dtype, kv.dtype, head_dim, q.data, a.q_stride, kv.base, prop_.major)
                                  ? AttnKernel::Pipe
                                  : AttnKernel::Generic;
    int splits = 1;
    if (!prefill) {
      // About four blocks an SM, then more splits where they fill the pipelined kernel's last wave.
      const int slots = kernel == AttnKernel::Pipe ? att_pipe_slots_[head_dim == 64 ? 0 : 1] : 0;
      splits = attention_splits(a.T, n_heads, prop_.multiProcessorCount, slots, att_max_partials_);
      if (splits > 1) {
        const size_t th = size_t(a.T) * size_t(n_heads);
        const size_t o_bytes = th * splits * head_dim * sizeof(float);
        const size_t ml_bytes = th * splits * sizeof(float2);
        att_part_.reserve(o_bytes + ml_bytes, s);  // never grows: att_max_partials_ bounds it (see init)
        if (att_counters_.reserve(th * sizeof(unsigned), s))
          CUDA_CHECK(cudaMemsetAsync(att_counters_.ptr, 0, att_counters_.bytes, s));
        a.part_o = static_cast<float *>(att_part_.ptr);
        a.part_ml = reinterpret_cast<float2 *>(static_cast<char *>(att_part_.ptr) + o_bytes);  // 8-byte aligned
        a.counters = static_cast<unsigned *>(att_counters_.ptr);
      }
    }
    attention_forward(a, q.dtype, kv.dtype, kernel, splits, pdl_at(a.T), s);
  }

  // out (T, F) = silu(gate) * up.
  void swiglu(Tensor out, Tensor gate, Tensor up) override {
    if (gate.rows != up.rows || gate.cols != up.cols || out.rows != gate.rows || out.cols != gate.cols)
      invalid("swiglu", "out " + shape(out) + ", gate " + shape(gate) + ", up " + shape(up));
    if (gate.dtype != up.dtype)
      throw Error(VL_ERR_UNSUPPORTED, "cuda swiglu: gate and up must share a dtype (" + shape(gate) + ", " +
                                          shape(up) + ")");
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    swiglu_forward(out.data, out.dtype, gate.data, up.data, gate.dtype, size_t(gate.rows) * size_t(gate.cols), pdl_at(gate.rows),
                   compute());
  }

  // x (T, H) F32 in place: x * scale + vec (vec (H) F32 or null).
  void scale_add_rows(Tensor x, float scale, const float *vec) override {
    if (x.dtype != DType::F32) invalid("scale_add_rows", "x must be F32, got " + shape(x));
    if (x.rows == 0 || x.cols == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    scale_add_rows_forward(static_cast<float *>(x.data), scale, vec, size_t(x.rows), size_t(x.cols), compute());
  }

  // out (T) = argmax of each row of x (T, V) F32, the first maximum; nonfinite (T) or null: 1 for a
  // row holding a NaN or an inf.
  void argmax_rows(int32_t *out, Tensor x, int32_t *nonfinite) override {
    if (x.dtype != DType::F32 || x.cols < 1) invalid("argmax_rows", "x must be F32 with >= 1 column, got " + shape(x));
    if (x.rows == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    argmax_rows_forward(out, nonfinite, static_cast<const float *>(x.data), int(x.rows), int(x.cols), compute());
  }

  // ---- fused ops: one GEMV kernel each for T <= 8 (kernels/gemv.cuh), else Backend's default chain ----

  // out (T, N) = rmsnorm(x) . w^T (+ out); x (T, K) F32, norm_weight (1, K).
  void rmsnorm_matmul(Tensor out, Tensor x, Tensor norm_weight, float eps, Tensor w, bool accumulate,
                      Tensor scratch) override {
    check_rmsnorm_matmul("rmsnorm_matmul", out, x, norm_weight, w);
    if (!rmsnorm_gemv_ok(x, norm_weight, w, scratch))
      return Backend::rmsnorm_matmul(out, x, norm_weight, eps, w, accumulate, scratch);
    if (out.cols == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    GemvArgs a = gemv_args(out, x.data, norm_weight.data, w, int(x.rows), accumulate);
    a.eps = eps;
    gemv_forward(GEMV_RMSNORM, a, w.dtype, norm_weight.dtype, gemv_cfg(x.rows), compute());
  }

  // out (T, N) = (silu(gate) * up) . w^T (+ out); gate, up (T, F).
  void swiglu_matmul(Tensor out, Tensor gate, Tensor up, Tensor w, bool accumulate, Tensor scratch) override {
    if (gate.rows != up.rows || gate.cols != up.cols || gate.cols != w.cols || out.rows != gate.rows ||
        out.cols != w.rows)
      invalid("swiglu_matmul", "out " + shape(out) + " = swiglu(gate " + shape(gate) + ", up " + shape(up) +
                                   ") . w " + shape(w) + "^T");
    const int64_t T = gate.rows, K = gate.cols;
    // Where the skinny GEMM takes the down projection, swiglu then the GEMM beats the fused GEMV (its T
    // FMAs a weight on the CUDA cores read the weights at 26 % of the d2d rate at T = 8 on the H200).
    if (T < 1 || T > GEMV_MAX_T || K < 1 || K > INT32_MAX || w.rows > INT32_MAX ||
        gate.dtype != up.dtype || !gemv_vector_ok(gate.data, w.data, int(K)) ||
        reinterpret_cast<uintptr_t>(up.data) % 16 != 0 || skinny_takes(gate.dtype, w.dtype, int(T), int(K), gate.data, w.data))
      return Backend::swiglu_matmul(out, gate, up, w, accumulate, scratch);
    if (out.cols == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    gemv_forward(GEMV_SWIGLU, gemv_args(out, gate.data, up.data, w, int(T), accumulate), w.dtype, gate.dtype,
                 gemv_cfg(T), compute());
  }

  // qkv (T, q_dim + 2 kv_dim): rope on q and k, k and v into the pool. One thread per rotation pair.
  void rope_kv_store(Tensor qkv, int32_t head_dim, const int32_t *positions, const float *inv_freq,
                     const KvLayout &kv, int32_t layer, const int32_t *slots) override {
    RopeKv r = rope_kv_args("rope_kv_store", qkv, head_dim, positions, inv_freq, kv, layer, slots);
    if (qkv.rows == 0) return;
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    rope_kv_store_forward(r, qkv.data, qkv.dtype, int(qkv.rows), pdl_at(qkv.rows), compute());
  }

  // qkv = rmsnorm(x) . wqkv^T, then rope_kv_store(qkv): one GEMV whose epilogue rotates and stores.
  void rmsnorm_qkv_rope_store(Tensor qkv, Tensor x, Tensor norm_weight, float eps, Tensor wqkv, int32_t head_dim,
                              const int32_t *positions, const float *inv_freq, const KvLayout &kv, int32_t layer,
                              const int32_t *slots, Tensor scratch) override {
    check_rmsnorm_matmul("rmsnorm_qkv_rope_store", qkv, x, norm_weight, wqkv);
    RopeKv r = rope_kv_args("rmsnorm_qkv_rope_store", qkv, head_dim, positions, inv_freq, kv, layer, slots);
    if (!rmsnorm_gemv_ok(x, norm_weight, wqkv, scratch) || head_dim % gemv_rows(int(x.rows)) != 0)
      return Backend::rmsnorm_qkv_rope_store(qkv, x, norm_weight, eps, wqkv, head_dim, positions, inv_freq, kv, layer,
                                             slots, scratch);
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    GemvArgs a = gemv_args(qkv, x.data, norm_weight.data, wqkv, int(x.rows), false);
    a.eps = eps;
    a.rope = 1;
    a.rkv = r;
    gemv_forward(GEMV_RMSNORM, a, wqkv.dtype, norm_weight.dtype, gemv_cfg(x.rows), compute());
  }

  // ---- graphs: stream capture of the Compute stream ----

  bool graph_begin() override {
    make_current();
    // ThreadLocal: CUDA calls other threads make meanwhile (other sessions) are not captured.
    CUDA_CHECK(cudaStreamBeginCapture(compute(), cudaStreamCaptureModeThreadLocal));
    return true;
  }

  Graph *graph_end() override {
    make_current();
    cudaGraph_t graph = nullptr;
    cudaError_t err = cudaStreamEndCapture(compute(), &graph);
    cudaGraphExec_t exec = nullptr;
    if (err == cudaSuccess && graph) err = cudaGraphInstantiate(&exec, graph, 0);
    if (graph) (void)cudaGraphDestroy(graph);
    if (err != cudaSuccess || !exec) {
      (void)cudaGetLastError();  // a failed capture is not sticky; the stream is usable again
      return nullptr;
    }
    return reinterpret_cast<Graph *>(exec);
  }

  void graph_launch(Graph *g) override {
    std::lock_guard<std::mutex> lock(mu_);
    make_current();
    CUDA_CHECK(cudaGraphLaunch(reinterpret_cast<cudaGraphExec_t>(g), compute()));
  }

  void graph_destroy(Graph *g) override {
    if (!g) return;
    make_current_nothrow();
    if (cudaGraphExecDestroy(reinterpret_cast<cudaGraphExec_t>(g)) != cudaSuccess) (void)cudaGetLastError();
  }

 private:
  // ---- setup / teardown ----

  void init() {
    CUDA_CHECK(cudaSetDevice(device_));
    CUDA_CHECK(cudaGetDeviceProperties(&prop_, device_));
    // Does this build carry code the device can run (sm_90 SASS, or PTX it can JIT)? Ask now rather
    // than fail at the first kernel.
    cudaFuncAttributes attr;
    const cudaError_t probe = cudaFuncGetAttributes(&attr, reinterpret_cast<const void *>(probe_kernel));
    if (probe == cudaErrorNoKernelImageForDevice || probe == cudaErrorInvalidDeviceFunction ||
        probe == cudaErrorInvalidPtx || probe == cudaErrorUnsupportedPtxVersion) {
      (void)cudaGetLastError();
      throw Error(VL_ERR_UNSUPPORTED,
                  std::string("cuda:") + std::to_string(device_) + " (" + prop_.name + ", sm_" +
                      std::to_string(prop_.major) + std::to_string(prop_.minor) +
                      "): libvramlab_cuda has no code for this GPU (" + cudaGetErrorString(probe) +
                      "); rebuild with cmake -DVRAMLAB_CUDA_ARCHITECTURES=" + std::to_string(prop_.major) +
                      std::to_string(prop_.minor) + "-real");
    }
    CUDA_CHECK(probe);
    pdl_ = prop_.major >= 9;
    gemv_cfg_.n_sms = prop_.multiProcessorCount;
    gemv_cfg_.smem_per_sm = int(prop_.sharedMemPerMultiprocessor);
    if (prop_.major >= 8) {
      CUDA_CHECK(attention_pipe_configure());
      for (int i = 0; i < 2; i++) {  // the resident blocks the attention splits fill (hd 64, 128)
        int per_sm = 0;
        CUDA_CHECK(attention_pipe_blocks_per_sm(i == 0 ? 64 : 128, &per_sm));
        att_pipe_slots_[i] = per_sm * prop_.multiProcessorCount;
      }
    }
    decode_note_ = pdl_ ? " / PDL but at 2..8 tokens" : " / no PDL";
    gemv_prepare();  // occupancy of the decode GEMVs, asked now rather than inside a graph capture
    CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[0], cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[1], cudaStreamNonBlocking));
    CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[2], cudaStreamNonBlocking));
    // Flash-decoding workspace, allocated once so that attention never allocates (nor synchronizes)
    // and a decode step stays capturable in a CUDA graph: attention_splits() keeps T * nh * splits
    // within att_max_partials_ partials of at most hd 256 floats (~4.3 MiB on an H200), and splits
    // only with splits >= 2, so T * nh <= half as many counters.
    const size_t sms = size_t(prop_.multiProcessorCount);
    att_max_partials_ = int64_t(32 * sms);  // batch 32 x 32 heads x 3 splits on 132 SMs
    att_part_.reserve(size_t(att_max_partials_) * (256 * sizeof(float) + sizeof(float2)), compute());
    att_counters_.reserve(size_t(att_max_partials_ / 2) * sizeof(unsigned), compute());
    CUDA_CHECK(cudaMemsetAsync(att_counters_.ptr, 0, att_counters_.bytes, compute()));

    // cuBLAS for prefill GEMMs; without it the tiled kernel takes over (correct, much slower).
    const Cublas &cb = cublas();
    if (env_flag("VRAMLAB_CUDA_NO_CUBLAS")) {
      blas_note_ = "no cuBLAS (VRAMLAB_CUDA_NO_CUBLAS set): fallback GEMM";
    } else if (!cb.loaded) {
      blas_note_ = "no cuBLAS (" + cb.error + "): fallback GEMM";
    } else {
      cublasHandle_t h = nullptr;
      const cublasStatus_t st = cb.Create(&h);
      if (st != CUBLAS_STATUS_SUCCESS) {
        (void)cudaGetLastError();
        blas_note_ = "no cuBLAS (cublasCreate: " + cublas_status_text(st) + "): fallback GEMM";
      } else {
        blas_ = h;
        try {
          CUBLAS_CHECK(cb.SetStream(blas_, compute()));
          // fp32 accumulation everywhere, no TF32 for F32 weights, no reduced-precision split-K sums.
          CUBLAS_CHECK(cb.SetMathMode(blas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                                          CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
          if (cb.SetWorkspace) {
            CUDA_CHECK(cudaMalloc(&blas_ws_, kCublasWorkspaceBytes));
            CUBLAS_CHECK(cb.SetWorkspace(blas_, blas_ws_, kCublasWorkspaceBytes));
          }
          int v = 0;
          if (cb.GetVersion) CUBLAS_CHECK(cb.GetVersion(blas_, &v));
          blas_note_ = "cuBLAS " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
                       std::to_string(v % 100);
        } catch (const Error &e) {  // a half set-up handle: drop it, the fallback GEMM still works
          (void)cb.Destroy(blas_);
          blas_ = nullptr;
          if (blas_ws_) (void)cudaFree(blas_ws_);
          blas_ws_ = nullptr;
          blas_note_ = std::string("no cuBLAS (") + e.what() + "): fallback GEMM";
        }
      }
    }
  }

  // Never throws: also runs while unwinding a failed init().
  void release() {
    if (device_ >= 0) (void)cudaSetDevice(device_);
    for (cudaStream_t s : streams_)
      if (s) (void)cudaStreamSynchronize(s);
    if (blas_) (void)cublas().Destroy(blas_);
    blas_ = nullptr;
    if (blas_ws_) (void)cudaFree(blas_ws_);
    blas_ws_ = nullptr;
    scratch_.release();
    att_part_.release();
    att_counters_.release();
    for (cudaStream_t &s : streams_) {
      if (s) (void)cudaStreamDestroy(s);
      s = nullptr;
    }
    (void)cudaGetLastError();
  }

  // ---- helpers ----

  void make_current() {
    int cur = -1;
    CUDA_CHECK(cudaGetDevice(&cur));
    if (cur != device_) CUDA_CHECK(cudaSetDevice(device_));
  }
  void make_current_nothrow() {
    if (cudaSetDevice(device_) != cudaSuccess) (void)cudaGetLastError();
  }

  cudaStream_t stream(StreamId s) const { return streams_[int(s)]; }

  // ---- fused-op helpers ----

  // True when matmul takes gemm_skinny_kernel for x (T, K) . w^T.
  bool skinny_takes(DType x_dtype, DType w_dtype, int T, int K, const void *x, const void *w) const {
    return prop_.major >= 8 && skinny_ok(x_dtype, w_dtype, T, K, x, w);
  }

  // Whether a kernel of a T-token step is launched with PDL: not at SKINNY_MIN_T..SKINNY_MAX_T tokens,
  // where early-launched skinny GEMM blocks, each asking for weights before its wait, contend with the
  // kernel before them (NOTES.md has the measurements).
  bool pdl_at(int64_t T) const { return pdl_ && (T < SKINNY_MIN_T || T > SKINNY_MAX_T); }
  GemvConfig gemv_cfg(int64_t T) const {
    GemvConfig c = gemv_cfg_;
    c.pdl = pdl_at(T);
    return c;
  }

  GemvArgs gemv_args(const Tensor &out, const void *x, const void *x2, const Tensor &w, int T, bool accumulate) const {
    GemvArgs a{};
    a.out = out.data;
    a.out_dtype = out.dtype;
    a.accumulate = accumulate ? 1 : 0;
    a.x = x;
    a.x2 = x2;
    a.w = w.data;
    a.T = T;
    a.N = int(w.rows);
    a.K = int(w.cols);
    return a;
  }

  // Shapes of rmsnorm_matmul: out (T, N) = rmsnorm(x (T, K) F32, norm_weight (1, K)) . w (N, K)^T.
  static void check_rmsnorm_matmul(const char *op, const Tensor &out, const Tensor &x, const Tensor &nw,
                                   const Tensor &w) {
    if (x.dtype != DType::F32) invalid(op, "x must be F32, got " + shape(x));
    if (x.cols != w.cols || out.rows != x.rows || out.cols != w.rows || nw.rows * nw.cols != x.cols)
      invalid(op, "out " + shape(out) + " = rmsnorm(x " + shape(x) + ", weight " + shape(nw) + ") . w " + shape(w) +
                      "^T");
    if (x.rows > INT32_MAX || w.rows > INT32_MAX || w.cols > INT32_MAX) invalid(op, "dimension over 2^31");
  }
  // The fused rmsnorm GEMV takes it: 1 <= T <= 8, K % 8 == 0, 16-byte aligned x, norm weight and w,
  // and the chain's GEMM (over the normed rows in scratch) would not be the skinny one: that reads the
  // weights at 77-79 % of the d2d rate at T = 2..8, the GEMV's T FMAs a weight at 26-65 %.
  bool rmsnorm_gemv_ok(const Tensor &x, const Tensor &nw, const Tensor &w, const Tensor &scratch) const {
    return x.rows >= 1 && x.rows <= GEMV_MAX_T && w.cols > 0 && gemv_vector_ok(x.data, w.data, int(w.cols)) &&
           reinterpret_cast<uintptr_t>(nw.data) % 16 == 0 &&
           !(x.rows >= 2 && skinny_takes(activation_dtype(), w.dtype, int(x.rows), int(w.cols), scratch.data, w.data));
  }

  // Checks a q | k | v row layout against the pool and returns the kernels' view of it.
  RopeKv rope_kv_args(const char *op, const Tensor &qkv, int32_t head_dim, const int32_t *positions,
                      const float *inv_freq, const KvLayout &kv, int32_t layer, const int32_t *slots) {
    const int64_t q_dim = qkv.cols - 2 * int64_t(kv.kv_dim);
    if (head_dim <= 0 || head_dim % 2 != 0 || kv.kv_dim <= 0 || kv.kv_dim % head_dim != 0 || q_dim <= 0 ||
        q_dim % head_dim != 0 || qkv.cols > INT32_MAX)
      invalid(op, "qkv " + shape(qkv) + " is not q | k | v heads of head_dim " + std::to_string(head_dim) +
                      " with kv_dim " + std::to_string(kv.kv_dim));
    if (layer < 0 || layer >= kv.n_layers) invalid(op, "layer " + std::to_string(layer) + " out of range");
    if (qkv.rows > 0 && (!positions || !inv_freq || !slots || !kv.base))
      invalid(op, "positions, inv_freq, slots or pool is null");
    RopeKv r{};
    r.head_dim = head_dim;
    r.q_dim = int(q_dim);
    r.kv_dim = kv.kv_dim;
    r.positions = positions;
    r.inv_freq = inv_freq;
    r.slots = slots;
    r.kv = dev_kv(kv, layer);
    r.kv_dtype = kv.dtype;
    return r;
  }
  cudaStream_t compute() const { return streams_[0]; }

  static std::string version(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

  // Prefill GEMM through cuBLAS. Row-major out (T, N) = x (T, K) . w (N, K)^T is, in cuBLAS's
  // column-major terms, C (N x T, ld N) = op(A) B with A = w stored (K x N, ld K) transposed and
  // B = x stored (K x T, ld K): the "TN" GEMM, cuBLAS's fastest layout.
  // GemmEx needs A and B of one dtype: x is converted to w's dtype when they differ. C may be F32 or
  // A's dtype (F32 only for F32 weights); other out dtypes go through an F32 scratch and an epilogue.
  // pair_c > 0: also out + pair_c (elements) = x . (w + its size)^T, in the same launch (matmul_pair;
  // direct outputs only, x in w's dtype).
  void gemm_cublas(Tensor out, Tensor x, Tensor w, bool accumulate, cudaStream_t s, int64_t pair_c = 0) {
    const Cublas &cb = cublas();
    const int T = int(x.rows), N = int(w.rows), K = int(w.cols);
    const DType wt = w.dtype;
    const size_t x_bytes = x.dtype != wt ? (size_t(T) * K * dtype_size(wt) + 255) & ~size_t(255) : 0;
    const bool direct = out.dtype == DType::F32 || (out.dtype == wt && wt != DType::F32);
    const size_t c_bytes = direct ? 0 : size_t(T) * N * sizeof(float);
    if (x_bytes + c_bytes) scratch_.reserve(x_bytes + c_bytes, s);
    char *ws = static_cast<char *>(scratch_.ptr);

    const void *xp = x.data;
    if (x_bytes) {
      convert_forward(ws, wt, x.data, x.dtype, size_t(T) * K, s);
      xp = ws;
    }
    void *cp = direct ? out.data : ws + x_bytes;
    const float alpha = 1.f, beta = (direct && accumulate) ? 1.f : 0.f;
    const cudaDataType_t ct = direct ? cuda_dtype(out.dtype) : CUDA_R_32F;
    const int batch = pair_c > 0 ? 2 : 1;
    const int64_t pair_a = batch > 1 ? int64_t(N) * K : 0;
    if (batch > 1 && cb.GemmStridedBatchedEx) {
      CUBLAS_CHECK(cb.GemmStridedBatchedEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, w.data, cuda_dtype(wt), K, pair_a,
                                           xp, cuda_dtype(wt), K, 0, &beta, cp, ct, N, pair_c, 2, CUBLAS_COMPUTE_32F,
                                           CUBLAS_GEMM_DEFAULT));
    } else {
      for (int i = 0; i < batch; i++)
        CUBLAS_CHECK(cb.GemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, N, T, K, &alpha, static_cast<const char *>(w.data) + i * pair_a * dtype_size(wt),
                               cuda_dtype(wt), K, xp, cuda_dtype(wt), K, &beta, static_cast<char *>(cp) + i * pair_c * dtype_size(out.dtype),
                               ct, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
    if (!direct) add_f32_forward(out.data, out.dtype, static_cast<const float *>(cp), size_t(T) * N, accumulate, s);
  }

  int device_ = -1;
  cudaDeviceProp prop_{};
  cudaStream_t streams_[3] = {nullptr, nullptr, nullptr};  // [Compute, Copy, Offload], all non-blocking
  cublasHandle_t blas_ = nullptr;                 // null: no cuBLAS, the tiled GEMM runs prefill
  void *blas_ws_ = nullptr;                       // (32 MiB) cuBLAS workspace
  std::string blas_note_;                         // "cuBLAS 13.0.2" or why not
  std::string decode_note_;                       // " / PDL but at 2..8 tokens" or " / no PDL"
  bool pdl_ = false;                              // programmatic dependent launch of the decode kernels
  int att_pipe_slots_[2] = {0, 0};                // the pipelined kernel's resident blocks, hd 64 and 128
  int64_t att_max_partials_ = 0;                  // attention_splits' bound: the workspace's partials
  GemvConfig gemv_cfg_;                           // how the decode GEMVs size their grid
  DeviceBuffer scratch_;                          // matmul: x converted to w's dtype, F32 GEMM output
  DeviceBuffer att_part_;                         // attention: (T, nh, splits, hd) partial o, then (m, l)
  DeviceBuffer att_counters_;                     // attention: (T, nh) split counters, kept at zero
  std::mutex mu_;
};

}  // namespace cuda
}  // namespace vl

// The plugin's entry point (see vl_cuda_backend_create_fn in backend.h). Never throws.
extern "C" __attribute__((visibility("default"))) int32_t vl_cuda_backend_create(int32_t device, vl::Backend **out,
                                                                                char *err, size_t err_cap) {
  const std::string dev = "cuda:" + std::to_string(device);
  auto fail = [&](int32_t status, const std::string &msg) {
    if (err && err_cap) std::snprintf(err, err_cap, "%s", msg.c_str());
    return status;
  };
  if (!out) return fail(VL_ERR_INVALID_ARGUMENT, "vl_cuda_backend_create: out is null");
  *out = nullptr;
  try {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      (void)cudaGetLastError();
      return fail(VL_ERR_NO_DEVICE, dev + ": no CUDA GPU is present (cudaGetDeviceCount: " + cudaGetErrorString(e) +
                                        ")");
    }
    if (count == 0) return fail(VL_ERR_NO_DEVICE, dev + ": no CUDA GPU is present (cudaGetDeviceCount: 0 devices)");
    if (device < 0 || device >= count)
      return fail(VL_ERR_NO_DEVICE, dev + ": no such device (" + std::to_string(count) + " CUDA device" +
                                        (count == 1 ? "" : "s") + " present: cuda:0" +
                                        (count > 1 ? "..cuda:" + std::to_string(count - 1) : std::string()) + ")");
    *out = new vl::cuda::CudaBackend(device);
    return VL_OK;
  } catch (const vl::Error &e) {
    return fail(e.status(), dev + ": " + e.what());
  } catch (const std::bad_alloc &) {
    return fail(VL_ERR_OUT_OF_MEMORY, dev + ": out of host memory");
  } catch (const std::exception &e) {
    return fail(VL_ERR_INTERNAL, dev + ": " + e.what());
  } catch (...) {
    return fail(VL_ERR_INTERNAL, dev + ": unknown exception");
  }
}
