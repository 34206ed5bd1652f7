// gemm_skinny.cuh: the batched decode GEMM, out (T, N) = x (T, K) . w (N, K)^T (+ out) for a few
// tokens (SKINNY_MIN_T <= T <= SKINNY_MAX_T: one decode token of each of T sessions), on tensor cores,
// each weight byte read once with 16-byte streaming loads straight into mma fragments.
//
// defines: SKINNY_MIN_T, SKINNY_MAX_T, skinny_ok, gemm_skinny_kernel, gemm_skinny_forward,
//          SPLIT_MIN_T, SPLIT_MAX_T, skinny_split_ok, gemm_skinny_split_kernel, gemm_skinny_split_forward
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
// (all their loads issued before the first mma). The warps' fp32 partial sums then meet in shared memory
// and the block's threads add them and store (the dtype conversion, accumulate, bounds of T and N).
// Rows past N and tokens past T are clamped loads whose results are never stored.
#pragma once
#include <cooperative_groups.h>

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

  pdl_wait();  // x and out come from the kernels before (common.cuh)
  pdl_launch_dependents();
#pragma unroll
  for (int nt = 0; nt < NT; nt++) xr[nt] = x + size_t(min(nt * 8 + g, T - 1)) * K + 8 * c;

  for (int ch = warp; ch < n_chunks; ch += 2 * SK_WARPS) {
    const int ch2 = ch + SK_WARPS;
    const bool two = ch2 < n_chunks;
    uint4 wa[2][MT][2][2], xb[2][NT][2];
#pragma unroll
    for (int u = 0; u < 2; u++) {
      const size_t off = size_t(u == 0 ? ch : (two ? ch2 : ch)) * SK_CHUNK;
#pragma unroll
      for (int mt = 0; mt < MT; mt++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          wa[u][mt][h][0] = ld16<true>(reinterpret_cast<const uint4 *>(wr[mt][h] + off));
          wa[u][mt][h][1] = ld16<true>(reinterpret_cast<const uint4 *>(wr[mt][h] + off + 32));
        }
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

// The caller has checked skinny_ok(). w_dtype is x's too. rows: output features per block, 16 or 32
// (32 reads each x fragment for two weight tiles; 16 puts twice the blocks in the grid).
inline void gemm_skinny_forward(void *out, DType out_dtype, bool accumulate, const void *x, const void *w,
                                DType w_dtype, int T, int N, int K, int rows, bool pdl, cudaStream_t stream) {
  auto go = [&](auto tag, auto mt) {
    using TW = decltype(tag);
    constexpr int MT = decltype(mt)::value;
    // One 8-token tile covers SKINNY_MAX_T (the kernel takes NT tiles: 2 to 4 were measured, slower than cuBLAS).
    static_assert(SKINNY_MAX_T <= 8, "gemm_skinny_forward launches one 8-token tile");
    gemm_skinny_launch<TW, 1, MT>(out, out_dtype, accumulate, x, w, T, N, K, pdl, stream);
  };
  using One = std::integral_constant<int, 1>;
  using Two = std::integral_constant<int, 2>;
  if (w_dtype == DType::F16) rows == 16 ? go(__half{}, One{}) : go(__half{}, Two{});
  else rows == 16 ? go(__nv_bfloat16{}, One{}) : go(__nv_bfloat16{}, Two{});
}

// ---------------------------------------------------------------------------------------------------
// T = 9..32 (a batch of 9 to 32 decode tokens, or a short prompt chunk): the split kernel.
//
// Why another kernel: with T tokens the kernel above re-reads x (T, K) once per 16 or 32 output
// features, from L2: at T = 32 that is two bytes of x a weight byte, and it ran at 49 % of the d2d rate
// (cuBLAS 67 %). Here the 8 warps of a block own 16 features each (128 a block) over one K range, so
// they read the same x chunks at the same time and L1 serves all but the first; x traffic from L2 is
// T / 128 of the weights'. To keep every SM streaming, K is split S ways (2, 4 or 8) across the
// blocks of a thread block cluster (sm_90): each block sums its K range, the S partial (128, T) tiles
// meet in distributed shared memory, and block r of the cluster adds up the r-th S-th of the tile over
// the S blocks, in rank order (deterministic), and stores it. No workspace, no atomics, one launch.
//
// Fragments as above (the same k permutation inside each 64-element chunk). The weights stream one of
// two ways (PIPE), x is read a chunk and 8-token tile at a time just before its mmas:
//  - registers: a warp loads SPLIT_U chunks (64 bytes a lane each), then computes them. A first version
//    with 2 chunks (64 KiB in flight an SM at 2 blocks an SM) read the weights at 50 % of the d2d rate
//    at T = 32 on the H200, 72 % at T = 16 (3 blocks an SM), the skinny kernel 80 % (4): bandwidth in
//    step with the bytes in flight, which the registers cap.
//  - cp.async: each lane copies its own 64 bytes of a chunk into its own shared-memory slot (so no
//    lane waits for another), SPLIT_STAGES chunks ahead of the one computed; the first ones are issued
//    before pdl_wait (weights are no kernel's output), under the previous kernel's tail. 2 KiB a warp
//    a stage; the partial sums reuse the stages after the loop.
constexpr int SPLIT_MIN_T = SKINNY_MAX_T + 1;
constexpr int SPLIT_MAX_T = 32;
constexpr int SPLIT_WARPS = 8;
constexpr int SPLIT_ROWS = 16 * SPLIT_WARPS;  // output features a block
constexpr int SPLIT_U = 4;                    // registers: chunks a warp loads before computing them
constexpr int SPLIT_STAGES = 4;               // cp.async: chunks a warp has in shared memory
constexpr int SPLIT_STAGE_BYTES = WARP * 64;  // one warp's chunk: 16 rows x 64 elements x 2 bytes
// Dynamic shared memory of a block: the cp.async stages, or (registers) the partial sums alone.
template <bool PIPE, int NT> constexpr size_t split_smem_bytes() {
  return PIPE ? size_t(SPLIT_WARPS) * SPLIT_STAGES * SPLIT_STAGE_BYTES : size_t(SPLIT_WARPS) * NT * 4 * WARP * sizeof(float);
}

// True when gemm_skinny_split_forward takes out = x . w^T: what skinny_ok asks, T in 9..32, sm_90.
inline bool skinny_split_ok(DType x_dtype, DType w_dtype, int T, int K, const void *x, const void *w, int cc_major) {
  return T >= SPLIT_MIN_T && T <= SPLIT_MAX_T && cc_major >= 9 && x_dtype == w_dtype && w_dtype != DType::F32 &&
         K % SK_CHUNK == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(w) % 16 == 0;
}

// out (T, N) of out_dtype (+ out when accumulate); x (T, K), w (N, K) of TW; NT 8-token tiles (T <= 8 NT).
// Grid (ceil(N / 128), S), clusters of (1, S, 1): cluster rank r sums chunks [r C / S, (r + 1) C / S).
template <typename TW, int NT, bool PIPE>
__global__ void __launch_bounds__(SPLIT_WARPS *WARP, PIPE ? 3 : 2)
    gemm_skinny_split_kernel(void *out, DType out_dtype, int accumulate, const TW *x, const TW *w, int T, int N, int K) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  constexpr int VALS = NT * 4 * WARP;  // one warp's accumulators: 16 features x 8 NT tokens
  extern __shared__ __align__(16) unsigned char split_smem[];
  float *partial = reinterpret_cast<float *>(split_smem);  // (SPLIT_WARPS, VALS), after the loop
  cg::cluster_group cluster = cg::this_cluster();
  const int S = int(cluster.num_blocks()), rank = int(cluster.block_rank());

  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int g = lane / 4, c = lane % 4;
  const int row0 = blockIdx.x * SPLIT_ROWS + warp * 16;
  const int n_chunks = K / SK_CHUNK;
  const int c_begin = int(int64_t(rank) * n_chunks / S), c_end = int(int64_t(rank + 1) * n_chunks / S);
  const int mine = c_end - c_begin;

  // This lane's weight rows (g and g + 8 of the warp's 16) and x rows (g of each n tile), clamped.
  const TW *wr[2];
#pragma unroll
  for (int h = 0; h < 2; h++) wr[h] = w + size_t(min(row0 + h * 8 + g, N - 1)) * K + 8 * c;
  float acc[NT][4];
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) acc[nt][e] = 0.f;

  // The mmas of one chunk: wv = the lane's 16 weight elements (rows g, g + 8; elements 8c.. and 32 + 8c..).
  const TW *xr[NT];
  auto compute = [&](const uint4 (&wv)[2][2], size_t off) {
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      // x of this tile and chunk only now: few registers (an L1 hit but for the block's first warp).
      const uint4 xb[2] = {ld16<false>(reinterpret_cast<const uint4 *>(xr[nt] + off)),
                           ld16<false>(reinterpret_cast<const uint4 *>(xr[nt] + off + 32))};
#pragma unroll
      for (int s = 0; s < 4; s++) {
        const int q = s / 2, e0 = (2 * s) % 4;
        const uint4 &lo = wv[0][q], &hi = wv[1][q];
        const uint32_t a[4] = {word_of(lo, e0), word_of(hi, e0), word_of(lo, e0 + 1), word_of(hi, e0 + 1)};
        mma_16816<TW>(acc[nt], a, word_of(xb[q], e0), word_of(xb[q], e0 + 1));
      }
    }
  };

  if constexpr (PIPE) {
    // Stage p of this lane: 4 x 16 bytes at ((warp * STAGES + p) * 32 + lane) * 4 uint4, the 4 slots
    // XOR-swizzled by lane / 2 so that the 8 lanes of a 16-byte access phase hit 8 distinct bank groups.
    uint4 *mine_s = reinterpret_cast<uint4 *>(split_smem) + (size_t(warp) * SPLIT_STAGES * WARP + lane) * 4;
    const int sw = (lane >> 1) & 3;
    auto issue = [&](int i) {  // chunk c_begin + i into stage i % STAGES
      uint4 *st = mine_s + size_t(i % SPLIT_STAGES) * WARP * 4;
      const size_t off = size_t(c_begin + i) * SK_CHUNK;
#pragma unroll
      for (int j = 0; j < 4; j++) cp_async16(st + (j ^ sw), wr[j / 2] + off + 32 * (j % 2), true);
    };
#pragma unroll
    for (int i = 0; i < SPLIT_STAGES - 1; i++) {
      if (i < mine) issue(i);
      cp_async_commit();  // empty groups too: the wait below counts groups
    }
    pdl_wait();  // x and out come from the kernels before (common.cuh)
    pdl_launch_dependents();
#pragma unroll
    for (int nt = 0; nt < NT; nt++) xr[nt] = x + size_t(min(nt * 8 + g, T - 1)) * K + 8 * c;
    for (int i = 0; i < mine; i++) {
      // The stage refilled here was read (into registers the mmas consumed) one chunk ago.
      if (i + SPLIT_STAGES - 1 < mine) issue(i + SPLIT_STAGES - 1);
      cp_async_commit();
      cp_async_wait<SPLIT_STAGES - 1>();  // this lane's copies of chunk i have landed
      const uint4 *st = mine_s + size_t(i % SPLIT_STAGES) * WARP * 4;
      const uint4 wv[2][2] = {{st[0 ^ sw], st[1 ^ sw]}, {st[2 ^ sw], st[3 ^ sw]}};
      compute(wv, size_t(c_begin + i) * SK_CHUNK);
    }
    cp_async_wait<0>();
    __syncthreads();  // every warp done with its stages: they hold the partial sums now
  } else {
    pdl_wait();
    pdl_launch_dependents();
#pragma unroll
    for (int nt = 0; nt < NT; nt++) xr[nt] = x + size_t(min(nt * 8 + g, T - 1)) * K + 8 * c;
    for (int ch = c_begin; ch < c_end; ch += SPLIT_U) {
      uint4 wa[SPLIT_U][2][2];
#pragma unroll
      for (int u = 0; u < SPLIT_U; u++) {
        const size_t off = size_t(min(ch + u, c_end - 1)) * SK_CHUNK;  // past the range: a repeat, unused
#pragma unroll
        for (int h = 0; h < 2; h++) {
          wa[u][h][0] = ld16<true>(reinterpret_cast<const uint4 *>(wr[h] + off));
          wa[u][h][1] = ld16<true>(reinterpret_cast<const uint4 *>(wr[h] + off + 32));
        }
      }
#pragma unroll
      for (int u = 0; u < SPLIT_U; u++) {
        if (ch + u >= c_end) break;
        compute(wa[u], size_t(ch + u) * SK_CHUNK);
      }
    }
  }

  // Accumulator e of tile nt: feature row0 + g + 8 (e / 2), token 8 nt + 2c + e % 2.
#pragma unroll
  for (int nt = 0; nt < NT; nt++)
#pragma unroll
    for (int e = 0; e < 4; e++) partial[warp * VALS + (nt * 4 + e) * WARP + lane] = acc[nt][e];
  cluster.sync();  // every block's partial written, visible across the cluster
  constexpr int TOTAL = SPLIT_WARPS * VALS;
  const int per = TOTAL / S;  // S divides 8, which divides TOTAL
  for (int v = rank * per + int(threadIdx.x); v < (rank + 1) * per; v += SPLIT_WARPS * WARP) {
    float sum = 0.f;
    for (int r = 0; r < S; r++) sum += cluster.map_shared_rank(partial, r)[v];
    const int ww = v / VALS, rem = v % VALS;
    const int ln = rem % WARP, e = (rem / WARP) % 4, nt = rem / (4 * WARP);
    const int n = blockIdx.x * SPLIT_ROWS + ww * 16 + ln / 4 + 8 * (e / 2), t = nt * 8 + 2 * (ln % 4) + e % 2;
    if (n < N && t < T) {
      const size_t i = size_t(t) * N + n;
      store_any(out, out_dtype, i, accumulate ? load_any(out, out_dtype, i) + sum : sum);
    }
  }
  cluster.sync();  // no block leaves while another still reads its partial
#endif
}

// K split S ways: the largest of 8, 4, 2 whose blocks fill the GPU's block slots (`slots`: blocks of
// the kernel resident at once) best, in whole waves; at least one chunk a split.
inline int skinny_split_ways(int N, int K, int slots) {
  const int64_t tiles = ceil_div(N, SPLIT_ROWS);
  int best = 1;
  double best_fill = 0.0;
  for (int S : {8, 4, 2}) {
    if (K / SK_CHUNK < S) continue;
    const int64_t blocks = tiles * S, waves = ceil_div(blocks, std::max(slots, 1));
    const double fill = double(blocks) / double(waves * std::max(slots, 1));
    if (fill > best_fill + 1e-9) best = S, best_fill = fill;
  }
  return best;
}

template <typename TW, int NT, bool PIPE>
inline void gemm_skinny_split_launch(void *out, DType out_dtype, bool accumulate, const void *x, const void *w, int T,
                                     int N, int K, int S, bool pdl, cudaStream_t stream) {
  cudaLaunchAttribute attr[2];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = 1;
  attr[0].val.clusterDim.y = unsigned(S);
  attr[0].val.clusterDim.z = 1;
  attr[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[1].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(unsigned(ceil_div(N, SPLIT_ROWS)), unsigned(S));
  cfg.blockDim = dim3(SPLIT_WARPS * WARP);
  cfg.dynamicSmemBytes = split_smem_bytes<PIPE, NT>();
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl ? 2 : 1;
  check(cudaLaunchKernelEx(&cfg, gemm_skinny_split_kernel<TW, NT, PIPE>, out, out_dtype, accumulate ? 1 : 0,
                           static_cast<const TW *>(x), static_cast<const TW *>(w), T, N, K),
        "gemm_skinny_split_kernel launch", __FILE__, __LINE__);
}

// Calls f(kernel, dynamic shared memory bytes) for every instantiation gemm_skinny_split_forward launches.
template <typename F> inline void for_each_split_kernel(F &&f) {
  auto both = [&](auto tag) {
    using TW = decltype(tag);
    f(gemm_skinny_split_kernel<TW, 2, true>, split_smem_bytes<true, 2>());
    f(gemm_skinny_split_kernel<TW, 3, true>, split_smem_bytes<true, 3>());
    f(gemm_skinny_split_kernel<TW, 4, true>, split_smem_bytes<true, 4>());
    f(gemm_skinny_split_kernel<TW, 2, false>, split_smem_bytes<false, 2>());
    f(gemm_skinny_split_kernel<TW, 3, false>, split_smem_bytes<false, 3>());
    f(gemm_skinny_split_kernel<TW, 4, false>, split_smem_bytes<false, 4>());
  };
  both(__half{});
  both(__nv_bfloat16{});
}

// Once per device, before any launch: lets the kernels have their dynamic shared memory (over the 48
// KiB default) and the largest carveout. Returns the split kernel's blocks resident at once on the
// device (SMs x blocks an SM, the fewest of its instantiations of `pipe`), for skinny_split_ways.
inline int skinny_split_configure(int sms, bool pipe) {
  cudaError_t err = cudaSuccess;
  for_each_split_kernel([&](auto kernel, size_t smem) {
    const void *k = reinterpret_cast<const void *>(kernel);
    if (err == cudaSuccess) err = cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, int(smem));
    if (err == cudaSuccess) err = cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
  });
  check(err, "gemm_skinny_split_kernel configuration", __FILE__, __LINE__);
  int per_sm = 0;
  if (pipe) check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gemm_skinny_split_kernel<__half, 4, true>, SPLIT_WARPS * WARP,
                                                                 split_smem_bytes<true, 4>()), "cudaOccupancyMaxActiveBlocksPerMultiprocessor", __FILE__, __LINE__);
  else check(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, gemm_skinny_split_kernel<__half, 4, false>, SPLIT_WARPS * WARP,
                                                            split_smem_bytes<false, 4>()), "cudaOccupancyMaxActiveBlocksPerMultiprocessor", __FILE__, __LINE__);
  return std::max(per_sm, 1) * sms;
}

// The caller has checked skinny_split_ok() and called skinny_split_configure(). w_dtype is x's too.
// slots: what skinny_split_configure returned for `pipe`.
inline void gemm_skinny_split_forward(void *out, DType out_dtype, bool accumulate, const void *x, const void *w,
                                      DType w_dtype, int T, int N, int K, bool pipe, int slots, bool pdl, cudaStream_t stream) {
  const int S = skinny_split_ways(N, K, slots);
  auto go = [&](auto tag, auto p) {
    using TW = decltype(tag);
    constexpr bool P = decltype(p)::value;
    if (T <= 16) gemm_skinny_split_launch<TW, 2, P>(out, out_dtype, accumulate, x, w, T, N, K, S, pdl, stream);
    else if (T <= 24) gemm_skinny_split_launch<TW, 3, P>(out, out_dtype, accumulate, x, w, T, N, K, S, pdl, stream);
    else gemm_skinny_split_launch<TW, 4, P>(out, out_dtype, accumulate, x, w, T, N, K, S, pdl, stream);
  };
  using Pipe = std::true_type;
  using Regs = std::false_type;
  if (w_dtype == DType::F16) pipe ? go(__half{}, Pipe{}) : go(__half{}, Regs{});
  else pipe ? go(__nv_bfloat16{}, Pipe{}) : go(__nv_bfloat16{}, Regs{});
}

}  // namespace cuda
}  // namespace vl
