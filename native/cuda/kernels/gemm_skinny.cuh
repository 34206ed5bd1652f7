// gemm_skinny.cuh: the batched decode GEMM, out (T, N) = x (T, K) . w (N, K)^T (+ out) for a few
// tokens (SKINNY_MIN_T <= T <= SKINNY_MAX_T: one decode token of each of T sessions), on tensor cores,
// each weight byte read once with 16-byte streaming loads straight into mma fragments.
//
// defines: SKINNY_MIN_T, SKINNY_MAX_T, skinny_ok, gemm_skinny_kernel, gemm_skinny_forward
//
// Why not cuBLAS: at T = 2..8 the weights are the whole cost (the GEMM does 2T flops per weight byte
// pair, far below the tensor cores' balance point), and cuBLAS's tiles read them at well under the
// HBM rate. Why not the GEMV (gemv.cuh): it does T fp32 FMAs per weight element on the CUDA cores and
// reads T input values per weight from L1/L2, which caps it at T of about 4.
//
// mma.m16n8k16 with the weights as A (16 output features x 16 k) and x as B (16 k x 8 tokens). A sum
// over k does not care in which order k comes, so A and B use the same permutation of k inside each
// 64-element chunk, chosen so that every lane's fragments come from two 16-byte loads: lane
// (g = lane / 4, c = lane % 4) loads elements [8c, 8c + 8) and [32 + 8c, 32 + 8c + 8) of the chunk
// (each load instruction of the warp reads 64 contiguous bytes of 8 rows: whole sectors) of weight
// rows g and g + 8, and of x row g of each 8-token tile. Call those 16 elements the lane's 8 32-bit
// words; at k-step s (0..3) of the chunk, words 2s and 2s + 1 are the fragment registers: logical
// k {2c, 2c+1} is the element pair of word 2s and logical k {2c+8, 2c+9} that of word 2s + 1, for A
// and B alike, so the products pair up exactly as in the unpermuted GEMM (every element of the chunk
// is used once per k-step set). No shared memory, no ldmatrix.
//
// Work split: a block of SK_WARPS warps owns 16 MT output features (MT m16 tiles, 1 or 2) for all T
// tokens (NT = ceil(T / 8) n8 tiles); warp w takes chunks w, w + SK_WARPS, ... of K, two at a time
// (all their loads issued before the first mma; the first two's weight loads before the kernel waits
// for the one before it). The warps' fp32 partial sums then meet in shared memory
// and the block's threads add them and store (the dtype conversion, accumulate, bounds of T and N).
// Rows past N and tokens past T are clamped loads whose results are never stored.
#pragma once
#include <type_traits>

#include "common.cuh"

namespace vl {
namespace cuda {

// The T range from the H200 (test-backend-ops --perf-batch, the 7B layer's seven GEMMs, one run): 16
// rows a block read the weights at 79 / 78 / 77 % of the d2d rate at T = 2 / 4 / 8, where the GEMV
// gets 65 / 51 / 26 %; at T = 16 and 32 cuBLAS gets 68 and 67 % against 63 and 49 %.
constexpr int SKINNY_MIN_T = 2;
constexpr int SKINNY_MAX_T = 8;
constexpr int SK_WARPS = 8;
constexpr int SK_CHUNK = 64;   // k elements per chunk (4 mma k-steps)

// True when gemm_skinny_forward takes out = x . w^T: x and w of one 2-byte dtype, K a multiple of 64,
// rows 16-byte aligned.
inline bool skinny_ok(DType x_dtype, DType w_dtype, int T, int K, const void *x, const void *w) {
  return T >= SKINNY_MIN_T && T <= SKINNY_MAX_T && x_dtype == w_dtype && w_dtype != DType::F32 &&
         K % SK_CHUNK == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

// Word i (a compile-time constant after unrolling) of a 16-byte register vector.
__device__ __forceinline__ uint32_t word_of(const uint4 &v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

// out (T, N) of out_dtype; x (T, K), w (N, K) of TW. NT: 8-token tiles (T <= 8 NT).
template <typename TW, int NT, int MT>
__global__ void __launch_bounds__(SK_WARPS *WARP) gemm_skinny_kernel(void *out, DType out_dtype, int accumulate,
                                                                     const TW *x, const TW *w, int T, int N, int K) {
  constexpr int VALS = MT * NT * 4 * WARP;  // one warp's accumulators
  __shared__ float partial[SK_WARPS][VALS];

  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int g = lane / 4, c = lane % 4;
  const int row0 = blockIdx.x * 16 * MT;
  const int n_chunks = K / SK_CHUNK;

  // This lane's weight rows (g and g + 8 of each m tile) and x rows (g of each n tile), clamped.
  const TW *wr[MT][2];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int h = 0; h < 2; h++) wr[mt][h] = w + size_t(min(row0 + mt * 16 + h * 8 + g, N - 1)) * K + 8 * c;
  const TW *xr[NT];

  float acc[MT][NT][4];
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[mt][nt][e] = 0.f;

  // The weights of chunks ch and ch2 (ch2 = ch + SK_WARPS where it exists, else ch again).
  uint4 wa[2][MT][2][2];
  const auto load_weights = [&](int ch) {
    const int ch2 = ch + SK_WARPS < n_chunks ? ch + SK_WARPS : ch;
#pragma unroll
    for (int u = 0; u < 2; u++) {
      const size_t off = size_t(u == 0 ? ch : ch2) * SK_CHUNK;
#pragma unroll
      for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          wa[u][mt][h][0] = ld16<true>(reinterpret_cast<const uint4 *>(wr[mt][h] + off));
          wa[u][mt][h][1] = ld16<true>(reinterpret_cast<const uint4 *>(wr[mt][h] + off + 32));
        }
    }
  };
  // The first chunks' weights are asked for before the wait (a step never writes weights), so that
  // they come in while the kernel before finishes, as the GEMV's do (gemv.cuh).
  if (warp < n_chunks) load_weights(warp);
  pdl_wait();  // x and out come from the kernels before (common.cuh)
  pdl_launch_dependents();
#pragma unroll
  for (int nt = 0; nt < NT; nt++) xr[nt] = x + size_t(min(nt * 8 + g, T - 1)) * K + 8 * c;

  for (int ch = warp; ch < n_chunks; ch += 2 * SK_WARPS) {
    const int ch2 = ch + SK_WARPS;
    const bool two = ch2 < n_chunks;
    if (ch != warp) load_weights(ch);  // the first ones came before the wait
    uint4 xb[2][NT][2];
#pragma unroll
    for (int u = 0; u < 2; u++) {
      const size_t off = size_t(u == 0 ? ch : (two ? ch2 : ch)) * SK_CHUNK;
#pragma unroll
      for (int nt = 0; nt < NT; nt++) {
        xb[u][nt][0] = ld16<false>(reinterpret_cast<const uint4 *>(xr[nt] + off));
        xb[u][nt][1] = ld16<false>(reinterpret_cast<const uint4 *>(xr[nt] + off + 32));
      }
    }
#pragma unroll
    for (int u = 0; u < 2; u++) {
      if (u == 1 && !two) break;
#pragma unroll
      for (int s = 0; s < 4; s++) {
        // Words 2s, 2s + 1 of the lane's 16 elements: vector s / 2, components (2s) % 4 and + 1.
        const int q = s / 2, e0 = (2 * s) % 4;
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
          const uint32_t b0 = word_of(xb[u][nt][q], e0), b1 = word_of(xb[u][nt][q], e0 + 1);
#pragma unroll
          for (int mt = 0; mt < MT; mt++) {
            const uint4 &lo = wa[u][mt][0][q], &hi = wa[u][mt][1][q];  // rows g and g + 8
            const uint32_t a[4] = {word_of(lo, e0), word_of(hi, e0), word_of(lo, e0 + 1), word_of(hi, e0 + 1)};
            mma_16816<TW>(acc[mt][nt], a, b0, b1);
          }
        }
      }
    }
  }

  // Accumulator e of tile (mt, nt): feature row0 + 16 mt + g + 8 (e / 2), token 8 nt + 2c + e % 2.
#pragma unroll
  for (int mt = 0; mt < MT; mt++)
#pragma unroll
    for (int nt = 0; nt < NT; nt++)
#pragma unroll
      for (int e = 0; e < 4; e++) partial[warp][((mt * NT + nt) * 4 + e) * WARP + lane] = acc[mt][nt][e];
  __syncthreads();
  for (int v = threadIdx.x; v < VALS; v += SK_WARPS * WARP) {
    float sum = 0.f;
#pragma unroll
    for (int ww = 0; ww < SK_WARPS; ww++) sum += partial[ww][v];
    const int ln = v % WARP, e = (v / WARP) % 4, tile = v / (4 * WARP);
    const int mt = tile / NT, nt = tile % NT;
    const int n = row0 + mt * 16 + ln / 4 + 8 * (e / 2), t = nt * 8 + 2 * (ln % 4) + e % 2;
    if (n < N && t < T) {
      const size_t i = size_t(t) * N + n;
      store_any(out, out_dtype, i, accumulate ? load_any(out, out_dtype, i) + sum : sum);
    }
  }
}

template <typename TW, int NT, int MT>
inline void gemm_skinny_launch(void *out, DType out_dtype, bool accumulate, const void *x, const void *w, int T,
                               int N, int K, bool pdl, cudaStream_t stream) {
  const dim3 grid(unsigned(ceil_div(N, 16 * MT)));
  check(launch_kernel(pdl, gemm_skinny_kernel<TW, NT, MT>, grid, dim3(SK_WARPS * WARP), stream, out, out_dtype,
                      accumulate ? 1 : 0, static_cast<const TW *>(x), static_cast<const TW *>(w), T, N, K),
        "gemm_skinny_kernel launch", __FILE__, __LINE__);
}

// The caller has checked skinny_ok(). w_dtype is x's too. 16 output features per block (one m tile:
// twice the blocks in the grid of two tiles a block, which read each x fragment for both).
inline void gemm_skinny_forward(void *out, DType out_dtype, bool accumulate, const void *x, const void *w,
                                DType w_dtype, int T, int N, int K, bool pdl, cudaStream_t stream) {
  // One 8-token tile covers SKINNY_MAX_T (the kernel takes NT tiles: 2 to 4 were measured, slower than cuBLAS).
  static_assert(SKINNY_MAX_T <= 8, "gemm_skinny_forward launches one 8-token tile");
  if (w_dtype == DType::F16) gemm_skinny_launch<__half, 1, 1>(out, out_dtype, accumulate, x, w, T, N, K, pdl, stream);
  else gemm_skinny_launch<__nv_bfloat16, 1, 1>(out, out_dtype, accumulate, x, w, T, N, K, pdl, stream);
}

}  // namespace cuda
}  // namespace vl
