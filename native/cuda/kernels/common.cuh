// common.cuh: device-side helpers shared by every kernel header.
//
// defines: to_f32, from_f32, dtype_of, load_any, store_any, Vec8, ld8, ld8_stream, cvt8, load8, warp_sum, warp_max,
//          block_sum, ceil_div, DevKv, dev_kv, pdl_wait, pdl_launch_dependents, launch_kernel(_smem), cp_async16,
//          cp_async_commit, cp_async_wait, mma_16816,
//          VL_DISPATCH_DTYPE
//
// Element types: DType::F32 -> float, F16 -> __half, BF16 -> __nv_bfloat16. All arithmetic is fp32;
// conversions round to nearest even, like vl::f32_to_f16 / f32_to_bf16 on the CPU.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>
#include <utility>

#include "../cuda_check.h"
#include "backend.h"

namespace vl {
namespace cuda {

constexpr int WARP = 32;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- scalar conversions ----
__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// The DType of an element type.
template <typename T> __host__ __device__ constexpr DType dtype_of();
template <> __host__ __device__ constexpr DType dtype_of<float>() { return DType::F32; }
template <> __host__ __device__ constexpr DType dtype_of<__half>() { return DType::F16; }
template <> __host__ __device__ constexpr DType dtype_of<__nv_bfloat16>() { return DType::BF16; }

// Element i of a buffer whose dtype is only known at run time (outputs whose dtype the caller picks;
// the branch is uniform across the grid, so it costs one predicated select per element).
__device__ __forceinline__ float load_any(const void *p, DType t, size_t i) {
  switch (t) {
    case DType::F16: return __half2float(static_cast<const __half *>(p)[i]);
    case DType::BF16: return __bfloat162float(static_cast<const __nv_bfloat16 *>(p)[i]);
    default: return static_cast<const float *>(p)[i];
  }
}
__device__ __forceinline__ void store_any(void *p, DType t, size_t i, float v) {
  switch (t) {
    case DType::F16: static_cast<__half *>(p)[i] = __float2half_rn(v); break;
    case DType::BF16: static_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16_rn(v); break;
    default: static_cast<float *>(p)[i] = v; break;
  }
}

// ---- 8-element vectors: 16 bytes of F16/BF16, 32 bytes of F32 ----
// Raw storage, so that loads can be issued early and converted later (keeps many bytes in flight).
template <typename T> struct Vec8 { uint4 r; };  // 8 x 2-byte elements
template <> struct Vec8<float> { float4 a, b; };

// 16 bytes from p (16-byte aligned): through the read-only cache, or (Stream) as a streaming load,
// evict-first: weights are read once per step, keep L1/L2 for the activations.
template <bool Stream, typename V> __device__ __forceinline__ V ld16(const V *p) {
  if constexpr (Stream) return __ldcs(p);
  else return __ldg(p);
}
template <bool Stream = false, typename T> __device__ __forceinline__ Vec8<T> ld8(const T *p) {
  Vec8<T> v;
  v.r = ld16<Stream>(reinterpret_cast<const uint4 *>(p));
  return v;
}
template <bool Stream = false> __device__ __forceinline__ Vec8<float> ld8(const float *p) {
  Vec8<float> v;
  v.a = ld16<Stream>(reinterpret_cast<const float4 *>(p));
  v.b = ld16<Stream>(reinterpret_cast<const float4 *>(p) + 1);
  return v;
}
template <typename T> __device__ __forceinline__ Vec8<T> ld8_stream(const T *p) { return ld8<true>(p); }

__device__ __forceinline__ void cvt8(const Vec8<float> &v, float (&f)[8]) {
  f[0] = v.a.x; f[1] = v.a.y; f[2] = v.a.z; f[3] = v.a.w;
  f[4] = v.b.x; f[5] = v.b.y; f[6] = v.b.z; f[7] = v.b.w;
}
__device__ __forceinline__ float2 pair_f32(__half2 h) { return __half22float2(h); }
__device__ __forceinline__ float2 pair_f32(__nv_bfloat162 h) { return __bfloat1622float2(h); }
// 8 x F16 or BF16 (T2: __half2 or __nv_bfloat162, the pair type of T) to f32.
template <typename T, typename T2 = std::conditional_t<std::is_same_v<T, __half>, __half2, __nv_bfloat162>>
__device__ __forceinline__ void cvt8(const Vec8<T> &v, float (&f)[8]) {
  const T2 *h = reinterpret_cast<const T2 *>(&v.r);
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const float2 p = pair_f32(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

template <typename T> __device__ __forceinline__ void load8(const T *p, float (&f)[8]) { cvt8(ld8(p), f); }

// ---- reductions ----
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Sum over the block; every thread gets the result. `scratch` holds 32 floats. blockDim.x % 32 == 0.
__device__ __forceinline__ float block_sum(float v, float *scratch) {
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP, n_warps = blockDim.x / WARP;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < n_warps ? scratch[lane] : 0.f;
  return warp_sum(v);
}

// The KV pool as kernels see it (see KvLayout in backend.h):
//   pool: (n_blocks, n_layers, 2 [K then V], block_tokens, kv_dim)
struct DevKv {
  void *base;
  int32_t n_blocks, n_layers, block_tokens, kv_dim, layer;

  __device__ __forceinline__ size_t plane_elems() const { return size_t(block_tokens) * size_t(kv_dim); }
  // Element offset of (block, this layer, kv, offset, 0).
  __device__ __forceinline__ size_t offset(int64_t block, int kv, int64_t off) const {
    return ((size_t(block) * size_t(n_layers) + size_t(layer)) * 2 + size_t(kv)) * plane_elems() +
           size_t(off) * size_t(kv_dim);
  }
};

inline DevKv dev_kv(const KvLayout &kv, int32_t layer) {
  return DevKv{kv.base, kv.n_blocks, kv.n_layers, kv.block_tokens, kv.kv_dim, layer};
}

// ---- programmatic dependent launch (sm_90+; no-ops below) ----
// A kernel launched with launch_kernel(pdl = true) may start while the kernel before it on the stream
// is still running, once every block of that one has called pdl_launch_dependents (or exited). Before
// pdl_wait it may only read what no kernel of the step writes (weights); pdl_wait returns when the
// previous kernel has completed and its writes are visible. Every kernel launched with pdl = true calls
// pdl_wait in every thread before it touches activations, outputs or the KV pool, so that completing
// implies its predecessor completed too (the chain stays ordered), and calls pdl_launch_dependents only
// after pdl_wait, so that at most one kernel waits ahead. Launched without the attribute, pdl_wait
// returns at once.
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream serialization when pdl (the
// kernel must follow the pdl_wait rules above). Returns the launch's error.
template <typename... KArgs, typename... Args>
inline cudaError_t launch_kernel_smem(bool pdl, void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                      cudaStream_t stream, Args &&...args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...);
}
// The same without dynamic shared memory.
template <typename... KArgs, typename... Args>
inline cudaError_t launch_kernel(bool pdl, void (*kernel)(KArgs...), dim3 grid, dim3 block, cudaStream_t stream,
                                 Args &&...args) {
  return launch_kernel_smem(pdl, kernel, grid, block, 0, stream, std::forward<Args>(args)...);
}

// ---- cp.async (sm_80+): 16-byte copies global -> shared that land while the thread goes on ----
// cp_async16 with fill false zero-fills the 16 bytes and reads nothing. A thread's copies form a group
// at each cp_async_commit; cp_async_wait<N> returns once at most N of its groups are still in flight.
__device__ __forceinline__ void cp_async16(void *smem, const void *gmem, bool fill) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  // src-size 0: the 16 bytes are zero-filled and nothing is read (keys past the context, bad blocks).
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(unsigned(__cvta_generic_to_shared(smem))),
               "l"(gmem), "r"(fill ? 16 : 0));
#endif
}
__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int N> __device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// ---- tensor cores ----
// d (16x8 f32) += a (16x16, row) . b (16x8, col). Fragment layouts (PTX ISA, mma.m16n8k16), with
// g = lane / 4 and c = lane % 4:
//   a[0] = A[g][2c..2c+1]   a[1] = A[g+8][2c..]   a[2] = A[g][2c+8..]   a[3] = A[g+8][2c+8..]
//   b[0] = B[2c..2c+1][g]   b[1] = B[2c+8..2c+9][g]
//   d[0..1] = D[g][2c..2c+1]   d[2..3] = D[g+8][2c..2c+1]
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  static_assert(std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, "mma_16816: F16 or BF16 operands");
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
#define VL_MMA_OPERANDS                                              \
  : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                   \
  : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1)
  if constexpr (std::is_same_v<T, __half>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" VL_MMA_OPERANDS);
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n" VL_MMA_OPERANDS);
#undef VL_MMA_OPERANDS
#endif
}

}  // namespace cuda
}  // namespace vl

// Runs the statement with `T` bound to the element type of `dt` (a host-side switch over DType).
#define VL_DISPATCH_DTYPE(dt, T, ...)                              \
  switch (dt) {                                                    \
    case ::vl::DType::F32: { using T = float; __VA_ARGS__; } break;          \
    case ::vl::DType::F16: { using T = __half; __VA_ARGS__; } break;         \
    case ::vl::DType::BF16: { using T = __nv_bfloat16; __VA_ARGS__; } break; \
  }
