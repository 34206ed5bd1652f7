// scale_add.cuh: the breakpoints' edit of a paused residual stream, in place.
//
// defines: scale_add_rows_kernel, scale_add_rows_forward
#pragma once
#include "common.cuh"
#include "swiglu.cuh"  // elementwise_blocks

namespace vl {
namespace cuda {

// x (T, H) F32: x[t][c] = x[t][c] * scale + vec[c]; vec (H) F32, or null to only scale.
__global__ void scale_add_rows_kernel(float *x, float scale, const float *vec, size_t n, size_t cols) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    x[i] = x[i] * scale + (vec ? vec[i % cols] : 0.f);
}

inline void scale_add_rows_forward(float *x, float scale, const float *vec, size_t rows, size_t cols,
                                   cudaStream_t stream) {
  const size_t n = rows * cols;
  if (n == 0) return;
  scale_add_rows_kernel<<<elementwise_blocks(n, 256), 256, 0, stream>>>(x, scale, vec, n, cols);
  CUDA_CHECK_LAUNCH("scale_add_rows_kernel");
}

}  // namespace cuda
}  // namespace vl
