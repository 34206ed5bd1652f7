// swiglu.cuh: the MLP's gate activation, plus the small elementwise kernels the matmul paths need.
//
// defines: swiglu_kernel, swiglu_forward, convert_kernel, convert_forward, add_f32_kernel, add_f32_forward
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

inline unsigned elementwise_blocks(size_t n, int threads) {
  // Grid-stride loops; a few waves of blocks is plenty for a memory-bound kernel.
  const size_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 65536 ? blocks : 65536);
}

// out (T, F) = silu(gate) * up, silu(g) = g / (1 + exp(-g)); gate, up (T, F) of one dtype; n = T * F.
// Launched with PDL: it waits before reading its inputs, and lets the next kernel launch after that.
template <typename TI, typename TO>
__global__ void swiglu_kernel(TO *out, const TI *gate, const TI *up, size_t n) {
  pdl_wait();
  pdl_launch_dependents();
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float g = to_f32(gate[i]);
    out[i] = from_f32<TO>(g / (1.0f + expf(-g)) * to_f32(up[i]));
  }
}

inline void swiglu_forward(void *out, DType out_dtype, const void *gate, const void *up, DType in_dtype, size_t n,
                           bool pdl, cudaStream_t stream) {
  if (n == 0) return;
  VL_DISPATCH_DTYPE(in_dtype, TI, {
    VL_DISPATCH_DTYPE(out_dtype, TO, {
      check(launch_kernel(pdl, swiglu_kernel<TI, TO>, dim3(elementwise_blocks(n, 256)), dim3(256), stream,
                          static_cast<TO *>(out), static_cast<const TI *>(gate), static_cast<const TI *>(up), n),
            "swiglu_kernel launch", __FILE__, __LINE__);
    });
  });
}

// dst (n) = src (n) converted; used to bring matmul inputs to the weight dtype for cuBLAS.
template <typename TS, typename TD>
__global__ void convert_kernel(TD *dst, const TS *src, size_t n) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    dst[i] = from_f32<TD>(to_f32(src[i]));
}

inline void convert_forward(void *dst, DType dst_dtype, const void *src, DType src_dtype, size_t n,
                            cudaStream_t stream) {
  if (n == 0) return;
  VL_DISPATCH_DTYPE(src_dtype, TS, {
    VL_DISPATCH_DTYPE(dst_dtype, TD, {
      convert_kernel<TS, TD><<<elementwise_blocks(n, 256), 256, 0, stream>>>(static_cast<TD *>(dst),
                                                                             static_cast<const TS *>(src), n);
      CUDA_CHECK_LAUNCH("convert_kernel");
    });
  });
}

// out (n) = (accumulate ? out : 0) + src (n) F32, rounded once to out's dtype: the epilogue of a GEMM
// that cuBLAS cannot write in out's dtype directly.
__global__ void add_f32_kernel(void *out, DType out_dtype, const float *src, size_t n, int accumulate) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    const float old = accumulate ? load_any(out, out_dtype, i) : 0.f;
    store_any(out, out_dtype, i, old + src[i]);
  }
}

inline void add_f32_forward(void *out, DType out_dtype, const float *src, size_t n, bool accumulate,
                            cudaStream_t stream) {
  if (n == 0) return;
  add_f32_kernel<<<elementwise_blocks(n, 256), 256, 0, stream>>>(out, out_dtype, src, n, accumulate ? 1 : 0);
  CUDA_CHECK_LAUNCH("add_f32_kernel");
}

}  // namespace cuda
}  // namespace vl
