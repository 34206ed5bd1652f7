// rmsnorm.cuh: RMSNorm of the F32 residual stream (every layer's two norms and the final norm).
//
// defines: rmsnorm_kernel, rmsnorm_forward
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

// out (T, H) = x / sqrt(mean(x^2) + eps) * weight; x (T, H) F32, weight (1, H) in the weight dtype,
// out in any dtype (the activation dtype before a matmul, F32 for the final norm if the core wants).
// One block per row; the sum of squares is reduced in fp32 with warp shuffles, then the row is read a
// second time (from L1/L2: a 4096-float row is 16 KiB).
// Launched with PDL (common.cuh).
template <typename TW, typename TO>
__global__ void rmsnorm_kernel(TO *out, const float *x, const TW *w, int H, float eps) {
  __shared__ float scratch[32];
  pdl_wait();
  pdl_launch_dependents();
  const float *xr = x + size_t(blockIdx.x) * H;
  TO *orow = out + size_t(blockIdx.x) * H;
  float ss = 0.f;
  for (int h = threadIdx.x; h < H; h += blockDim.x) {
    const float v = xr[h];
    ss = fmaf(v, v, ss);
  }
  ss = block_sum(ss, scratch);
  const float inv = 1.0f / sqrtf(ss / float(H) + eps);
  for (int h = threadIdx.x; h < H; h += blockDim.x) orow[h] = from_f32<TO>(xr[h] * inv * to_f32(w[h]));
}

inline void rmsnorm_forward(void *out, DType out_dtype, const float *x, const void *w, DType w_dtype, int T, int H,
                            float eps, bool pdl, cudaStream_t stream) {
  if (T == 0 || H == 0) return;
  // About four elements per thread: a decode step (T = 1) is one block, so its latency is what counts.
  int threads = int(ceil_div(H, 4 * WARP)) * WARP;
  threads = threads < WARP ? WARP : (threads > 1024 ? 1024 : threads);
  VL_DISPATCH_DTYPE(w_dtype, TW, {
    VL_DISPATCH_DTYPE(out_dtype, TO, {
      check(launch_kernel(pdl, rmsnorm_kernel<TW, TO>, dim3(unsigned(T)), dim3(unsigned(threads)), stream,
                          static_cast<TO *>(out), x, static_cast<const TW *>(w), H, eps),
            "rmsnorm_kernel launch", __FILE__, __LINE__);
    });
  });
}

}  // namespace cuda
}  // namespace vl
