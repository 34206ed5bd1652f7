// gemm_tuner.h: the cuBLAS GEMMs of T > 8 tokens through cuBLASLt, each shape with the fastest of
// Lt's heuristic candidates, timed once on the device.
//
// defines: vl::cuda::LtGemm, vl::cuda::GemmTuner
//
// Why: cublasGemmEx runs Lt's first heuristic guess. For the batched decode's skinny GEMMs (T = 16..128
// tokens against 4096 x 12288 or 22016 x 4096 weights) that guess read the weights at 74 % of the d2d
// rate on the H200 (bench/results/logs/perf-batch-h200.txt), where the GEMV gets 82 % at T = 1. The
// other candidates (tile shapes, split-K) are timed once per shape; the winner is kept.
//
// Shapes are keyed by N, K, the types, beta and the operands' alignment, and by T rounded up to a
// power of two (at least 16): a scheduler's steps run every T from 9 to a few hundred, and timing each
// one would stall a step each time. A bucket is timed at the first T that reaches it, and its algo runs
// every T of it (cuBLASLt refuses an algo that cannot; that call then goes through GemmEx).
// Off unless VRAMLAB_CUDA_GEMM_TUNE=1: an A/B tool. On the H200, one run each way with every bucket up
// to 128 tuned (bench/results/logs/batch-decode-{all-buckets-tuned,untuned}-h200.json), tuning took the
// 7B step from 5.86 to 5.72 ms at batch 16 and changed nothing measurable at 32 and 64 (7.04 / 7.06,
// 8.80 / 8.82 ms) or 128 (13.66 / 13.56). Timing a new bucket stalls the step that meets it: 8
// candidates x kTimedRuns synchronised runs, each after an L2 flush, and a scratch allocation, for each
// of the layer's five GEMM shapes: tens of milliseconds, more at T = 512..1024 (a scheduler's steps with
// many appended prompts), where the GEMMs are compute-bound and GemmEx's guess is sound; hence only
// T <= kMaxTunedTokens is tuned. The two 32-agent runs with the tuner on missed the reason and
// time-to-first-token P99 targets (407 / 54 ms, 462 / 104 ms: bench/results/logs/agents-h200-all-buckets-tuned.json
// and bench/results/agents.json), where the runs before it had a reason P99 of 364 ms (commit e20d094):
// for a gain at batch 16 alone it is not the default.
// Inside a stream capture nothing is timed: the first candidate runs, and the shape is timed when it
// next runs outside one (the engine runs every batch size once eagerly before it records its graph).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "cublas_loader.h"

namespace vl {
namespace cuda {

// C (N x T column-major, ld N) = alpha * A^T B + beta * C: A = w stored (K x N, ld K), B = x stored
// (K x T, ld K), the "TN" GEMM of gemm_cublas. A and B share ab_type. batch 2: a second GEMM of the same
// x with A + stride_a into C + stride_c (elements), in the same launch (matmul_pair).
struct LtGemm {
  int N = 0, T = 0, K = 0;
  const void *A = nullptr, *B = nullptr;
  void *C = nullptr;
  cudaDataType_t ab_type = CUDA_R_16F, c_type = CUDA_R_16F;
  float beta = 0.f;
  int batch = 1;
  int64_t stride_a = 0, stride_c = 0;
};

class GemmTuner {
 public:
  static constexpr int kMaxTunedTokens = 64;  // larger T run GemmEx's guess (run returns false)
  static constexpr int kTimedRuns = 3;        // timed runs of each candidate
  // Creates the Lt handle. Returns false (and why) when cuBLASLt is missing or fails to start.
  bool init(void *workspace, size_t workspace_bytes, std::string *why);
  ~GemmTuner();

  // Runs g on s with its shape's algo (timing the candidates first when the shape is new and s is not
  // capturing). Returns false when no Lt algo takes it: the caller runs GemmEx instead. Throws
  // vl::Error on a CUDA or cuBLASLt failure.
  bool run(const LtGemm &g, cudaStream_t s);

 private:
  struct Plan {
    cublasLtMatmulDesc_t desc = nullptr;
    cublasLtMatmulHeuristicResult_t candidates[8] = {};
    int n_candidates = 0;
    int best = 0;       // index into candidates
    bool timed = false;
  };
  using Key = std::tuple<int, int, int, int, int, bool, int, int, int, int>;  // N, K, bucket(T), ab, c, beta, alignments, batch
  Plan &plan(const Key &key, const LtGemm &g, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cublasLtMatrixLayout_t c);
  void time_candidates(Plan &p, const LtGemm &g, cublasLtMatrixLayout_t a, cublasLtMatrixLayout_t b, cudaStream_t s);

  cublasLtHandle_t lt_ = nullptr;
  void *ws_ = nullptr;
  size_t ws_bytes_ = 0;
  std::map<Key, Plan> plans_;
};

}  // namespace cuda
}  // namespace vl
