// kv_cache.cuh: writing a step's keys and values into the paged KV pool.
//
// defines: kv_store_kernel, kv_store_forward
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

// k, v (T, kv_dim) -> pool (n_blocks, n_layers, 2, block_tokens, kv_dim) at
// (slots[t] / block_tokens, layer, K|V, slots[t] % block_tokens). Grid (T, 2): blockIdx.y picks K or V.
// A slot outside the pool is skipped rather than written out of bounds (the core never sends one).
template <typename TS, typename TD>
__global__ void kv_store_kernel(DevKv kv, const TS *k, const TS *v, const int32_t *slots) {
  const int t = blockIdx.x, which = blockIdx.y;
  const int64_t slot = slots[t];
  if (slot < 0 || slot >= int64_t(kv.n_blocks) * kv.block_tokens) return;
  const TS *src = (which ? v : k) + size_t(t) * kv.kv_dim;
  TD *dst = static_cast<TD *>(kv.base) + kv.offset(slot / kv.block_tokens, which, slot % kv.block_tokens);
  for (int d = threadIdx.x; d < kv.kv_dim; d += blockDim.x) dst[d] = from_f32<TD>(to_f32(src[d]));
}

inline void kv_store_forward(const DevKv &kv, DType kv_dtype, const void *k, const void *v, DType src_dtype,
                             const int32_t *slots, int T, cudaStream_t stream) {
  if (T == 0) return;
  const dim3 grid(T, 2);
  const int threads = kv.kv_dim >= 256 ? 256 : int(ceil_div(kv.kv_dim, WARP)) * WARP;
  VL_DISPATCH_DTYPE(src_dtype, TS, {
    VL_DISPATCH_DTYPE(kv_dtype, TD, {
      kv_store_kernel<TS, TD><<<grid, threads, 0, stream>>>(kv, static_cast<const TS *>(k), static_cast<const TS *>(v),
                                                            slots);
      CUDA_CHECK_LAUNCH("kv_store_kernel");
    });
  });
}

}  // namespace cuda
}  // namespace vl
