// matmul.cuh: out (T, N) = x (T, K) . w (N, K)^T (+ out), the kernels behind Backend::matmul.
//
// defines: store_out, gemv_vector_ok, gemv_scalar_kernel, gemv_scalar_forward, gemm_tiled_kernel,
//          gemm_tiled_forward
//
// Three paths (the cuBLAS one lives in cuda_backend.cu, it needs the handle):
//  - gemv_kernel (gemv.cuh): decode, T <= 8, K % 8 == 0 and aligned. Memory bound: each weight byte is
//    read once with 16-byte streaming loads; also the fused rmsnorm / swiglu / rope variants.
//  - gemv_scalar_kernel: the same for shapes the vector path cannot take (K % 8 != 0, misaligned).
//  - gemm_tiled_kernel: prefill without cuBLAS. A plain 64x64 shared-memory tiled SIMT GEMM in fp32;
//    correct for every dtype and shape, an order of magnitude slower than cuBLAS on tensor cores.
// Every path reads the old out and adds it in fp32 when accumulating (the residual add), then rounds
// once to out's dtype.
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

constexpr int GEMV_THREADS = 128;  // 4 warps per block
constexpr int GEMV_MAX_T = 8;      // the largest T the GEMV path takes

__device__ __forceinline__ void store_out(void *out, DType dt, size_t i, float v, int accumulate) {
  if (accumulate) v += load_any(out, dt, i);
  store_any(out, dt, i, v);
}

// True when the vector GEMV can read x and w: K a multiple of 8 and both base pointers 16-byte aligned
// (rows then stay aligned because K * dtype_size is a multiple of 16).
inline bool gemv_vector_ok(const void *x, const void *w, int K) {
  return K % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

// One warp per output feature, scalar loads; any K, any alignment, T <= GEMV_MAX_T.
template <typename TW, typename TX>
__global__ void __launch_bounds__(GEMV_THREADS) gemv_scalar_kernel(void *out, DType out_dtype, const TX *x, const TW *w,
                                                                   int T, int N, int K, int accumulate) {
  const int lane = threadIdx.x % WARP;
  const int n = blockIdx.x * (GEMV_THREADS / WARP) + threadIdx.x / WARP;
  if (n >= N) return;
  const TW *wr = w + size_t(n) * K;
  float acc[GEMV_MAX_T];
#pragma unroll
  for (int t = 0; t < GEMV_MAX_T; t++) acc[t] = 0.f;
  for (int k = lane; k < K; k += WARP) {
    const float wk = to_f32(wr[k]);
#pragma unroll
    for (int t = 0; t < GEMV_MAX_T; t++)
      if (t < T) acc[t] = fmaf(wk, to_f32(x[size_t(t) * K + k]), acc[t]);
  }
#pragma unroll
  for (int t = 0; t < GEMV_MAX_T; t++) acc[t] = warp_sum(acc[t]);
  if (lane == 0) {
#pragma unroll
    for (int t = 0; t < GEMV_MAX_T; t++)  // unrolled so that acc stays in registers
      if (t < T) store_out(out, out_dtype, size_t(t) * N + n, acc[t], accumulate);
  }
}

inline void gemv_scalar_forward(void *out, DType out_dtype, const void *x, DType x_dtype, const void *w,
                                DType w_dtype, int T, int N, int K, bool accumulate, cudaStream_t stream) {
  const unsigned blocks = unsigned(ceil_div(N, GEMV_THREADS / WARP));
  VL_DISPATCH_DTYPE(w_dtype, TW, {
    VL_DISPATCH_DTYPE(x_dtype, TX, {
      gemv_scalar_kernel<TW, TX><<<blocks, GEMV_THREADS, 0, stream>>>(
          out, out_dtype, static_cast<const TX *>(x), static_cast<const TW *>(w), T, N, K, accumulate ? 1 : 0);
      CUDA_CHECK_LAUNCH("gemv_scalar_kernel");
    });
  });
}

// Tiled GEMM without cuBLAS. Block (16, 16) computes a 64 (tokens) x 64 (features) tile of out; each
// thread 4 x 4 outputs at stride 16 so that shared-memory reads are broadcasts (x) or conflict-free (w).
constexpr int GT_BM = 64, GT_BN = 64, GT_BK = 16;
template <typename TX, typename TW>
__global__ void __launch_bounds__(256) gemm_tiled_kernel(void *out, DType out_dtype, const TX *x, const TW *w, int T,
                                                         int N, int K, int accumulate) {
  __shared__ float xs[GT_BK][GT_BM + 1];  // [k][token]
  __shared__ float ws[GT_BK][GT_BN + 1];  // [k][feature]
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * GT_BM, n0 = blockIdx.x * GT_BN;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < K; k0 += GT_BK) {
#pragma unroll
    for (int l = 0; l < (GT_BM * GT_BK) / 256; l++) {
      const int idx = threadIdx.x + 256 * l;
      const int r = idx / GT_BK, k = idx % GT_BK;
      const int m = m0 + r, n = n0 + r, kk = k0 + k;
      xs[k][r] = (m < T && kk < K) ? to_f32(x[size_t(m) * K + kk]) : 0.f;
      ws[k][r] = (n < N && kk < K) ? to_f32(w[size_t(n) * K + kk]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < GT_BK; k++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) a[i] = xs[k][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < 4; j++) b[j] = ws[k][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int m = m0 + ty + 16 * i;
    if (m >= T) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      const int n = n0 + tx + 16 * j;
      if (n < N) store_out(out, out_dtype, size_t(m) * N + n, acc[i][j], accumulate);
    }
  }
}

inline void gemm_tiled_forward(void *out, DType out_dtype, const void *x, DType x_dtype, const void *w, DType w_dtype,
                               int T, int N, int K, bool accumulate, cudaStream_t stream) {
  const dim3 grid(unsigned(ceil_div(N, GT_BN)), unsigned(ceil_div(T, GT_BM)));
  VL_DISPATCH_DTYPE(x_dtype, TX, {
    VL_DISPATCH_DTYPE(w_dtype, TW, {
      gemm_tiled_kernel<TX, TW><<<grid, 256, 0, stream>>>(out, out_dtype, static_cast<const TX *>(x),
                                                          static_cast<const TW *>(w), T, N, K, accumulate ? 1 : 0);
      CUDA_CHECK_LAUNCH("gemm_tiled_kernel");
    });
  });
}

}  // namespace cuda
}  // namespace vl
