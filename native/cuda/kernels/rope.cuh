// rope.cuh: rotary position embedding, HuggingFace's rotate-half convention, in place.
//
// defines: rope_kernel, rope_forward
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

}  // namespace cuda
}  // namespace vl
