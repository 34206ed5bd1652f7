// gemv.cuh: the decode GEMVs (T <= 8): out (T, N) = in(x) (T, K) . w (N, K)^T (+ out), where in() is
// computed on the fly from the kernel's small inputs, and optionally the rope + KV store epilogue of the
// qkv projection. Behind Backend::matmul (T <= 8) and the fused ops rmsnorm_matmul, swiglu_matmul and
// rmsnorm_qkv_rope_store.
//
// defines: GemvArgs, GemvConfig, gemv_kernel, gemv_forward, GEMV_PLAIN, GEMV_RMSNORM, GEMV_SWIGLU
//
// Inputs (MODE):
//  - GEMV_PLAIN:   in = x, x (T, K) of TX.
//  - GEMV_RMSNORM: in = rmsnorm(x) = x * nw / rms(x), x (T, K) F32, nw (K) of TX. The scale 1 / rms(x[t])
//    is one number per token, so it factors out of the dot product: each warp sums x^2 over the
//    K-vectors it reads anyway (its lanes cover all of K, or its K slice, see below) and multiplies the
//    finished sum once. No extra pass, no extra bytes, nothing rounded to the activation dtype.
//  - GEMV_SWIGLU:  in = silu(gate) * up, gate and up (T, K) of TX, computed per element as it is read
//    (__expf / __fdividef: 2 MUFU ops per element, hidden under the weight stream).
// Only the weights come from HBM, each byte once, with 16-byte evict-first loads. The small inputs come
// from L2: staged, when in(x) (T, K) fits in GEMV_STAGE_MAX bytes of f32 (T = 1 up to K = 14336), each
// block computes in(x) once into shared memory (for RMSNORM with the sums of squares, one block
// reduction) and its warps read it from there. Unstaged, every warp reads and computes its inputs from
// L1/L2 itself: for a 4-row group that is 1 to 1.5 input bytes per weight byte through L2 (x F32 and the
// norm weight for rmsnorm, gate and up for swiglu), which costs the fused GEMVs about 10 % of their
// bandwidth.
//
// Work split. A "row group" is ROWS output features (4, or 2 when T > 4 to bound registers). A block
// has 4 warps; `ksplit` (1, 2 or 4) warps share a row group, each taking an interleaved slice of K
// (lane l of sub-warp s reads K-vectors s*32 + l, + ksplit*32, ...), so a block works on 4 / ksplit
// groups at a time (a "block group"). Per lane, U 16-byte loads per row are issued before any is used
// (8 KiB per warp in flight for 2-byte weights). Partial sums go through a warp reduction, then shared
// memory across the ksplit warps. The grid is one wave with equal work per block (see gemv_forward).
// ksplit > 1 gives small-N shapes (4096 x 4096, 4096 x 11008) twice or four times the warps in flight
// and halves each warp's chain of dependent round trips.
//
// Rope epilogue (GemvRope.on): rows are permuted so that a group holds ROWS/2 rotation pairs (j, j + hd/2)
// of one head; the epilogue then rotates each pair of q and k in fp32 and stores q | k | v to out and
// k, v to the KV pool (rope_kv_pair, shared with rope_kv_store_kernel). Needs hd % ROWS == 0.
//
// Programmatic dependent launch: the first step's weight loads are issued before pdl_wait (weights are
// never written by a step), so they overlap the previous kernel's tail; every thread then waits before
// reading x / gate / up / out, and lets the next kernel launch (see common.cuh).
#pragma once
#include <type_traits>

#include "common.cuh"
#include "matmul.cuh"
#include "rope.cuh"

namespace vl {
namespace cuda {

constexpr int GEMV_WARPS = GEMV_THREADS / WARP;  // 4

enum : int { GEMV_PLAIN = 0, GEMV_RMSNORM = 1, GEMV_SWIGLU = 2 };

struct GemvArgs {
  void *out;          // (T, N), any dtype
  DType out_dtype;
  int accumulate;     // out += instead of out = (not with the rope epilogue)
  const void *x;      // PLAIN: x (T, K) TX; RMSNORM: x (T, K) F32; SWIGLU: gate (T, K) TX
  const void *x2;     // RMSNORM: norm weight (K) TX; SWIGLU: up (T, K) TX; PLAIN: unused
  float eps;          // RMSNORM
  const void *w;      // (N, K) TW
  int T, N, K;        // T <= NT, K % 8 == 0, all of x, x2, w 16-byte aligned
  int ksplit;         // warps per row group (set by gemv_forward)
  int n_groups;       // ceil(N / ROWS)
  int n_bgroups;      // ceil(n_groups / (GEMV_WARPS / ksplit))
  int rope;           // 1: rope epilogue, out is qkv (T, q_dim + 2 kv_dim), N == its width
  RopeKv rkv;         // rope epilogue's parameters
  int staged;         // 1: in(x) (T, K) staged as f32 in dynamic shared memory (set by gemv_forward)
};

// The most dynamic shared memory a block stages in(x) in: T * K * 4 bytes (K 14336 at T = 1, four
// blocks per SM).
constexpr int GEMV_STAGE_MAX = 56 * 1024;

// How gemv_forward sizes its launch.
struct GemvConfig {
  int n_sms = 1;
  bool pdl = false;  // launch with programmatic stream serialization
  int smem_per_sm = 0;  // shared memory per SM (bytes): bounds the blocks that stage x
};

__device__ __forceinline__ float silu(float g) { return __fdividef(g, 1.0f + __expf(-g)); }

// Output feature of row r of group grp: consecutive rows, or with the rope epilogue ROWS/2 pairs
// (j0 + i, j0 + i + hd/2) of head `head` (hd % ROWS == 0, so a head holds hd / ROWS whole groups).
template <int ROWS>
__device__ __forceinline__ int gemv_row(const GemvArgs &a, int grp, int r) {
  if (!a.rope) return grp * ROWS + r;
  constexpr int P = ROWS / 2;
  const int hd = a.rkv.head_dim, half = hd / 2;
  const int gph = half / P;  // groups per head
  const int head = grp / gph, j0 = (grp - head * gph) * P;
  return head * hd + (r < P ? j0 + r : half + j0 + (r - P));
}

template <typename TW, int ROWS>
__device__ __forceinline__ void gemv_set_rows(const GemvArgs &a, int grp, const TW *(&wr)[ROWS]) {
  const TW *w = static_cast<const TW *>(a.w);
#pragma unroll
  for (int r = 0; r < ROWS; r++) wr[r] = w + size_t(min(gemv_row<ROWS>(a, grp, r), a.N - 1)) * size_t(a.K);
}

// The U x ROWS weight vectors of the step starting at K-vector `base` (indexes past the end re-read the
// last vector; the compute skips them).
template <typename TW, int U, int ROWS>
__device__ __forceinline__ void gemv_load_step(const TW *const (&wr)[ROWS], int base, int kstride, int nvec,
                                               Vec8<TW> (&wv)[U][ROWS]) {
#pragma unroll
  for (int u = 0; u < U; u++) {
    const int v = min(base + kstride * u, nvec - 1);
#pragma unroll
    for (int r = 0; r < ROWS; r++) wv[u][r] = ld8_stream(wr[r] + size_t(v) * 8);
  }
}

template <int NT, int ROWS>
__device__ __forceinline__ void gemv_fma(const float (&wf)[ROWS][8], const float (&xf)[8], float (&acc)[NT][ROWS],
                                         int t) {
#pragma unroll
  for (int r = 0; r < ROWS; r++)
#pragma unroll
    for (int e = 0; e < 8; e++) acc[t][r] = fmaf(wf[r][e], xf[e], acc[t][r]);
}

// in(x) of 8 elements, in place on f (x), with g the second operand: RMSNORM ss += x^2, then x * g (the
// norm weight; the 1 / rms scale comes at the end); SWIGLU silu(x) * g (up). Shared by the staged and
// the unstaged paths, so that both compute the same values.
template <int MODE>
__device__ __forceinline__ void gemv_in8(float (&f)[8], const float (&g)[8], float &ss) {
#pragma unroll
  for (int e = 0; e < 8; e++) {
    if constexpr (MODE == GEMV_RMSNORM) {
      ss = fmaf(f[e], f[e], ss);
      f[e] *= g[e];
    } else {
      f[e] = silu(f[e]) * g[e];
    }
  }
}

// Stages in(x) (T, K) as f32 in xs (shared), every thread of the block taking 8-element vectors (K % 8
// == 0: a vector never straddles two tokens), GEMV_STAGE_U of them per round with all their loads
// issued first (an L2 round trip per round, not per vector: 3 rounds for K = 11008); for RMSNORM also
// each warp's sums of squares per token into ss[warp][t]. Ends with a barrier.
constexpr int GEMV_STAGE_U = 4;
template <typename TX, int MODE, int NT>
__device__ __forceinline__ void gemv_stage(const GemvArgs &a, float *xs, float (&ss)[GEMV_WARPS][NT]) {
  using TA = std::conditional_t<MODE == GEMV_RMSNORM, float, TX>;  // x: F32 for RMSNORM, else TX
  const size_t K = size_t(a.K), n = size_t(a.T) * K, stride = size_t(GEMV_THREADS) * 8;
  const TA *x = static_cast<const TA *>(a.x);
  const TX *x2 = static_cast<const TX *>(a.x2);
  float part[NT];
#pragma unroll
  for (int t = 0; t < NT; t++) part[t] = 0.f;
  for (size_t i0 = size_t(threadIdx.x) * 8; i0 < n; i0 += stride * GEMV_STAGE_U) {
    Vec8<TA> va[GEMV_STAGE_U];
    Vec8<TX> vb[GEMV_STAGE_U];  // RMSNORM: the norm weight; SWIGLU: up
#pragma unroll
    for (int u = 0; u < GEMV_STAGE_U; u++) {
      const size_t i = min(i0 + stride * u, n - 8);  // past the end: re-read the last vector, unused
      va[u] = ld8(x + i);
      if constexpr (MODE == GEMV_RMSNORM) vb[u] = ld8(x2 + i % K);
      if constexpr (MODE == GEMV_SWIGLU) vb[u] = ld8(x2 + i);
    }
#pragma unroll
    for (int u = 0; u < GEMV_STAGE_U; u++) {
      const size_t i = i0 + stride * u;
      if (i >= n) break;
      float f[8];
      cvt8(va[u], f);
      if constexpr (MODE != GEMV_PLAIN) {
        float g[8], s = 0.f;
        cvt8(vb[u], g);
        gemv_in8<MODE>(f, g, s);
        const size_t t = i / K;
#pragma unroll
        for (int tt = 0; tt < NT; tt++)
          if (MODE == GEMV_RMSNORM && size_t(tt) == t) part[tt] += s;  // (static indexes keep part in registers)
      }
      float4 *dst = reinterpret_cast<float4 *>(xs + i);
      dst[0] = make_float4(f[0], f[1], f[2], f[3]);
      dst[1] = make_float4(f[4], f[5], f[6], f[7]);
    }
  }
  if constexpr (MODE == GEMV_RMSNORM) {
    const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
#pragma unroll
    for (int t = 0; t < NT; t++) {
      const float v = warp_sum(part[t]);
      if (lane == 0) ss[warp][t] = v;
    }
  }
  __syncthreads();
}

// Multiplies the step's weights (already loaded) with the inputs of every token: from xs when staged
// (non-null), else read and computed here.
template <typename TW, typename TX, int MODE, int NT, int U, int ROWS>
__device__ __forceinline__ void gemv_consume(const GemvArgs &a, const float *xs, const Vec8<TW> (&wv)[U][ROWS],
                                             int base, int kstride, int nvec, float (&acc)[NT][ROWS],
                                             float (&ss)[NT]) {
  const int T = a.T;
  const size_t K = size_t(a.K);
#pragma unroll
  for (int u = 0; u < U; u++) {
    const int v = base + kstride * u;
    if (v < nvec) {
      float wf[ROWS][8];
#pragma unroll
      for (int r = 0; r < ROWS; r++) cvt8(wv[u][r], wf[r]);
      const size_t off = size_t(v) * 8;
      if (xs) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
          if (t < T) {
            const float4 *p = reinterpret_cast<const float4 *>(xs + t * K + off);
            const float4 lo = p[0], hi = p[1];
            const float xf[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
            gemv_fma<NT, ROWS>(wf, xf, acc, t);
          }
        }
      } else if constexpr (MODE == GEMV_PLAIN) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
          if (t < T) {
            float xf[8];
            load8(static_cast<const TX *>(a.x) + t * K + off, xf);
            gemv_fma<NT, ROWS>(wf, xf, acc, t);
          }
        }
      } else if constexpr (MODE == GEMV_RMSNORM) {
        float nf[8];
        load8(static_cast<const TX *>(a.x2) + off, nf);
#pragma unroll
        for (int t = 0; t < NT; t++) {
          if (t < T) {
            float xf[8];
            load8(static_cast<const float *>(a.x) + t * K + off, xf);
            gemv_in8<GEMV_RMSNORM>(xf, nf, ss[t]);
            gemv_fma<NT, ROWS>(wf, xf, acc, t);
          }
        }
      } else {
#pragma unroll
        for (int t = 0; t < NT; t++) {
          if (t < T) {
            float xf[8], uf[8];
            load8(static_cast<const TX *>(a.x) + t * K + off, xf);
            load8(static_cast<const TX *>(a.x2) + t * K + off, uf);
            gemv_in8<GEMV_SWIGLU>(xf, uf, ss[t]);  // (ss unused)
            gemv_fma<NT, ROWS>(wf, xf, acc, t);
          }
        }
      }
    }
  }
}

template <typename TW, typename TX, int MODE, int NT, int ROWS>
__global__ void __launch_bounds__(GEMV_THREADS) gemv_kernel(const GemvArgs a) {
  constexpr int U = sizeof(TW) == 4 ? 2 : 4;  // 16-byte loads per row per lane in flight (2 x 32 B for F32)
  constexpr int NS = NT * ROWS;               // partial sums per warp, then NT sums of squares
  __shared__ float red[2][GEMV_WARPS][NS + NT];
  __shared__ float stage_ss[GEMV_WARPS][NT];  // staged RMSNORM: each warp's share of the sums of squares
  extern __shared__ float4 gemv_stage_raw[];  // staged: in(x) (T, K) f32
  float *const xs = a.staged ? reinterpret_cast<float *>(gemv_stage_raw) : nullptr;

  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int ks = a.ksplit, sub = warp % ks, slot = warp / ks, gpb = GEMV_WARPS / ks;
  const int nvec = a.K / 8;
  const int kstride = ks * WARP;        // K-vectors between a lane's consecutive vectors
  const int kfirst = sub * WARP + lane;  // this lane's first K-vector

  const TW *wr[ROWS];
  Vec8<TW> wv[U][ROWS];

  // The first step of this block's first group, before waiting for the previous kernel.
  int bg = blockIdx.x;
  if (bg < a.n_bgroups && bg * gpb + slot < a.n_groups) {
    gemv_set_rows<TW, ROWS>(a, bg * gpb + slot, wr);
    gemv_load_step<TW, U, ROWS>(wr, kfirst, kstride, nvec, wv);
  }
  pdl_wait();
  pdl_launch_dependents();
  if (xs) gemv_stage<TX, MODE, NT>(a, xs, stage_ss);

  for (int it = 0; bg < a.n_bgroups; bg += gridDim.x, it++) {
    const int grp = bg * gpb + slot;
    const bool active = grp < a.n_groups;  // uniform per warp (and across the ks warps of a group)
    float acc[NT][ROWS], ss[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
      ss[t] = 0.f;
#pragma unroll
      for (int r = 0; r < ROWS; r++) acc[t][r] = 0.f;
    }
    if (active) {
      if (it > 0) {
        gemv_set_rows<TW, ROWS>(a, grp, wr);
        gemv_load_step<TW, U, ROWS>(wr, kfirst, kstride, nvec, wv);
      }
      for (int base = kfirst; base < nvec; base += kstride * U) {
        gemv_consume<TW, TX, MODE, NT, U, ROWS>(a, xs, wv, base, kstride, nvec, acc, ss);
        if (base + kstride * U < nvec) gemv_load_step<TW, U, ROWS>(wr, base + kstride * U, kstride, nvec, wv);
      }
    }

    // Warp sums, then the ks warps of the group through shared memory (double-buffered by iteration:
    // one barrier per group suffices).
#pragma unroll
    for (int t = 0; t < NT; t++) {
#pragma unroll
      for (int r = 0; r < ROWS; r++) acc[t][r] = warp_sum(acc[t][r]);
      if constexpr (MODE == GEMV_RMSNORM) ss[t] = warp_sum(ss[t]);
    }
    float(*buf)[NS + NT] = red[it & 1];
    if (lane == 0) {
#pragma unroll
      for (int t = 0; t < NT; t++) {
#pragma unroll
        for (int r = 0; r < ROWS; r++) buf[warp][t * ROWS + r] = acc[t][r];
        buf[warp][NS + t] = ss[t];
      }
    }
    if (ks > 1) __syncthreads();
    else __syncwarp();
    if (!active || sub != 0) continue;

    // Epilogue: lane i of the group's first warp finishes output i (or rotation pair i).
    const auto total = [&](int i) {
      float s = 0.f;
      for (int k = 0; k < ks; k++) s += buf[warp + k][i];
      return s;
    };
    const auto scale = [&](int t) {
      if constexpr (MODE == GEMV_RMSNORM) {
        float sq = 0.f;
        if (xs)
          for (int w = 0; w < GEMV_WARPS; w++) sq += stage_ss[w][t];
        else
          sq = total(NS + t);
        return 1.0f / sqrtf(sq / float(a.K) + a.eps);  // as rmsnorm_kernel
      } else {
        return 1.0f;
      }
    };
    if (!a.rope) {
      if (lane < NS) {
        const int t = lane / ROWS, r = lane % ROWS, row = grp * ROWS + r;
        if (t < a.T && row < a.N)
          store_out(a.out, a.out_dtype, size_t(t) * a.N + row, total(lane) * scale(t), a.accumulate);
      }
    } else {
      constexpr int P = ROWS / 2;
      if (lane < NT * P) {
        const int t = lane / P, i = lane % P;
        if (t < a.T) {
          const float s = scale(t);
          rope_kv_pair(a.rkv, a.out, a.out_dtype, t, gemv_row<ROWS>(a, grp, i), total(t * ROWS + i) * s,
                       total(t * ROWS + i + P) * s);
        }
      }
    }
  }
}

// Resident blocks per SM of an instantiation (registers bound it), asked once. gemv_prepare() asks for
// every instantiation when the backend is created, so that the question is never first asked while a
// stream is being captured into a graph.
template <typename TW, typename TX, int MODE, int NT>
inline int gemv_blocks_per_sm() {
  static const int blocks = [] {
    void (*kernel)(GemvArgs) = gemv_kernel<TW, TX, MODE, NT, (NT > 4 ? 2 : 4)>;
    int b = 0;
    // Registers bound it (the staged shared memory is accounted for per launch, in gemv_launch).
    if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, GEMV_STAGE_MAX) != cudaSuccess ||
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, kernel, GEMV_THREADS, 0) != cudaSuccess || b < 1) {
      (void)cudaGetLastError();
      b = -1;  // unknown: never stage, one block per SM
    }
    return b;
  }();
  return blocks;
}

template <typename TW, typename TX, int MODE, int NT>
inline void gemv_launch(GemvArgs a, const GemvConfig &cfg, cudaStream_t stream) {
  constexpr int ROWS = NT > 4 ? 2 : 4;
  constexpr int U = sizeof(TW) == 4 ? 2 : 4;
  void (*kernel)(GemvArgs) = gemv_kernel<TW, TX, MODE, NT, ROWS>;
  const int reg_blocks = gemv_blocks_per_sm<TW, TX, MODE, NT>();
  // Staging in(x) when it fits; shared memory may then bound the blocks per SM (1 KiB each reserved by
  // the hardware, and the static reduction buffers).
  const size_t stage_bytes = size_t(a.T) * size_t(a.K) * 4;
  a.staged = cfg.smem_per_sm > 0 && reg_blocks > 0 && stage_bytes <= size_t(GEMV_STAGE_MAX);
  int blocks_per_sm = reg_blocks > 0 ? reg_blocks : 1;
  if (a.staged) blocks_per_sm = std::max(1, std::min(blocks_per_sm, int(size_t(cfg.smem_per_sm) / (stage_bytes + 2048))));
  a.n_groups = int(ceil_div(a.N, ROWS));
  const int64_t resident = int64_t(cfg.n_sms > 0 ? cfg.n_sms : 1) * blocks_per_sm;
  // One wave, equal work: each block takes ceil(block groups / resident blocks) block groups, and only
  // as many blocks are launched as that needs (no tail wave of a few blocks at low bandwidth).
  const auto blocks_for = [&](int ks, int64_t &bgroups) {
    bgroups = ceil_div(a.n_groups, GEMV_WARPS / ks);
    return ceil_div(bgroups, ceil_div(bgroups, resident));
  };
  // Split K between more warps (1, 2 or 4 a row group) while that puts > 10 % more blocks in the wave
  // and every lane still gets a whole step of its slice.
  int ks = 1;
  int64_t bgroups = 0;
  int64_t best = blocks_for(1, bgroups);
  for (int k = 2; k <= 4; k *= 2) {
    if (a.K / 8 < k * WARP * U) break;
    const int64_t b = blocks_for(k, bgroups);
    if (b * 10 > best * 11) {
      best = b;
      ks = k;
    }
  }
  const int64_t blocks = blocks_for(ks, bgroups);
  a.ksplit = ks;
  a.n_bgroups = int(bgroups);
  check(launch_kernel_smem(cfg.pdl, kernel, dim3(unsigned(blocks)), dim3(GEMV_THREADS), a.staged ? stage_bytes : 0,
                           stream, a),
        "gemv_kernel launch", __FILE__, __LINE__);
}

// a.T in 1..8; a.x, a.x2 and a.w 16-byte aligned, a.K % 8 == 0 (gemv_vector_ok). tx: the dtype of x
// (PLAIN), of the norm weight (RMSNORM) or of gate and up (SWIGLU).
inline void gemv_forward(int mode, const GemvArgs &a, DType w_dtype, DType tx, const GemvConfig &cfg,
                         cudaStream_t stream) {
  VL_DISPATCH_DTYPE(w_dtype, TW, {
    VL_DISPATCH_DTYPE(tx, TX, {
      if (mode == GEMV_PLAIN) {
        if (a.T <= 1) gemv_launch<TW, TX, GEMV_PLAIN, 1>(a, cfg, stream);
        else if (a.T <= 2) gemv_launch<TW, TX, GEMV_PLAIN, 2>(a, cfg, stream);
        else if (a.T <= 4) gemv_launch<TW, TX, GEMV_PLAIN, 4>(a, cfg, stream);
        else gemv_launch<TW, TX, GEMV_PLAIN, 8>(a, cfg, stream);
      } else if (mode == GEMV_RMSNORM) {
        if (a.T <= 1) gemv_launch<TW, TX, GEMV_RMSNORM, 1>(a, cfg, stream);
        else if (a.T <= 2) gemv_launch<TW, TX, GEMV_RMSNORM, 2>(a, cfg, stream);
        else if (a.T <= 4) gemv_launch<TW, TX, GEMV_RMSNORM, 4>(a, cfg, stream);
        else gemv_launch<TW, TX, GEMV_RMSNORM, 8>(a, cfg, stream);
      } else {
        if (a.T <= 1) gemv_launch<TW, TX, GEMV_SWIGLU, 1>(a, cfg, stream);
        else if (a.T <= 2) gemv_launch<TW, TX, GEMV_SWIGLU, 2>(a, cfg, stream);
        else if (a.T <= 4) gemv_launch<TW, TX, GEMV_SWIGLU, 4>(a, cfg, stream);
        else gemv_launch<TW, TX, GEMV_SWIGLU, 8>(a, cfg, stream);
      }
    });
  });
}

template <typename TW, typename TX, int MODE>
inline void gemv_prepare_mode() {
  (void)gemv_blocks_per_sm<TW, TX, MODE, 1>();
  (void)gemv_blocks_per_sm<TW, TX, MODE, 2>();
  (void)gemv_blocks_per_sm<TW, TX, MODE, 4>();
  (void)gemv_blocks_per_sm<TW, TX, MODE, 8>();
}
// Asks the occupancy of every gemv_kernel instantiation (see gemv_blocks_per_sm). Never throws.
inline void gemv_prepare() {
  const DType all[] = {DType::F32, DType::F16, DType::BF16};
  for (DType w_dtype : all)
    for (DType tx : all)
      VL_DISPATCH_DTYPE(w_dtype, TW, {
        VL_DISPATCH_DTYPE(tx, TX, {
          gemv_prepare_mode<TW, TX, GEMV_PLAIN>();
          gemv_prepare_mode<TW, TX, GEMV_RMSNORM>();
          gemv_prepare_mode<TW, TX, GEMV_SWIGLU>();
        });
      });
}

// Rows per group of the instantiation gemv_forward picks for T tokens (the rope epilogue needs
// head_dim % gemv_rows(T) == 0).
inline int gemv_rows(int T) { return T > 4 ? 2 : 4; }

}  // namespace cuda
}  // namespace vl
