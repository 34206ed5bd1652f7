// gemm_tuner.cu: see gemm_tuner.h.
#include "gemm_tuner.h"

#include <algorithm>

#include "cuda_check.h"

namespace vl {
namespace cuda {
namespace {

size_t type_bytes(cudaDataType_t t) { return t == CUDA_R_32F ? 4 : 2; }

// The largest power of two (at most 256) dividing the address, the leading dimension's bytes and the
// batch stride's: what the heuristic may assume of a matrix (its MIN_ALIGNMENT preferences).
uint32_t alignment(const void *p, int64_t ld, int64_t stride, cudaDataType_t t) {
  const uint64_t v = reinterpret_cast<uintptr_t>(p) | (uint64_t(ld) | uint64_t(stride)) * type_bytes(t) | 256;
  return uint32_t(v & (~v + 1));
}

// T rounded up to a power of two, at least 16 (see gemm_tuner.h).
int bucket(int T) {
  int b = 16;
  while (b < T) b *= 2;
  return b;
}

// A matrix layout, batch matrices `stride` elements apart (batch 1: one matrix).
struct Layout {
  cublasLtMatrixLayout_t h = nullptr;
  Layout(cudaDataType_t t, uint64_t rows, uint64_t cols, int64_t ld, int32_t batch, int64_t stride) {
    const Cublas &cb = cublas();
    CUBLAS_CHECK(cb.LtMatrixLayoutCreate(&h, t, rows, cols, ld));
    if (batch > 1) {
      CUBLAS_CHECK(cb.LtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
      CUBLAS_CHECK(cb.LtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof stride));
    }
  }
  ~Layout() {
    if (h) (void)cublas().LtMatrixLayoutDestroy(h);
  }
  Layout(const Layout &) = delete;
  Layout &operator=(const Layout &) = delete;
};

// cudaEvent_t that is destroyed with its scope.
struct Event {
  cudaEvent_t e = nullptr;
  Event() { CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() {
    if (e) (void)cudaEventDestroy(e);
  }
  Event(const Event &) = delete;
  Event &operator=(const Event &) = delete;
};

}  // namespace

bool GemmTuner::init(void *workspace, size_t workspace_bytes, std::string *why) {
  const Cublas &cb = cublas();
  if (!cb.lt_loaded) {
    *why = "cuBLASLt functions not found";
    return false;
  }
  const cublasStatus_t st = cb.LtCreate(&lt_);
  if (st != CUBLAS_STATUS_SUCCESS) {
    lt_ = nullptr;
    *why = "cublasLtCreate: " + cublas_status_text(st);
    return false;
  }
  ws_ = workspace;
  ws_bytes_ = workspace_bytes;
  return true;
}

GemmTuner::~GemmTuner() {
  const Cublas &cb = cublas();
  for (auto &kv : plans_)
    if (kv.second.desc) (void)cb.LtMatmulDescDestroy(kv.second.desc);
  if (lt_) (void)cb.LtDestroy(lt_);
}

GemmTuner::Plan &GemmTuner::plan(const Key &key, const LtGemm &g, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b,
                                 cublasLtMatrixLayout_t c) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second;
  const Cublas &cb = cublas();
  Plan p;
  CUBLAS_CHECK(cb.LtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  try {
    const int32_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    CUBLAS_CHECK(cb.LtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    CUBLAS_CHECK(cb.LtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    cublasLtMatmulPreference_t pref = nullptr;
    CUBLAS_CHECK(cb.LtMatmulPreferenceCreate(&pref));
    const uint64_t ws = ws_bytes_;
    const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    const uint32_t al[4] = {alignment(g.A, g.K, g.stride_a, g.ab_type), alignment(g.B, g.K, 0, g.ab_type), alignment(g.C, g.N, g.stride_c, g.c_type),
                            alignment(g.C, g.N, g.stride_c, g.c_type)};
    cublasStatus_t st = cb.LtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == CUBLAS_STATUS_SUCCESS)
      st = cb.LtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, sizeof reduction);
    const cublasLtMatmulPreferenceAttributes_t align_attrs[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
      st = cb.LtMatmulPreferenceSetAttribute(pref, align_attrs[i], &al[i], sizeof al[i]);
    // NOT_SUPPORTED from the heuristic: no Lt algo for this shape (n_candidates stays 0: GemmEx runs it).
    if (st == CUBLAS_STATUS_SUCCESS) {
      st = cb.LtMatmulAlgoGetHeuristic(lt_, p.desc, a, b, c, c, pref, 8, p.candidates, &p.n_candidates);
      if (st == CUBLAS_STATUS_NOT_SUPPORTED) st = CUBLAS_STATUS_SUCCESS, p.n_candidates = 0;
    }
    (void)cb.LtMatmulPreferenceDestroy(pref);
    CUBLAS_CHECK(st);
    // Keep the candidates that say they run, in the heuristic's order.
    int kept = 0;
    for (int i = 0; i < p.n_candidates; i++)
      if (p.candidates[i].state == CUBLAS_STATUS_SUCCESS && p.candidates[i].workspaceSize <= ws_bytes_) p.candidates[kept++] = p.candidates[i];
    p.n_candidates = kept;
  } catch (...) {
    (void)cb.LtMatmulDescDestroy(p.desc);
    throw;
  }
  return plans_.emplace(key, p).first->second;
}

void GemmTuner::time_candidates(Plan &p, const LtGemm &g, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cudaStream_t s) {
  const Cublas &cb = cublas();
  // Into a scratch C of the same shape, its batch back to back (with beta = 1 it accumulates garbage:
  // only the time counts).
  const int64_t each = int64_t(g.N) * g.T;
  const Layout sc(g.c_type, uint64_t(g.N), uint64_t(g.T), g.N, g.batch, each);
  const cublasLtMatrixLayout_t c = sc.h;
  // Each run starts from a cold L2, as in a step (a layer's weights were last read a step, gigabytes,
  // ago): twice the L2 is written between runs, outside the timed region. Without it the weights of a
  // 4096 x 4096 GEMM (32 MiB) stay in the H200's 50 MiB L2 and the timing favours other algos.
  int device = 0, l2 = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  const size_t c_bytes = size_t(each) * size_t(g.batch) * type_bytes(g.c_type), flush_bytes = 2 * size_t(l2);
  // Outside the VRAM budget and briefly (about 2 x L2 + one C): where the device has no room for it, the
  // shape keeps the heuristic's first candidate rather than failing the step that met it.
  void *scratch = nullptr;
  if (cudaMalloc(&scratch, c_bytes + flush_bytes) != cudaSuccess) {
    (void)cudaGetLastError();  // an allocation failure is not sticky
    p.best = 0;
    p.timed = true;
    return;
  }
  float best_ms = -1.f;
  try {
    Event start, stop;
    const float alpha = 1.f;
    for (int i = 0; i < p.n_candidates; i++) {
      auto once = [&] {
        return cb.LtMatmul(lt_, p.desc, &alpha, g.A, a, g.B, b, &g.beta, scratch, c, scratch, c, &p.candidates[i].algo, ws_,
                           ws_bytes_, s);
      };
      if (once() != CUBLAS_STATUS_SUCCESS) {  // refused at this T: not a candidate
        (void)cudaGetLastError();
        continue;
      }
      float ms = 0.f;
      for (int r = 0; r < kTimedRuns; r++) {
        CUDA_CHECK(cudaMemsetAsync(static_cast<char *>(scratch) + c_bytes, r, flush_bytes, s));
        CUDA_CHECK(cudaEventRecord(start.e, s));
        CUBLAS_CHECK(once());
        CUDA_CHECK(cudaEventRecord(stop.e, s));
        CUDA_CHECK(cudaEventSynchronize(stop.e));
        float one = 0.f;
        CUDA_CHECK(cudaEventElapsedTime(&one, start.e, stop.e));
        ms += one;
      }
      if (best_ms < 0.f || ms < best_ms) best_ms = ms, p.best = i;
    }
  } catch (...) {
    (void)cudaFree(scratch);
    throw;
  }
  CUDA_CHECK(cudaFree(scratch));
  if (best_ms < 0.f) p.n_candidates = 0;  // none ran: GemmEx from now on
  p.timed = true;
}

bool GemmTuner::run(const LtGemm &g, cudaStream_t s) {
  if (g.T > kMaxTunedTokens) return false;  // GemmEx's guess (see gemm_tuner.h)
  const Layout a(g.ab_type, uint64_t(g.K), uint64_t(g.N), g.K, g.batch, g.stride_a),
      b(g.ab_type, uint64_t(g.K), uint64_t(g.T), g.K, g.batch, 0), c(g.c_type, uint64_t(g.N), uint64_t(g.T), g.N, g.batch, g.stride_c);
  const Key key{g.N,
                g.K,
                bucket(g.T),
                int(g.ab_type),
                int(g.c_type),
                g.beta != 0.f,
                int(alignment(g.A, g.K, g.stride_a, g.ab_type)),
                int(alignment(g.B, g.K, 0, g.ab_type)),
                int(alignment(g.C, g.N, g.stride_c, g.c_type)),
                g.batch};
  Plan &p = plan(key, g, a.h, b.h, c.h);
  if (!p.timed && p.n_candidates > 1) {
    cudaStreamCaptureStatus capturing = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(s, &capturing));
    if (capturing == cudaStreamCaptureStatusNone) time_candidates(p, g, a.h, b.h, s);
  }
  if (p.n_candidates == 0) return false;
  const float alpha = 1.f;
  const cublasStatus_t st = cublas().LtMatmul(lt_, p.desc, &alpha, g.A, a.h, g.B, b.h, &g.beta, g.C, c.h, g.C, c.h,
                                              &p.candidates[p.best].algo, ws_, ws_bytes_, s);
  if (st == CUBLAS_STATUS_SUCCESS) return true;
  // This T of the bucket cannot take its algo (checked before any launch): GemmEx runs it.
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
    (void)cudaGetLastError();
    return false;
  }
  CUBLAS_CHECK(st);
  return false;
}

}  // namespace cuda
}  // namespace vl
