// backend.h: the interface every backend implements (cut like ggml-backend): device memory, pinned
// host memory, two streams, events, asynchronous copies and the transformer kernels. The core
// (arena, KV pool, engine) is written once above it. Backends report failures by throwing
// vl::Error; they never abort or exit.
//
// Streams: every backend has exactly three in-order streams: Compute (kernels), Copy (host-to-device
// copies: streamed weights, KV page-ins) and Offload (device-to-host copies: KV page-outs), so that
// the link runs both ways at once. Work on one stream runs in issue order; work on different streams
// is ordered only through events.
//
// Kernels all run on the Compute stream and take Tensors: 2-D row-major views of device memory.
// T is the number of tokens of the step, H hidden size, F intermediate size, V vocabulary,
// nh/nkv query/KV heads, hd head dim, kv_dim = nkv * hd.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "dtype.h"
#include "error.h"

namespace vl {

enum class StreamId : int { Compute = 0, Copy = 1, Offload = 2 };
enum class CopyKind : int { HostToDevice = 0, DeviceToHost = 1, DeviceToDevice = 2, HostToHost = 3 };

// A 2-D row-major view of device memory (a vector is one row).
struct Tensor {
  void *data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0;
  int64_t cols = 0;

  size_t bytes() const { return size_t(rows) * size_t(cols) * dtype_size(dtype); }
  // Rows [first, first + n) of this tensor.
  Tensor rows_slice(int64_t first, int64_t n) const {
    return Tensor{static_cast<char *>(data) + size_t(first) * size_t(cols) * dtype_size(dtype), dtype, n, cols};
  }
};

// Layout of the paged KV pool, the same on every backend. A block holds block_tokens positions of
// every layer, so paging moves one contiguous range per block:
//   pool: (n_blocks, n_layers, 2 [K then V], block_tokens, kv_dim) of dtype
// A token's "slot" is block_id * block_tokens + offset within the block.
struct KvLayout {
  void *base = nullptr;
  DType dtype = DType::F32;
  int32_t n_blocks = 0;
  int32_t n_layers = 0;
  int32_t block_tokens = 0;
  int32_t kv_dim = 0;

  size_t plane_elems() const { return size_t(block_tokens) * size_t(kv_dim); }  // one K or V plane of a block
  size_t block_bytes() const { return size_t(n_layers) * 2 * plane_elems() * dtype_size(dtype); }
  size_t bytes() const { return size_t(n_blocks) * block_bytes(); }
  // Element offset of (block, layer, K=0|V=1, offset in block, 0).
  size_t elem_offset(int64_t block, int32_t layer, int kv, int64_t offset) const {
    return ((size_t(block) * size_t(n_layers) + size_t(layer)) * 2 + size_t(kv)) * plane_elems() +
           size_t(offset) * size_t(kv_dim);
  }
};

struct DeviceInfo {
  std::string name;    // e.g. "NVIDIA H100 80GB HBM3" or "cpu (2 threads)"
  std::string driver;  // driver / runtime versions, or "" for the CPU
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
};

// The dtypes a backend computes in (its activation_dtype() and kv_dtype()), known without opening a
// device, so that a model can be planned for one this machine does not have (vl_model_describe_for).
struct BackendDtypes {
  DType activation;
  DType kv;
};
inline constexpr BackendDtypes kCpuDtypes{DType::F32, DType::F32};
inline constexpr BackendDtypes kCudaDtypes{DType::F16, DType::F16};

// Opaque to the core; each backend defines its own.
struct Event;
struct Graph;

class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceInfo device_info() = 0;
  // The dtype of matmul inputs and of q/k/v, attention output and MLP activations. The residual
  // stream and logits are always F32.
  virtual DType activation_dtype() const = 0;
  // The dtype of the KV pool.
  virtual DType kv_dtype() const = 0;

  // ---- memory (the core's Arena accounts device memory against the VRAM budget) ----
  virtual void *device_alloc(size_t bytes) = 0;  // throws Error(VL_ERR_OUT_OF_MEMORY) when the device is full
  virtual void device_free(void *p) = 0;
  virtual void *host_alloc(size_t bytes) = 0;  // pinned (page-locked) host memory
  virtual void host_free(void *p) = 0;

  // ---- streams, events, copies ----
  // Enqueues a copy on `stream`. Host memory must stay valid until the copy has run (synchronize or
  // an event); pageable host memory is allowed but may copy synchronously.
  virtual void copy(void *dst, const void *src, size_t bytes, CopyKind kind, StreamId stream) = 0;
  virtual Event *event_create() = 0;
  virtual void event_destroy(Event *e) = 0;
  virtual void event_record(Event *e, StreamId stream) = 0;
  // Later work on `stream` waits until the last record of e has completed.
  virtual void stream_wait(StreamId stream, Event *e) = 0;
  virtual void event_synchronize(Event *e) = 0;
  // True once the last record of e has completed (never blocks).
  virtual bool event_query(Event *e) = 0;
  // Milliseconds between two completed events.
  virtual float event_elapsed_ms(Event *start, Event *end) = 0;
  virtual void synchronize(StreamId stream) = 0;

  // ---- kernels (Compute stream) ----
  // out (T, H) F32 = table[ids[t]], table (V, H); ids: device (T).
  virtual void embed(Tensor out, Tensor table, const int32_t *ids) = 0;
  // out (T, H) = x / rms(x) * weight; x (T, H) F32, weight (1, H); out in any dtype.
  virtual void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) = 0;
  // out (T, N) = x (T, K) . w (N, K)^T, plus the old out when accumulate (the residual add).
  virtual void matmul(Tensor out, Tensor x, Tensor w, bool accumulate) = 0;
  // Rotary embedding in place on x (T, heads * hd), HF's rotate-half convention: for i < hd/2,
  // angle = positions[t] * inv_freq[i] rotates the pair (x[i], x[i + hd/2]).
  // positions: device (T); inv_freq: device (hd/2) F32.
  virtual void rope(Tensor x, int32_t head_dim, const int32_t *positions, const float *inv_freq) = 0;
  // Writes k, v (T, kv_dim) into `layer` of the pool at slots[t] (device (T)).
  virtual void kv_store(const KvLayout &kv, int32_t layer, Tensor k, Tensor v, const int32_t *slots) = 0;
  // Causal attention through block tables: query t (position positions[t]) attends to positions
  // 0..positions[t] of its sequence, position p living at table[p / block_tokens], offset
  // p % block_tokens, where table = block_table + tables[t] (a batch of sequences: each query names its
  // own table in block_table), or block_table itself when tables is null (one sequence). out (T, nh * hd);
  // q (T, >= nh * hd): the queries are each row's first nh * hd columns, so that a q | k | v row can be
  // passed whole. Query head h reads KV head h / (nh / nkv). block_table, tables, positions: device.
  virtual void attention(Tensor out, Tensor q, const KvLayout &kv, int32_t layer, const int32_t *block_table,
                         const int32_t *tables, const int32_t *positions, int32_t n_heads, int32_t n_kv_heads,
                         int32_t head_dim, float scale) = 0;
  // out (T, F) = silu(gate) * up; gate, up (T, F). out may be gate.
  virtual void swiglu(Tensor out, Tensor gate, Tensor up) = 0;
  // In place on x (T, H) F32: x[t] = x[t] * scale + vec, for every row t; vec: device (H) F32, or null
  // to only scale. The breakpoints' edits of a paused residual stream (steering).
  virtual void scale_add_rows(Tensor x, float scale, const float *vec) = 0;
  // out[t] = the first column of row t that holds the row's maximum (torch.argmax); x (T, V) F32, out:
  // device (T). Greedy decoding's pick, on the device, so that the next step reads it from there
  // instead of waiting for the host. nonfinite: device (T) or null; nonfinite[t] = 1 when row t holds a
  // NaN or an infinity, else 0 (the same scan: how steps whose logits stay on the device find a
  // non-finite result, VL_ERR_NUMERIC).
  virtual void argmax_rows(int32_t *out, Tensor x, int32_t *nonfinite) = 0;

  // ---- fused ops (optional) ----
  // Each one is a chain of the kernels above, and its default implementation here is exactly that
  // chain, so every backend runs them; a backend may override one with a fused kernel (the CUDA
  // backend does for T <= 8, where the chain's small kernels and the gaps between them cost as much
  // as the GEMVs' extra reads). The engine calls them for one-token steps. `scratch` is device memory
  // the default implementation writes its intermediate to: at least T rows of the op's input width,
  // in the activation dtype (or any dtype the intermediate kernel can write). An override need not
  // touch it. `out` must not overlap the inputs (a fused kernel reads them while it writes). Like the
  // kernels, they run on the Compute stream, never allocate and never synchronize.

  // (optional) out (T, N) = rmsnorm(x, norm_weight, eps) . w (N, K)^T, plus the old out when
  // accumulate. x (T, K) F32, norm_weight (1, K), scratch (>= T, K).
  // Default: rmsnorm into scratch, then matmul.
  virtual void rmsnorm_matmul(Tensor out, Tensor x, Tensor norm_weight, float eps, Tensor w, bool accumulate,
                              Tensor scratch) {
    Tensor h = scratch_rows(scratch, x.rows, x.cols, "rmsnorm_matmul");
    rmsnorm(h, x, norm_weight, eps);
    matmul(out, h, w, accumulate);
  }
  // (optional) out_a (T, N) = x . w[:N]^T and out_b (T, N) = x . w[N:]^T; w (2N, K): [w_a; w_b] stacked, as the
  // MLP's gate and up. Default: two matmuls.
  virtual void matmul_pair(Tensor out_a, Tensor out_b, Tensor x, Tensor w) {
    if (w.rows % 2 != 0)
      throw Error(VL_ERR_INVALID_ARGUMENT, "matmul_pair: w (" + std::to_string(w.rows) + ", " + std::to_string(w.cols) +
                                               ") must stack two matrices of the same rows");
    const int64_t n = w.rows / 2;
    matmul(out_a, x, Tensor{w.data, w.dtype, n, w.cols}, false);
    matmul(out_b, x, Tensor{static_cast<char *>(w.data) + size_t(n) * size_t(w.cols) * dtype_size(w.dtype), w.dtype, n, w.cols},
           false);
  }
  // (optional) out (T, N) = (silu(gate) * up) . w (N, F)^T, plus the old out when accumulate.
  // gate, up (T, F); scratch (>= T, F), may be gate.
  // Default: swiglu into scratch, then matmul.
  virtual void swiglu_matmul(Tensor out, Tensor gate, Tensor up, Tensor w, bool accumulate, Tensor scratch) {
    Tensor a = scratch_rows(scratch, gate.rows, gate.cols, "swiglu_matmul");
    swiglu(a, gate, up);
    matmul(out, a, w, accumulate);
  }
  // (optional) The attention inputs of a step after their projection. qkv (T, q_dim + 2 kv_dim), each
  // row q | k | v with kv_dim = kv.kv_dim: rope (as above) in place on the q and k columns, then the
  // (rotated) k and the v columns into `layer` of the pool at slots[t] (as kv_store).
  // Default: rope and kv_store, one call each per row (a row's q | k columns are contiguous).
  virtual void rope_kv_store(Tensor qkv, int32_t head_dim, const int32_t *positions, const float *inv_freq,
                             const KvLayout &kv, int32_t layer, const int32_t *slots) {
    const int64_t q_dim = qkv.cols - 2 * int64_t(kv.kv_dim);
    if (q_dim <= 0) throw Error(VL_ERR_INVALID_ARGUMENT, "rope_kv_store: qkv has " + std::to_string(qkv.cols) +
                                                             " columns, not q_dim + 2 * kv_dim (" +
                                                             std::to_string(kv.kv_dim) + ")");
    for (int64_t t = 0; t < qkv.rows; t++) {
      const Tensor row = qkv.rows_slice(t, 1);
      rope(cols_of(row, 0, q_dim + kv.kv_dim), head_dim, positions + t, inv_freq);
      kv_store(kv, layer, cols_of(row, q_dim, kv.kv_dim), cols_of(row, q_dim + kv.kv_dim, kv.kv_dim), slots + t);
    }
  }
  // (optional) The attention block's input side in one op:
  //   qkv (T, q_dim + 2 kv_dim) = rmsnorm(x, norm_weight, eps) . wqkv^T, then rope_kv_store(qkv, ...).
  // x (T, H) F32; wqkv (q_dim + 2 kv_dim, H) is [wq; wk; wv] stacked; scratch (>= T, H).
  // Default: rmsnorm_matmul, then rope_kv_store.
  virtual void rmsnorm_qkv_rope_store(Tensor qkv, Tensor x, Tensor norm_weight, float eps, Tensor wqkv,
                                      int32_t head_dim, const int32_t *positions, const float *inv_freq,
                                      const KvLayout &kv, int32_t layer, const int32_t *slots, Tensor scratch) {
    rmsnorm_matmul(qkv, x, norm_weight, eps, wqkv, false, scratch);
    rope_kv_store(qkv, head_dim, positions, inv_freq, kv, layer, slots);
  }

  // ---- graphs (optional) ----
  // Replaying a recorded step saves the launch gaps of its many small kernels. graph_begin starts
  // recording the kernels then issued on Compute (they do not run); graph_end stops and returns the
  // graph, or nullptr when recording failed (Compute is usable again either way). A replay reads
  // its inputs from the addresses recorded. Backends without graphs return false from graph_begin.
  virtual bool graph_begin() { return false; }
  virtual Graph *graph_end() { return nullptr; }
  virtual void graph_launch(Graph *g) {}
  virtual void graph_destroy(Graph *g) {}

 protected:
  // The first `rows` rows of scratch viewed as (rows, cols), for the fused ops' default implementations.
  static Tensor scratch_rows(const Tensor &scratch, int64_t rows, int64_t cols, const char *op) {
    if (scratch.cols != cols || scratch.rows < rows)
      throw Error(VL_ERR_INVALID_ARGUMENT, std::string(op) + ": scratch (" + std::to_string(scratch.rows) + ", " +
                                               std::to_string(scratch.cols) + ") cannot hold (" +
                                               std::to_string(rows) + ", " + std::to_string(cols) + ")");
    return Tensor{scratch.data, scratch.dtype, rows, cols};
  }
  // Columns [first, first + n) of a one-row tensor.
  static Tensor cols_of(const Tensor &row, int64_t first, int64_t n) {
    return Tensor{static_cast<char *>(row.data) + size_t(first) * dtype_size(row.dtype), row.dtype, 1, n};
  }
};

// The CPU reference backend (always built).
Backend *create_cpu_backend();

// Entry point of the CUDA backend plugin (libvramlab_cuda.so), looked up with dlsym so that the core
// library loads on machines without CUDA. Returns a vl_status; on failure writes a message to err.
extern "C" typedef int32_t (*vl_cuda_backend_create_fn)(int32_t device, Backend **out, char *err, size_t err_cap);

}  // namespace vl
