// cpu_kernels.h: the CPU backend's kernels, the fp32 reference every other backend is compared
// against. Shapes as in backend.h; all pointers are host memory (the CPU backend's "device").
#pragma once
#include "backend.h"

namespace vl::cpu {

void embed(Tensor out, Tensor table, const int32_t *ids);
void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps);
void matmul(Tensor out, Tensor x, Tensor w, bool accumulate);
void rope(Tensor x, int32_t head_dim, const int32_t *positions, const float *inv_freq);
void kv_store(const KvLayout &kv, int32_t layer, Tensor k, Tensor v, const int32_t *slots);
void attention(Tensor out, Tensor q, const KvLayout &kv, int32_t layer, const int32_t *block_table, const int32_t *tables,
               const int32_t *positions, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale);
void swiglu(Tensor out, Tensor gate, Tensor up);
void scale_add_rows(Tensor x, float scale, const float *vec);
void argmax_rows(int32_t *out, Tensor x, int32_t *nonfinite);

}  // namespace vl::cpu
