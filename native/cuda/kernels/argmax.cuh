// argmax.cuh: greedy decoding's pick on the device.
//
// defines: argmax_rows_kernel, argmax_rows_forward
#pragma once
#include <climits>

#include "common.cuh"

namespace vl {
namespace cuda {

constexpr int ARGMAX_THREADS = 256;

// (v, i) beats (bv, bi) when larger, or equal at a lower column: the first maximum, as torch.argmax.
// A NaN compares false both ways, so it never wins (as in cpu::argmax_rows).
__device__ __forceinline__ void argmax_take(float v, int i, float &bv, int &bi) {
  if (v > bv || (v == bv && i < bi)) bv = v, bi = i;
}

// One block per row: x (T, V) F32 -> out (T), and nonfinite (T) or null: 1 when the row holds a NaN or
// an inf, else 0. Each thread scans a strided slice, then warp shuffles and shared memory reduce the
// (value, column) pairs; __syncthreads_or the non-finite flags.
__global__ void __launch_bounds__(ARGMAX_THREADS) argmax_rows_kernel(int32_t *out, int32_t *nonfinite, const float *x, int V) {
  const float *row = x + size_t(blockIdx.x) * size_t(V);
  float bv = -INFINITY;
  int bi = INT_MAX;
  int bad = 0;
  for (int c = threadIdx.x; c < V; c += ARGMAX_THREADS) {
    const float v = row[c];
    bad |= !isfinite(v);
    argmax_take(v, c, bv, bi);
  }
  bad = __syncthreads_or(bad);  // every thread of the block reaches it
#pragma unroll
  for (int o = WARP / 2; o > 0; o >>= 1) argmax_take(__shfl_xor_sync(0xffffffffu, bv, o), __shfl_xor_sync(0xffffffffu, bi, o), bv, bi);
  __shared__ float sv[ARGMAX_THREADS / WARP];
  __shared__ int si[ARGMAX_THREADS / WARP];
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  if (lane == 0) sv[warp] = bv, si[warp] = bi;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < ARGMAX_THREADS / WARP; w++) argmax_take(sv[w], si[w], sv[0], si[0]);
    out[blockIdx.x] = si[0] == INT_MAX ? 0 : si[0];  // every value NaN: column 0, as on the CPU
    if (nonfinite) nonfinite[blockIdx.x] = bad ? 1 : 0;
  }
}

inline void argmax_rows_forward(int32_t *out, int32_t *nonfinite, const float *x, int rows, int V, cudaStream_t stream) {
  argmax_rows_kernel<<<rows, ARGMAX_THREADS, 0, stream>>>(out, nonfinite, x, V);
  CUDA_CHECK_LAUNCH("argmax_rows_kernel");
}

}  // namespace cuda
}  // namespace vl
