// cpu_kernels.cpp: straightforward fp32 kernels, parallel over rows with OpenMP (both cores of a
// CI machine), reading F16/BF16/F32 inputs and writing any dtype.
#include "cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace vl::cpu {

namespace {

// All 65536 F16 values as floats (256 KiB, stays in L2): weight rows are converted on every use, and
// the bit-twiddling conversion would dominate a decode step.
const std::vector<float> &f16_table() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t h = 0; h < 65536; h++) t[h] = f16_to_f32(uint16_t(h));
    return t;
  }();
  return table;
}

// Row r of t as floats: a pointer into t when it is F32, else converted into scratch.
const float *row_f32(const Tensor &t, int64_t r, std::vector<float> &scratch) {
  if (t.dtype == DType::F32) return static_cast<const float *>(t.data) + r * t.cols;
  scratch.resize(size_t(t.cols));
  const uint16_t *src = static_cast<const uint16_t *>(t.data) + r * t.cols;
  if (t.dtype == DType::F16) {
    const float *table = f16_table().data();
    for (int64_t c = 0; c < t.cols; c++) scratch[size_t(c)] = table[src[c]];
  } else {
    for (int64_t c = 0; c < t.cols; c++) scratch[size_t(c)] = bf16_to_f32(src[c]);
  }
  return scratch.data();
}

// Below this many multiply-adds a parallel region costs more than it saves.
constexpr int64_t kParallelWork = int64_t(1) << 18;

float dot(const float *a, const float *b, int64_t n) {
  float acc = 0.f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
  return acc;
}

}  // namespace

void embed(Tensor out, Tensor table, const int32_t *ids) {
#pragma omp parallel for schedule(static) if (out.rows * out.cols > kParallelWork)
  for (int64_t t = 0; t < out.rows; t++) {
    size_t src = size_t(ids[t]) * size_t(table.cols);
    for (int64_t c = 0; c < out.cols; c++)
      store_f32(out.data, out.dtype, size_t(t * out.cols + c), load_f32(table.data, table.dtype, src + size_t(c)));
  }
}

void rmsnorm(Tensor out, Tensor x, Tensor weight, float eps) {
  // As transformers' LlamaRMSNorm in fp32: x * rsqrt(mean(x^2) + eps) * weight.
#pragma omp parallel for schedule(static) if (x.rows * x.cols > kParallelWork)
  for (int64_t t = 0; t < x.rows; t++) {
    std::vector<float> scratch;
    const float *xr = row_f32(x, t, scratch);
    float ss = 0.f;
    for (int64_t c = 0; c < x.cols; c++) ss += xr[c] * xr[c];
    float inv = 1.0f / std::sqrt(ss / float(x.cols) + eps);
    for (int64_t c = 0; c < x.cols; c++)
      store_f32(out.data, out.dtype, size_t(t * out.cols + c), xr[c] * inv * load_f32(weight.data, weight.dtype, size_t(c)));
  }
}

void matmul(Tensor out, Tensor x, Tensor w, bool accumulate) {
  // x rows converted once; then each thread takes output columns n (weight rows), converting the
  // weight row once and using it for all T tokens. // x (T, K), w (N, K), out (T, N)
  std::vector<float> xf;
  const float *xs;
  if (x.dtype == DType::F32) {
    xs = static_cast<const float *>(x.data);
  } else {
    xf.resize(size_t(x.rows * x.cols));
    for (size_t i = 0; i < xf.size(); i++) xf[i] = load_f32(x.data, x.dtype, i);
    xs = xf.data();
  }
  const int64_t T = x.rows, K = x.cols, N = w.rows;
#pragma omp parallel if (T * K * N > kParallelWork)
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      const float *wr = row_f32(w, n, scratch);
      for (int64_t t = 0; t < T; t++) {
        float v = dot(xs + t * K, wr, K);
        size_t o = size_t(t * N + n);
        if (accumulate) v += load_f32(out.data, out.dtype, o);
        store_f32(out.data, out.dtype, o, v);
      }
    }
  }
}

void rope(Tensor x, int32_t head_dim, const int32_t *positions, const float *inv_freq) {
  // transformers computes the angle in fp32 as position * inv_freq, then cos/sin of it.
  const int64_t heads = x.cols / head_dim, half = head_dim / 2;
#pragma omp parallel for schedule(static) if (x.rows * x.cols > kParallelWork / 8)
  for (int64_t t = 0; t < x.rows; t++) {
    for (int64_t h = 0; h < heads; h++) {
      size_t base = size_t(t * x.cols + h * head_dim);
      for (int64_t i = 0; i < half; i++) {
        float angle = float(positions[t]) * inv_freq[i];
        float c = std::cos(angle), s = std::sin(angle);
        float x1 = load_f32(x.data, x.dtype, base + size_t(i));
        float x2 = load_f32(x.data, x.dtype, base + size_t(i + half));
        store_f32(x.data, x.dtype, base + size_t(i), x1 * c - x2 * s);
        store_f32(x.data, x.dtype, base + size_t(i + half), x2 * c + x1 * s);
      }
    }
  }
}

void kv_store(const KvLayout &kv, int32_t layer, Tensor k, Tensor v, const int32_t *slots) {
  for (int64_t t = 0; t < k.rows; t++) {
    int64_t block = slots[t] / kv.block_tokens, off = slots[t] % kv.block_tokens;
    size_t kdst = kv.elem_offset(block, layer, 0, off), vdst = kv.elem_offset(block, layer, 1, off);
    for (int64_t c = 0; c < k.cols; c++) {
      store_f32(kv.base, kv.dtype, kdst + size_t(c), load_f32(k.data, k.dtype, size_t(t * k.cols + c)));
      store_f32(kv.base, kv.dtype, vdst + size_t(c), load_f32(v.data, v.dtype, size_t(t * v.cols + c)));
    }
  }
}

void attention(Tensor out, Tensor q, const KvLayout &kv, int32_t layer, const int32_t *block_table, const int32_t *tables,
               const int32_t *positions, int32_t n_heads, int32_t n_kv_heads, int32_t head_dim, float scale) {
  // One (token, head) pair per iteration: scores over positions 0..pos, softmax, weighted V sum.
  const int64_t T = q.rows, group = n_heads / n_kv_heads;
  int64_t longest = 0;
  for (int64_t t = 0; t < T; t++) longest = std::max<int64_t>(longest, int64_t(positions[t]) + 1);
  const int64_t work = T * n_heads * head_dim * longest;
#pragma omp parallel if (work > kParallelWork)
  {
    const size_t hd = size_t(head_dim);
    std::vector<float> scores, qv(hd), acc(hd), kvrow(hd);
#pragma omp for schedule(dynamic, 1)
    for (int64_t th = 0; th < T * n_heads; th++) {
      const int64_t t = th / n_heads, h = th % n_heads, kvh = h / group;
      const int64_t ctx = int64_t(positions[t]) + 1;
      const int32_t *table = block_table + (tables ? tables[t] : 0);  // this query's sequence
      for (int64_t d = 0; d < head_dim; d++) qv[size_t(d)] = load_f32(q.data, q.dtype, size_t(t * q.cols + h * head_dim + d));
      scores.resize(size_t(ctx));
      float mx = -INFINITY;
      for (int64_t p = 0; p < ctx; p++) {
        size_t kofs = kv.elem_offset(table[p / kv.block_tokens], layer, 0, p % kv.block_tokens) + size_t(kvh * head_dim);
        for (int64_t d = 0; d < head_dim; d++) kvrow[size_t(d)] = load_f32(kv.base, kv.dtype, kofs + size_t(d));
        float s = dot(qv.data(), kvrow.data(), head_dim) * scale;
        scores[size_t(p)] = s;
        mx = std::fmax(mx, s);
      }
      float sum = 0.f;
      for (int64_t p = 0; p < ctx; p++) sum += (scores[size_t(p)] = std::exp(scores[size_t(p)] - mx));
      std::fill(acc.begin(), acc.end(), 0.f);
      for (int64_t p = 0; p < ctx; p++) {
        size_t vofs = kv.elem_offset(table[p / kv.block_tokens], layer, 1, p % kv.block_tokens) + size_t(kvh * head_dim);
        float wgt = scores[size_t(p)] / sum;
        for (int64_t d = 0; d < head_dim; d++) acc[size_t(d)] += wgt * load_f32(kv.base, kv.dtype, vofs + size_t(d));
      }
      for (int64_t d = 0; d < head_dim; d++) store_f32(out.data, out.dtype, size_t(t * out.cols + h * head_dim + d), acc[size_t(d)]);
    }
  }
}

void swiglu(Tensor out, Tensor gate, Tensor up) {
  const size_t n = size_t(out.rows * out.cols);
#pragma omp parallel for schedule(static) if (n > size_t(kParallelWork) / 8)
  for (size_t i = 0; i < n; i++) {
    float g = load_f32(gate.data, gate.dtype, i);
    store_f32(out.data, out.dtype, i, g / (1.f + std::exp(-g)) * load_f32(up.data, up.dtype, i));
  }
}

void scale_add_rows(Tensor x, float scale, const float *vec) {
  // x (T, H) F32 in place; vec (H) or null.
  float *xs = static_cast<float *>(x.data);
#pragma omp parallel for schedule(static) if (x.rows * x.cols > kParallelWork)
  for (int64_t t = 0; t < x.rows; t++) {
    float *row = xs + t * x.cols;
    for (int64_t c = 0; c < x.cols; c++) row[c] = row[c] * scale + (vec ? vec[c] : 0.f);
  }
}

void argmax_rows(int32_t *out, Tensor x, int32_t *nonfinite) {
  // x (T, V) F32; out (T): the first maximum, as torch.argmax; a NaN never wins (0 if all are NaN or
  // -inf), as in the CUDA kernel's reduction. nonfinite (T) or null: 1 for a row with a NaN or an inf.
  const float *xs = static_cast<const float *>(x.data);
  for (int64_t t = 0; t < x.rows; t++) {
    const float *row = xs + t * x.cols;
    float best = -INFINITY;
    int32_t at = 0;
    bool bad = false;
    for (int64_t c = 0; c < x.cols; c++) {
      if (row[c] > best) best = row[c], at = int32_t(c);
      bad = bad || !std::isfinite(row[c]);
    }
    out[t] = at;
    if (nonfinite) nonfinite[t] = bad ? 1 : 0;
  }
}

}  // namespace vl::cpu
