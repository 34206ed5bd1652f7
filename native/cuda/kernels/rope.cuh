// rope.cuh: rotary position embedding, HuggingFace's rotate-half convention, in place.
//
// defines: rope_kernel, rope_forward, RopeKv, rope_kv_pair, rope_kv_store_kernel, rope_kv_store_forward
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

// x (T, heads * hd) in place. For each token t, head and i < hd/2:
//   angle = float(positions[t]) * inv_freq[i]      (fp32, the exact product the CPU backend forms)
//   (x[i], x[i + hd/2]) <- (x[i] cos - x[i + hd/2] sin, x[i + hd/2] cos + x[i] sin)
// sincosf (not __sincosf) so that large angles (positions in the thousands) keep full accuracy.
// One thread per rotated pair.
template <typename T>
__global__ void rope_kernel(T *x, int64_t n_pairs, int width, int head_dim, const int32_t *positions,
                            const float *inv_freq) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_pairs) return;
  const int half = head_dim / 2;
  const int pairs_per_row = width / 2;
  const int64_t t = i / pairs_per_row;
  const int rem = int(i % pairs_per_row);
  const int head = rem / half, j = rem % half;
  const float angle = float(positions[t]) * inv_freq[j];
  float s, c;
  sincosf(angle, &s, &c);
  T *p = x + size_t(t) * width + size_t(head) * head_dim;
  const float x0 = to_f32(p[j]), x1 = to_f32(p[j + half]);
  p[j] = from_f32<T>(x0 * c - x1 * s);
  p[j + half] = from_f32<T>(x1 * c + x0 * s);
}

inline void rope_forward(void *x, DType dtype, int T, int width, int head_dim, const int32_t *positions,
                         const float *inv_freq, cudaStream_t stream) {
  const int64_t n_pairs = int64_t(T) * (width / 2);
  if (n_pairs == 0) return;
  const int threads = 256;
  VL_DISPATCH_DTYPE(dtype, TX, {
    rope_kernel<TX><<<unsigned(ceil_div(n_pairs, threads)), threads, 0, stream>>>(static_cast<TX *>(x), n_pairs, width,
                                                                                  head_dim, positions, inv_freq);
    CUDA_CHECK_LAUNCH("rope_kernel");
  });
}

// ---- rope + KV store of a q | k | v row (Backend::rope_kv_store, and the qkv GEMV's epilogue) ----

// What a q | k | v row needs besides its values: qkv (T, width = q_dim + 2 kv_dim).
struct RopeKv {
  int head_dim, q_dim, kv_dim;
  const int32_t *positions;  // (T)
  const float *inv_freq;     // (head_dim / 2)
  const int32_t *slots;      // (T)
  DevKv kv;                  // the pool, layer selected
  DType kv_dtype;
};

// The pair (x0, x1) = columns (col, col + hd/2) of token t's row, col in the first half of its head:
// rotated (exactly as rope_kernel) when it lies in q or k, written back to the row in qkv's dtype, and
// written to the pool (as kv_store_kernel, a slot outside the pool skipped) when it lies in k or v.
__device__ __forceinline__ void rope_kv_pair(const RopeKv &r, void *qkv, DType qkv_dtype, int t, int col, float x0,
                                             float x1) {
  const int half = r.head_dim / 2;
  const int width = r.q_dim + 2 * r.kv_dim;
  if (col < r.q_dim + r.kv_dim) {
    const float angle = float(r.positions[t]) * r.inv_freq[col % r.head_dim];
    float s, c;
    sincosf(angle, &s, &c);
    const float y0 = x0 * c - x1 * s, y1 = x1 * c + x0 * s;
    x0 = y0;
    x1 = y1;
  }
  const size_t o = size_t(t) * size_t(width) + size_t(col);
  store_any(qkv, qkv_dtype, o, x0);
  store_any(qkv, qkv_dtype, o + half, x1);
  if (col >= r.q_dim) {
    const int64_t slot = r.slots[t];
    if (slot >= 0 && slot < int64_t(r.kv.n_blocks) * r.kv.block_tokens) {
      const int which = col >= r.q_dim + r.kv_dim ? 1 : 0;  // K or V
      const size_t p = r.kv.offset(slot / r.kv.block_tokens, which, slot % r.kv.block_tokens) +
                       size_t(col - r.q_dim - which * r.kv_dim);
      store_any(r.kv.base, r.kv_dtype, p, x0);
      store_any(r.kv.base, r.kv_dtype, p + half, x1);
    }
  }
}

// qkv (T, q_dim + 2 kv_dim) in place plus the pool: one thread per (token, pair) of the row's width / 2
// pairs (q and k pairs are rotated, v pairs only stored). Launched with PDL (see common.cuh).
template <typename T>
__global__ void rope_kv_store_kernel(RopeKv r, T *qkv, int64_t n_pairs) {
  pdl_wait();
  pdl_launch_dependents();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n_pairs) return;
  const int half = r.head_dim / 2;
  const int pairs_per_row = (r.q_dim + 2 * r.kv_dim) / 2;
  const int t = int(i / pairs_per_row);
  const int p = int(i % pairs_per_row);
  const int col = (p / half) * r.head_dim + p % half;
  const size_t o = size_t(t) * size_t(2 * pairs_per_row) + size_t(col);
  rope_kv_pair(r, qkv, dtype_of<T>(), t, col, to_f32(qkv[o]), to_f32(qkv[o + half]));
}

inline void rope_kv_store_forward(const RopeKv &r, void *qkv, DType dtype, int T, bool pdl, cudaStream_t stream) {
  const int64_t n_pairs = int64_t(T) * ((r.q_dim + 2 * r.kv_dim) / 2);
  if (n_pairs == 0) return;
  const int threads = 256;
  VL_DISPATCH_DTYPE(dtype, TX, {
    check(launch_kernel(pdl, rope_kv_store_kernel<TX>, dim3(unsigned(ceil_div(n_pairs, threads))), dim3(threads),
                        stream, r, static_cast<TX *>(qkv), n_pairs),
          "rope_kv_store_kernel launch", __FILE__, __LINE__);
  });
}

}  // namespace cuda
}  // namespace vl
