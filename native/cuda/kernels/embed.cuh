// embed.cuh: token embedding gather.
//
// defines: embed_kernel, embed_forward
#pragma once
#include "common.cuh"

namespace vl {
namespace cuda {

// out (T, H) F32 = table[ids[t]]; table (V, H) in the weight dtype; ids (T) on the device.
// One block per token. An id outside [0, V) writes a row of NaN instead of reading out of bounds:
// the core validates ids, and a NaN row makes a missed check visible in the logits without killing
// the CUDA context with an illegal address.
template <typename TT>
__global__ void embed_kernel(float *out, const TT *table, const int32_t *ids, int V, int H) {
  const int t = blockIdx.x;
  const int id = ids[t];
  float *o = out + size_t(t) * H;
  if (id < 0 || id >= V) {
    for (int h = threadIdx.x; h < H; h += blockDim.x) o[h] = __int_as_float(0x7fc00000);
    return;
  }
  const TT *row = table + size_t(id) * H;
  for (int h = threadIdx.x; h < H; h += blockDim.x) o[h] = to_f32(row[h]);
}

inline void embed_forward(float *out, const void *table, DType table_dtype, const int32_t *ids, int T, int V, int H,
                          cudaStream_t stream) {
  if (T == 0 || H == 0) return;
  VL_DISPATCH_DTYPE(table_dtype, TT, {
    embed_kernel<TT><<<T, 256, 0, stream>>>(out, static_cast<const TT *>(table), ids, V, H);
    CUDA_CHECK_LAUNCH("embed_kernel");
  });
}

}  // namespace cuda
}  // namespace vl
