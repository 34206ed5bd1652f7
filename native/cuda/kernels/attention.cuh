// attention.cuh: causal attention of a step's queries over the paged KV pool.
//
// defines: AttnArgs, attention_decode_kernel, attention_prefill_kernel, attention_forward,
//          attention_splits, attention_prefill_ok (mma_16816 is in common.cuh)
//
// Shapes: q, out (T, nh * hd); pool (n_blocks, n_layers, 2, block_tokens, kv_dim = nkv * hd). Query t
// sits at position positions[t] and attends to positions 0..positions[t]; position p lives in block
// table[p / block_tokens] at offset p % block_tokens, table = block_table + tables[t] for a batch of
// sequences (decode kernel) or block_table itself. Query head h reads KV head h / (nh / nkv)
// (GQA; MQA is nkv = 1). Softmax is online (flash attention) in fp32 with base-2 exponentials: scores
// are pre-multiplied by scale * log2(e).
//
// Two kernels:
//  - attention_decode_kernel (flash-decoding): for small T (decode) and as the generic path for any
//    dtype and head_dim <= 256. Grid (splits, nh, T): the context of each (query, head) is cut into
//    `splits` chunks so that a single decode token still fills the GPU. The chunk size is derived on the
//    device from positions[t] (the host does not know the context length without a sync). Each block
//    writes an unnormalised partial (m, l, o[hd]); the last block of a (t, h) to finish, found with an
//    atomic counter, merges them and resets the counter for the next launch.
//  - attention_prefill_kernel (flash-attention 2 style on tensor cores): F16/BF16 q and KV, hd 64 or
//    128, T >= 16. Block = 4 warps = 64 queries of one head; key tiles of 64 rows are gathered from the
//    pool into shared memory; S = Q K^T and O += P V with mma.sync.m16n8k16 (fp32 accumulators), the
//    probabilities P going from the S accumulators straight into A fragments (same register layout).
#pragma once
#include <cmath>
#include <type_traits>

#include "common.cuh"

namespace vl {
namespace cuda {

struct AttnArgs {
  void *out;              // (T, nh * hd), activation dtype
  const void *q;          // (T, q_stride): each row's first nh * hd elements, activation dtype
  int q_stride;           // elements between tokens in q (nh * hd, or a q | k | v row's width)
  DevKv kv;               // the pool, layer selected
  const int32_t *block_table;
  const int32_t *tables;     // (T) query t's table starts at block_table + tables[t]; null: one table (decode kernel only)
  const int32_t *positions;  // (T)
  int T, n_heads, n_kv_heads, head_dim;
  float scale_log2;       // softmax scale * log2(e)
  float *part_o;          // (T, nh, splits, hd) unnormalised partial outputs (splits > 1)
  float2 *part_ml;        // (T, nh, splits) partial (max, sum)
  unsigned *counters;     // (T, nh) finished-split counters, zero between launches
};

constexpr int ATT_WARPS = 4;   // warps per block in both kernels
constexpr int ATT_KU = 4;      // keys per warp per step in the decode kernel
constexpr int ATT_MIN_CHUNK = ATT_WARPS * ATT_KU;
constexpr int ATT_MAX_SPLITS = 32;

// ---------------------------------------------------------------------------------------------------
// decode / generic kernel
// ---------------------------------------------------------------------------------------------------

// Lane `lane` owns elements [lane * J, lane * J + J) of a head row (hd <= 32 * J). FULL: hd == 32 * J and
// the rows aligned, so the J elements come in one vector load (two for 8 x F32).
template <typename T, int J> struct alignas(J * sizeof(T) <= 16 ? J * sizeof(T) : 16) LanePack { T v[J]; };

template <typename T, int J, bool FULL>
__device__ __forceinline__ void load_lane(const T *row, int lane, int hd, float (&f)[J]) {
  if (FULL) {
    const LanePack<T, J> p = *reinterpret_cast<const LanePack<T, J> *>(row + lane * J);
#pragma unroll
    for (int j = 0; j < J; j++) f[j] = to_f32(p.v[j]);
  } else {
#pragma unroll
    for (int j = 0; j < J; j++) {
      const int d = lane * J + j;
      f[j] = d < hd ? to_f32(row[d]) : 0.f;
    }
  }
}

// The end of both decode kernels: each of the block's ATT_WARPS warps has put its running max and sum in
// sm_m / sm_l and its unnormalised output (head dims in order, row stride ld) in sm_o. Merges the warps
// and stores the output (S == 1) or this split's partial, the last split of (t, h) to finish merging them all.
template <typename TQ>
__device__ __forceinline__ void attention_block_finish(const AttnArgs &a, const float *sm_m, const float *sm_l,
                                                       const float *sm_o, int ld, bool &sm_last, int s, int S, int h, int t) {
  const int hd = a.head_dim;
  const size_t out_off = (size_t(t) * a.n_heads + h) * hd;
  __syncthreads();
  float M = sm_m[0];
#pragma unroll
  for (int w = 1; w < ATT_WARPS; w++) M = fmaxf(M, sm_m[w]);
  float f[ATT_WARPS], L = 0.f;
#pragma unroll
  for (int w = 0; w < ATT_WARPS; w++) {
    f[w] = sm_m[w] == -INFINITY ? 0.f : exp2f(sm_m[w] - M);
    L += sm_l[w] * f[w];
  }

  if (S == 1) {
    TQ *out = static_cast<TQ *>(a.out) + out_off;
    const float inv = L > 0.f ? 1.f / L : 0.f;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
      float o = 0.f;
#pragma unroll
      for (int w = 0; w < ATT_WARPS; w++) o = fmaf(sm_o[w * ld + d], f[w], o);
      out[d] = from_f32<TQ>(o * inv);
    }
    return;
  }

  // Split: publish this block's partial, then let the last block of (t, h) merge all of them.
  const size_t th = size_t(t) * a.n_heads + h;
  const size_t pidx = th * S + s;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.f;
#pragma unroll
    for (int w = 0; w < ATT_WARPS; w++) o = fmaf(sm_o[w * ld + d], f[w], o);
    a.part_o[pidx * hd + d] = o;
  }
  if (threadIdx.x == 0) a.part_ml[pidx] = make_float2(M, L);
  __threadfence();  // partials visible device-wide before the counter moves
  __syncthreads();
  if (threadIdx.x == 0) sm_last = atomicAdd(&a.counters[th], 1u) == unsigned(S - 1);
  __syncthreads();
  if (!sm_last) return;
  __threadfence();

  float Mg = -INFINITY;
  for (int s2 = 0; s2 < S; s2++) Mg = fmaxf(Mg, __ldcg(&a.part_ml[th * S + s2]).x);
  float Lg = 0.f;
  for (int s2 = 0; s2 < S; s2++) {
    const float2 ml = __ldcg(&a.part_ml[th * S + s2]);
    Lg += ml.x == -INFINITY ? 0.f : ml.y * exp2f(ml.x - Mg);
  }
  const float inv = Lg > 0.f ? 1.f / Lg : 0.f;
  TQ *out = static_cast<TQ *>(a.out) + out_off;
  for (int d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.f;
    for (int s2 = 0; s2 < S; s2++) {
      const float mx = __ldcg(&a.part_ml[th * S + s2]).x;
      if (mx != -INFINITY) o = fmaf(__ldcg(&a.part_o[(th * S + s2) * hd + d]), exp2f(mx - Mg), o);
    }
    out[d] = from_f32<TQ>(o * inv);
  }
  if (threadIdx.x == 0) a.counters[th] = 0;  // ready for the next launch (kernels on a stream never overlap)
}

template <typename TQ, typename TKV, int J, bool FULL>
__global__ void __launch_bounds__(ATT_WARPS *WARP) attention_decode_kernel(AttnArgs a) {
  __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS];
  __shared__ float sm_o[ATT_WARPS][WARP * J];
  __shared__ bool sm_last;

  pdl_wait();  // launched with PDL (common.cuh): q, the pool and the counters come from earlier kernels
  pdl_launch_dependents();
  const int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
  const int S = gridDim.x;
  const int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
  const int hd = a.head_dim;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int n_ctx = a.positions[t] + 1;
  const int32_t *table = a.block_table + (a.tables ? a.tables[t] : 0);  // this query's sequence
  const int chunk = max((n_ctx + S - 1) / S, ATT_MIN_CHUNK);
  const int k_begin = min(s * chunk, n_ctx), k_end = min(n_ctx, k_begin + chunk);

  float qv[J];
  load_lane<TQ, J, FULL>(static_cast<const TQ *>(a.q) + size_t(t) * a.q_stride + size_t(h) * hd, lane, hd, qv);
#pragma unroll
  for (int j = 0; j < J; j++) qv[j] *= a.scale_log2;

  const TKV *pool = static_cast<const TKV *>(a.kv.base);
  const int bt = a.kv.block_tokens;
  const size_t plane = a.kv.plane_elems();
  float m = -INFINITY, l = 0.f, acc[J];
#pragma unroll
  for (int j = 0; j < J; j++) acc[j] = 0.f;

  // Warp w takes keys [p0, p0 + ATT_KU) for p0 = k_begin + w * ATT_KU, then strides by the block.
  for (int p0 = k_begin + warp * ATT_KU; p0 < k_end; p0 += ATT_WARPS * ATT_KU) {
    float kf[ATT_KU][J], vf[ATT_KU][J], sc[ATT_KU];
    bool valid[ATT_KU];
#pragma unroll
    for (int i = 0; i < ATT_KU; i++) {
      const int p = p0 + i;
      valid[i] = p < k_end;
      int blk = -1;
      if (valid[i]) {
        blk = table[p / bt];
        valid[i] = blk >= 0 && blk < a.kv.n_blocks;  // a bad table entry is skipped, never dereferenced
      }
      if (valid[i]) {
        const TKV *krow = pool + a.kv.offset(blk, 0, p % bt) + size_t(kvh) * hd;
        load_lane<TKV, J, FULL>(krow, lane, hd, kf[i]);
        load_lane<TKV, J, FULL>(krow + plane, lane, hd, vf[i]);
      } else {
#pragma unroll
        for (int j = 0; j < J; j++) kf[i][j] = vf[i][j] = 0.f;
      }
    }
#pragma unroll
    for (int i = 0; i < ATT_KU; i++) {
      float d = 0.f;
#pragma unroll
      for (int j = 0; j < J; j++) d = fmaf(qv[j], kf[i][j], d);
      sc[i] = d;
    }
#pragma unroll
    for (int i = 0; i < ATT_KU; i++) sc[i] = valid[i] ? warp_sum(sc[i]) : -INFINITY;
    float mx = sc[0];
#pragma unroll
    for (int i = 1; i < ATT_KU; i++) mx = fmaxf(mx, sc[i]);
    const float m_new = fmaxf(m, mx);
    if (m_new == -INFINITY) continue;  // nothing valid yet
    const float corr = exp2f(m - m_new);  // 0 when m was -inf
    l *= corr;
#pragma unroll
    for (int j = 0; j < J; j++) acc[j] *= corr;
#pragma unroll
    for (int i = 0; i < ATT_KU; i++) {
      const float p = exp2f(sc[i] - m_new);  // 0 for invalid keys
      l += p;
#pragma unroll
      for (int j = 0; j < J; j++) acc[j] = fmaf(p, vf[i][j], acc[j]);
    }
    m = m_new;
  }

  // Merge the 4 warps of the block.
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
#pragma unroll
  for (int j = 0; j < J; j++) sm_o[warp][lane * J + j] = acc[j];
  attention_block_finish<TQ>(a, sm_m, sm_l, &sm_o[0][0], WARP * J, sm_last, s, S, h, t);
}

// ---------------------------------------------------------------------------------------------------
// decode kernel, pipelined (F16/BF16 q and KV, hd 64 or 128)
// ---------------------------------------------------------------------------------------------------
// The generic kernel above loads each key row straight into registers and uses it at once: a warp has
// one step of rows (2 KiB) in flight, and decode attention, a pure stream of KV bytes, ran at about half
// the HBM rate (test-backend-ops --perf-batch). Here the block's threads copy tiles of PIPE_KEYS keys
// (K and V rows, gathered through the block table) into shared memory with cp.async, PIPE_STAGES tiles
// ahead of the tile being computed, so that about 24 KiB per block are always in flight. Warp w
// computes keys [4w, 4w + 4) of each tile: lane (kg, j) = (lane / 8, lane % 8) takes key 4w + kg and the
// head dims [64v + 8j, 64v + 8j + 8) for v < hd / 64 (each 8-lane phase of a 16-byte shared load reads
// 128 contiguous bytes: no bank conflicts), so a score needs 3 shuffles. Same grid, splits and merge as
// the generic kernel (attention_block_finish).
constexpr int PIPE_KEYS = 16;   // keys per tile
constexpr int PIPE_STAGES = 4;  // tiles in shared memory: the one computed and up to 3 in flight

template <typename T, int HD>
__global__ void __launch_bounds__(ATT_WARPS *WARP, 6) attention_decode_pipe_kernel(AttnArgs a) {  // 6 blocks an SM: what its shared memory allows
  constexpr int NV = HD / 64;               // 16-byte vectors per lane and row
  constexpr int ROW_CH = HD / 8;            // 16-byte chunks per row
  constexpr int TILE_CH = PIPE_KEYS * ROW_CH;  // chunks per tile, K or V
  static_assert(ATT_WARPS * 4 == PIPE_KEYS, "4 keys per warp and tile");
  static_assert((2 * TILE_CH) % (ATT_WARPS * WARP) == 0, "whole chunks per thread");
  __shared__ __align__(16) T ks[PIPE_STAGES][PIPE_KEYS * HD];  // (stage, key, hd)
  __shared__ __align__(16) T vs[PIPE_STAGES][PIPE_KEYS * HD];
  __shared__ bool valid_s[PIPE_STAGES][PIPE_KEYS];
  __shared__ float sm_m[ATT_WARPS], sm_l[ATT_WARPS];
  __shared__ float sm_o[ATT_WARPS][HD];
  __shared__ bool sm_last;

  pdl_wait();  // q, the pool and the counters come from earlier kernels (common.cuh)
  pdl_launch_dependents();
  const int s = blockIdx.x, h = blockIdx.y, t = blockIdx.z;
  const int S = gridDim.x;
  const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP;
  const int kg = lane / 8, j = lane % 8;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int n_ctx = a.positions[t] + 1;
  const int32_t *table = a.block_table + (a.tables ? a.tables[t] : 0);
  // Whole tiles per split, so that with 16-token blocks a tile is one block: one table entry a tile and
  // no divisions in the copies (the kernel is issue-bound, not memory-bound, at batch 32: ncu).
  const int chunk = (max((n_ctx + S - 1) / S, ATT_MIN_CHUNK) + PIPE_KEYS - 1) / PIPE_KEYS * PIPE_KEYS;
  const int k_begin = min(s * chunk, n_ctx), k_end = min(n_ctx, k_begin + chunk);
  const int n_tiles = (k_end - k_begin + PIPE_KEYS - 1) / PIPE_KEYS;

  const T *pool = static_cast<const T *>(a.kv.base);
  const int bt = a.kv.block_tokens;
  const size_t plane = a.kv.plane_elems();
  // Copies tile n of this block's keys into stage st: thread tid takes chunks tid, tid + 128, ... of
  // the tile's K rows then V rows; the thread of a row's first K chunk records whether the key exists.
  constexpr int PER = 2 * TILE_CH / (ATT_WARPS * WARP);  // chunks per thread and tile
  const bool aligned = bt == PIPE_KEYS;                  // a tile is one block (k_begin is a multiple of 16)
  const size_t blk_elems = size_t(a.kv.n_layers) * 2 * plane;
  const T *layer0 = pool + size_t(a.kv.layer) * 2 * plane;  // block 0's K plane of this layer
  const auto load_tile = [&](int n, int st) {
    const int k0 = k_begin + n * PIPE_KEYS;
    int tile_blk = -1;
    if (aligned) tile_blk = table[k0 / PIPE_KEYS];
#pragma unroll
    for (int i = 0; i < PER; i++) {
      const int c = tid + i * ATT_WARPS * WARP;
      const int v = c / TILE_CH, r = (c % TILE_CH) / ROW_CH, cc = c % ROW_CH;
      const int p = k0 + r;
      int blk = -1, off = r;
      if (p < k_end) {
        if (aligned) blk = tile_blk;
        else {
          blk = table[p / bt];
          off = p % bt;
        }
      }
      const bool ok = blk >= 0 && blk < a.kv.n_blocks;  // a bad table entry is skipped, never dereferenced
      const T *src = ok ? layer0 + size_t(blk) * blk_elems + size_t(v) * plane + size_t(off) * a.kv.kv_dim + size_t(kvh) * HD + cc * 8 : pool;
      cp_async16(&(v ? vs : ks)[st][r * HD + cc * 8], src, ok);
      if (v == 0 && cc == 0) valid_s[st][r] = ok;
    }
  };
#pragma unroll
  for (int st = 0; st < PIPE_STAGES - 1; st++) {
    if (st < n_tiles) load_tile(st, st);
    cp_async_commit();  // empty groups too: the wait below counts groups
  }

  // This lane's q dims, pre-scaled.
  float qv[NV][8];
  const T *qrow = static_cast<const T *>(a.q) + size_t(t) * a.q_stride + size_t(h) * HD;
#pragma unroll
  for (int v = 0; v < NV; v++) {
    load8(qrow + 64 * v + 8 * j, qv[v]);
#pragma unroll
    for (int e = 0; e < 8; e++) qv[v][e] *= a.scale_log2;
  }

  float m = -INFINITY, l = 0.f, acc[NV][8];
#pragma unroll
  for (int v = 0; v < NV; v++)
#pragma unroll
    for (int e = 0; e < 8; e++) acc[v][e] = 0.f;

  const int key = 4 * warp + kg;  // this lane's key within a tile
  for (int n = 0; n < n_tiles; n++) {
    cp_async_wait<PIPE_STAGES - 2>();  // this thread's copies of tile n have landed
    __syncthreads();                   // everyone's have, and everyone is done with tile n - 1
    if (n + PIPE_STAGES - 1 < n_tiles) load_tile(n + PIPE_STAGES - 1, (n + PIPE_STAGES - 1) % PIPE_STAGES);
    cp_async_commit();

    const int st = n % PIPE_STAGES;
    const T *krow = &ks[st][key * HD];
    float sc = 0.f;
#pragma unroll
    for (int v = 0; v < NV; v++) {
      float kf[8];
      cvt8(*reinterpret_cast<const Vec8<T> *>(krow + 64 * v + 8 * j), kf);
#pragma unroll
      for (int e = 0; e < 8; e++) sc = fmaf(qv[v][e], kf[e], sc);
    }
    sc += __shfl_xor_sync(0xffffffffu, sc, 1);
    sc += __shfl_xor_sync(0xffffffffu, sc, 2);
    sc += __shfl_xor_sync(0xffffffffu, sc, 4);
    if (!valid_s[st][key]) sc = -INFINITY;
    float mx = fmaxf(sc, __shfl_xor_sync(0xffffffffu, sc, 8));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 16));
    const float m_new = fmaxf(m, mx);  // the same in every lane of the warp
    if (m_new == -INFINITY) continue;  // nothing valid yet
    const float p = exp2f(sc - m_new);  // 0 for a missing key
    if (m_new != m) {                   // the running max moved (warp-uniform): rescale; mostly it holds
      const float corr = exp2f(m - m_new);  // 0 when m was -inf
      l *= corr;
#pragma unroll
      for (int v = 0; v < NV; v++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[v][e] *= corr;
      m = m_new;
    }
    l += p;  // this lane's key group only; the groups are summed at the end
    const T *vrow = &vs[st][key * HD];
#pragma unroll
    for (int v = 0; v < NV; v++) {
      float vf[8];
      cvt8(*reinterpret_cast<const Vec8<T> *>(vrow + 64 * v + 8 * j), vf);
#pragma unroll
      for (int e = 0; e < 8; e++) acc[v][e] = fmaf(p, vf[e], acc[v][e]);
    }
  }
  cp_async_wait<0>();  // no copy may land in shared memory after the block exits

  // The warp's 4 key groups hold partial sums under the same running max: add them up.
  l += __shfl_xor_sync(0xffffffffu, l, 8);
  l += __shfl_xor_sync(0xffffffffu, l, 16);
#pragma unroll
  for (int v = 0; v < NV; v++)
#pragma unroll
    for (int e = 0; e < 8; e++) {
      acc[v][e] += __shfl_xor_sync(0xffffffffu, acc[v][e], 8);
      acc[v][e] += __shfl_xor_sync(0xffffffffu, acc[v][e], 16);
    }
  if (lane == 0) {
    sm_m[warp] = m;
    sm_l[warp] = l;
  }
  if (kg == 0)
#pragma unroll
    for (int v = 0; v < NV; v++)
#pragma unroll
      for (int e = 0; e < 8; e++) sm_o[warp][64 * v + 8 * j + e] = acc[v][e];
  attention_block_finish<T>(a, sm_m, sm_l, &sm_o[0][0], HD, sm_last, s, S, h, t);
}

// ---------------------------------------------------------------------------------------------------
// prefill kernel (tensor cores)
// ---------------------------------------------------------------------------------------------------

__device__ __forceinline__ uint32_t pack_pair(__half lo, __half hi) {
  return uint32_t(__half_as_ushort(lo)) | (uint32_t(__half_as_ushort(hi)) << 16);
}
__device__ __forceinline__ uint32_t pack_pair(__nv_bfloat16 lo, __nv_bfloat16 hi) {
  return uint32_t(__bfloat16_as_ushort(lo)) | (uint32_t(__bfloat16_as_ushort(hi)) << 16);
}
template <typename T> __device__ __forceinline__ uint32_t pack_floats(float lo, float hi) {
  return pack_pair(from_f32<T>(lo), from_f32<T>(hi));
}

constexpr int ATT_BM = 64;  // queries per block (16 per warp)
constexpr int ATT_BN = 64;  // keys per tile

template <typename T, int HD>
__global__ void __launch_bounds__(ATT_WARPS *WARP) attention_prefill_kernel(AttnArgs a) {
  constexpr int LD = HD + 8;    // shared row stride (elements): 16-byte rows, conflict-free fragment reads
  constexpr int CH = HD / 8;    // 16-byte chunks per row
  constexpr int KK = HD / 16;   // k-steps of Q K^T
  constexpr int NT = ATT_BN / 8;  // 8-key column tiles of S
  constexpr int DT = HD / 8;      // 8-wide column tiles of O
  __shared__ __align__(16) T ks[ATT_BN * LD];  // K tile (keys, hd); first holds the Q tile
  __shared__ __align__(16) T vs[ATT_BN * LD];  // V tile (keys, hd)
  __shared__ int pos_s[ATT_BM];
  __shared__ int max_pos_s;

  const int tile = gridDim.x - 1 - blockIdx.x;  // the longest query tiles start first
  const int h = blockIdx.y;
  const int t0 = tile * ATT_BM;
  const int tid = threadIdx.x, lane = tid % WARP, warp = tid / WARP;
  const int g = lane / 4, c = lane % 4;
  const int kvh = h / (a.n_heads / a.n_kv_heads);
  const int row_stride = a.n_heads * HD;  // elements between tokens in out
  const T *q = static_cast<const T *>(a.q);

  if (tid == 0) max_pos_s = -1;
  __syncthreads();
  if (tid < ATT_BM) {
    const int t = t0 + tid;
    const int p = t < a.T ? a.positions[t] : -1;
    pos_s[tid] = p;
    atomicMax(&max_pos_s, p);
  }
  // Q tile (64, HD) -> ks, rows past T zero.
#pragma unroll
  for (int it = 0; it < ATT_BM * CH / (ATT_WARPS * WARP); it++) {
    const int i = tid + it * ATT_WARPS * WARP;
    const int r = i / CH, cc = i % CH, t = t0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (t < a.T) v = __ldg(reinterpret_cast<const uint4 *>(q + size_t(t) * a.q_stride + size_t(h) * HD + cc * 8));
    *reinterpret_cast<uint4 *>(&ks[r * LD + cc * 8]) = v;
  }
  __syncthreads();

  // This warp's 16 query rows as A fragments, kept in registers for the whole key loop.
  const int r0 = warp * 16 + g;  // rows r0 and r0 + 8 of the tile belong to this thread
  uint32_t qf[KK][4];
#pragma unroll
  for (int kk = 0; kk < KK; kk++) {
    qf[kk][0] = *reinterpret_cast<const uint32_t *>(&ks[r0 * LD + kk * 16 + 2 * c]);
    qf[kk][1] = *reinterpret_cast<const uint32_t *>(&ks[(r0 + 8) * LD + kk * 16 + 2 * c]);
    qf[kk][2] = *reinterpret_cast<const uint32_t *>(&ks[r0 * LD + kk * 16 + 8 + 2 * c]);
    qf[kk][3] = *reinterpret_cast<const uint32_t *>(&ks[(r0 + 8) * LD + kk * 16 + 8 + 2 * c]);
  }
  const int pos0 = pos_s[r0], pos1 = pos_s[r0 + 8];
  const int n_keys = max_pos_s + 1;
  __syncthreads();  // ks is overwritten by the first key tile

  const T *pool = static_cast<const T *>(a.kv.base);
  const int bt = a.kv.block_tokens;
  const size_t plane = a.kv.plane_elems();
  float o[DT][4];
#pragma unroll
  for (int dt = 0; dt < DT; dt++) o[dt][0] = o[dt][1] = o[dt][2] = o[dt][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;

  for (int kb = 0; kb < n_keys; kb += ATT_BN) {
    // Gather K and V rows kb .. kb + 63 through the block table.
#pragma unroll
    for (int it = 0; it < ATT_BN * CH / (ATT_WARPS * WARP); it++) {
      const int i = tid + it * ATT_WARPS * WARP;
      const int r = i / CH, cc = i % CH, p = kb + r;
      uint4 kv4 = make_uint4(0, 0, 0, 0), vv4 = make_uint4(0, 0, 0, 0);
      if (p < n_keys) {
        const int blk = a.block_table[p / bt];
        if (blk >= 0 && blk < a.kv.n_blocks) {
          const T *krow = pool + a.kv.offset(blk, 0, p % bt) + size_t(kvh) * HD + cc * 8;
          kv4 = __ldg(reinterpret_cast<const uint4 *>(krow));
          vv4 = __ldg(reinterpret_cast<const uint4 *>(krow + plane));
        }
      }
      *reinterpret_cast<uint4 *>(&ks[r * LD + cc * 8]) = kv4;
      *reinterpret_cast<uint4 *>(&vs[r * LD + cc * 8]) = vv4;
    }
    __syncthreads();

    // S (16 x 64 per warp) = Q K^T; B[k][n] = K[key n][dim k], contiguous in k for a key row.
    float sc[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      sc[nt][0] = sc[nt][1] = sc[nt][2] = sc[nt][3] = 0.f;
      const T *krow = &ks[(nt * 8 + g) * LD];
#pragma unroll
      for (int kk = 0; kk < KK; kk++) {
        const uint32_t b0 = *reinterpret_cast<const uint32_t *>(&krow[kk * 16 + 2 * c]);
        const uint32_t b1 = *reinterpret_cast<const uint32_t *>(&krow[kk * 16 + 8 + 2 * c]);
        mma_16816<T>(sc[nt], qf[kk], b0, b1);
      }
    }

    // Causal mask, scale, row maxima (a row's 64 scores are spread over the 4 lanes of a quad).
    float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        const int key = kb + nt * 8 + 2 * c + (e & 1);
        const int pos = e < 2 ? pos0 : pos1;
        sc[nt][e] = key <= pos ? sc[nt][e] * a.scale_log2 : -INFINITY;
      }
      mx0 = fmaxf(mx0, fmaxf(sc[nt][0], sc[nt][1]));
      mx1 = fmaxf(mx1, fmaxf(sc[nt][2], sc[nt][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    const float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
    // A row with nothing visible yet (only padding rows past T) keeps m = -inf: use 0 as the base so
    // that exp2(-inf - base) = 0 instead of NaN.
    const float base0 = mn0 == -INFINITY ? 0.f : mn0, base1 = mn1 == -INFINITY ? 0.f : mn1;
    const float corr0 = exp2f(m0 - base0), corr1 = exp2f(m1 - base1);
    float sum0 = 0.f, sum1 = 0.f;
#pragma unroll
    for (int nt = 0; nt < NT; nt++) {
      sc[nt][0] = exp2f(sc[nt][0] - base0);
      sc[nt][1] = exp2f(sc[nt][1] - base0);
      sc[nt][2] = exp2f(sc[nt][2] - base1);
      sc[nt][3] = exp2f(sc[nt][3] - base1);
      sum0 += sc[nt][0] + sc[nt][1];
      sum1 += sc[nt][2] + sc[nt][3];
    }
    l0 = l0 * corr0 + sum0;  // per-thread partial row sums; the quad is summed once at the end
    l1 = l1 * corr1 + sum1;
    m0 = mn0;
    m1 = mn1;
#pragma unroll
    for (int dt = 0; dt < DT; dt++) {
      o[dt][0] *= corr0;
      o[dt][1] *= corr0;
      o[dt][2] *= corr1;
      o[dt][3] *= corr1;
    }

    // O (16 x HD) += P (16 x 64) V (64 x HD). The S accumulators of key tiles 2j and 2j+1 are exactly
    // the A fragment of k-step j; B[k][n] = V[key k][dim n] is gathered from two key rows.
#pragma unroll
    for (int j = 0; j < ATT_BN / 16; j++) {
      uint32_t pa[4];
      pa[0] = pack_floats<T>(sc[2 * j][0], sc[2 * j][1]);
      pa[1] = pack_floats<T>(sc[2 * j][2], sc[2 * j][3]);
      pa[2] = pack_floats<T>(sc[2 * j + 1][0], sc[2 * j + 1][1]);
      pa[3] = pack_floats<T>(sc[2 * j + 1][2], sc[2 * j + 1][3]);
      const T *v0 = &vs[(j * 16 + 2 * c) * LD + g];
#pragma unroll
      for (int dt = 0; dt < DT; dt++) {
        const uint32_t b0 = pack_pair(v0[dt * 8], v0[LD + dt * 8]);
        const uint32_t b1 = pack_pair(v0[8 * LD + dt * 8], v0[9 * LD + dt * 8]);
        mma_16816<T>(o[dt], pa, b0, b1);
      }
    }
    __syncthreads();  // the next tile overwrites ks / vs
  }

  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
  T *out = static_cast<T *>(a.out);
  const int ta = t0 + r0, tb = t0 + r0 + 8;
#pragma unroll
  for (int dt = 0; dt < DT; dt++) {
    const size_t col = size_t(h) * HD + dt * 8 + 2 * c;
    if (ta < a.T)
      *reinterpret_cast<uint32_t *>(&out[size_t(ta) * row_stride + col]) =
          pack_floats<T>(o[dt][0] * inv0, o[dt][1] * inv0);
    if (tb < a.T)
      *reinterpret_cast<uint32_t *>(&out[size_t(tb) * row_stride + col]) =
          pack_floats<T>(o[dt][2] * inv1, o[dt][3] * inv1);
  }
}

// ---------------------------------------------------------------------------------------------------
// launcher
// ---------------------------------------------------------------------------------------------------

// How many context splits the decode kernel uses for T queries of nh heads: enough blocks for about
// four an SM (a single decode token must still fill the GPU), at most ATT_MAX_SPLITS and
// T * nh * splits <= max_partials (the workspace, sized at the backend's start). Where `slots` (the
// blocks resident at once: SMs x blocks an SM) is given, up to ATT_WAVE_TRIES more splits where they
// fill the last wave clearly better: at batch 32 and 32 heads, 1024 blocks over an H200's 792 slots
// run as 1.29 waves, the second 29 % full, while 3 splits make 3072 blocks, 3.88 waves. The backend
// passes slots by default: a 7B decode step at batch 32 took 9.24 ms against 9.48 without, at 16
// 7.65 against 7.86 (H100, 2026-12-05).
constexpr int ATT_WAVE_TRIES = 3;
inline int attention_splits(int T, int n_heads, int n_sms, int slots, int64_t max_partials) {
  const int64_t blocks = T > 0 && n_heads > 0 ? int64_t(T) * n_heads : 1;
  const auto fits = [&](int64_t s) { return s <= ATT_MAX_SPLITS && blocks * s <= max_partials; };
  int64_t s = ceil_div(4 * int64_t(n_sms), blocks);
  while (s > 1 && !fits(s)) s--;
  if (s < 1) s = 1;
  if (slots > 0) {
    const auto fill = [&](int64_t c) {  // the share of the last wave's slots at work: 1 for whole waves
      const int64_t n = blocks * c;
      return double(n) / double(ceil_div(n, int64_t(slots)) * slots);
    };
    double best = fill(s);
    for (int64_t c = s + 1, last = s + ATT_WAVE_TRIES; c <= last && fits(c); c++)
      if (fill(c) > best + 0.02) {  // another split's merge is worth it only for a clearly fuller wave
        best = fill(c);
        s = c;
      }
  }
  return int(s);
}

// True when every row of q (2-byte elements, q_stride apart) starts 16-byte aligned.
inline bool attention_q_aligned(const void *q, int q_stride) { return reinterpret_cast<uintptr_t>(q) % 16 == 0 && q_stride % 8 == 0; }

// True when the tensor-core prefill kernel takes this call.
inline bool attention_prefill_ok(DType q_dtype, DType out_dtype, DType kv_dtype, int T, int head_dim,
                                 const void *q, int q_stride, const void *out, const void *kv_base, int cc_major) {
  return T >= 16 && cc_major >= 8 && q_dtype == out_dtype && q_dtype == kv_dtype && q_dtype != DType::F32 &&
         (head_dim == 64 || head_dim == 128) && attention_q_aligned(q, q_stride) &&
         reinterpret_cast<uintptr_t>(out) % 4 == 0 && reinterpret_cast<uintptr_t>(kv_base) % 16 == 0;
}

// True when the pipelined decode kernel can take a decode call (the caller also checks the knob).
inline bool attention_pipe_ok(DType q_dtype, DType kv_dtype, int head_dim, const void *q, int q_stride,
                              const void *kv_base, int cc_major) {
  return cc_major >= 8 && q_dtype == kv_dtype && q_dtype != DType::F32 && (head_dim == 64 || head_dim == 128) &&
         attention_q_aligned(q, q_stride) && reinterpret_cast<uintptr_t>(kv_base) % 16 == 0;
}

// Asks for the largest shared-memory carveout for the pipelined kernels (35 KiB a block at hd 128: six
// blocks an SM need ~210 KiB), once per device at the backend's start. Returns the first error.
inline cudaError_t attention_pipe_configure() {
  cudaError_t err = cudaSuccess;
  const auto carve = [&](const void *k) {
    const cudaError_t e = cudaFuncSetAttribute(k, cudaFuncAttributePreferredSharedMemoryCarveout, cudaSharedmemCarveoutMaxShared);
    if (err == cudaSuccess) err = e;
  };
  carve(reinterpret_cast<const void *>(attention_decode_pipe_kernel<__half, 64>));
  carve(reinterpret_cast<const void *>(attention_decode_pipe_kernel<__half, 128>));
  carve(reinterpret_cast<const void *>(attention_decode_pipe_kernel<__nv_bfloat16, 64>));
  carve(reinterpret_cast<const void *>(attention_decode_pipe_kernel<__nv_bfloat16, 128>));
  return err;
}

// Blocks of the pipelined kernel for head_dim hd (64 or 128) resident on one SM, into *n (after
// attention_pipe_configure: the carveout counts), for attention_splits' waves.
inline cudaError_t attention_pipe_blocks_per_sm(int hd, int *n) {
  return hd == 64 ? cudaOccupancyMaxActiveBlocksPerMultiprocessor(n, attention_decode_pipe_kernel<__half, 64>, ATT_WARPS * WARP, 0)
                  : cudaOccupancyMaxActiveBlocksPerMultiprocessor(n, attention_decode_pipe_kernel<__half, 128>, ATT_WARPS * WARP, 0);
}

template <typename T>
inline void attention_pipe_launch(const AttnArgs &a, int splits, bool pdl, cudaStream_t stream) {
  const dim3 grid(unsigned(splits), unsigned(a.n_heads), unsigned(a.T));
  const cudaError_t err = a.head_dim == 64
                              ? launch_kernel(pdl, attention_decode_pipe_kernel<T, 64>, grid, dim3(ATT_WARPS * WARP), stream, a)
                              : launch_kernel(pdl, attention_decode_pipe_kernel<T, 128>, grid, dim3(ATT_WARPS * WARP), stream, a);
  check(err, "attention_decode_pipe_kernel launch", __FILE__, __LINE__);
}

template <typename T>
inline void attention_prefill_launch(const AttnArgs &a, cudaStream_t stream) {
  const dim3 grid(unsigned(ceil_div(a.T, ATT_BM)), unsigned(a.n_heads));
  if (a.head_dim == 64) attention_prefill_kernel<T, 64><<<grid, ATT_WARPS * WARP, 0, stream>>>(a);
  else attention_prefill_kernel<T, 128><<<grid, ATT_WARPS * WARP, 0, stream>>>(a);
  CUDA_CHECK_LAUNCH("attention_prefill_kernel");
}

template <typename TQ, typename TKV, int J>
inline void attention_decode_launch(const AttnArgs &a, int splits, bool pdl, cudaStream_t stream) {
  const dim3 grid(unsigned(splits), unsigned(a.n_heads), unsigned(a.T));
  // FULL: one vector load per lane per row, which needs hd == 32 J and aligned rows.
  const bool full = a.head_dim == WARP * J && reinterpret_cast<uintptr_t>(a.q) % 16 == 0 &&
                    (size_t(a.q_stride) * sizeof(TQ)) % 16 == 0 && reinterpret_cast<uintptr_t>(a.kv.base) % 16 == 0;
  const cudaError_t err = full ? launch_kernel(pdl, attention_decode_kernel<TQ, TKV, J, true>, grid,
                                               dim3(ATT_WARPS * WARP), stream, a)
                               : launch_kernel(pdl, attention_decode_kernel<TQ, TKV, J, false>, grid,
                                               dim3(ATT_WARPS * WARP), stream, a);
  check(err, "attention_decode_kernel launch", __FILE__, __LINE__);
}

// Which kernel takes a call (attention_forward).
enum class AttnKernel { Prefill, Pipe, Generic };

// `splits` must be what attention_splits() returned for the workspace in `a` (1 needs none; the prefill
// kernel takes none). The caller has checked dtypes (q == out), head_dim <= 256, the divisibility of the
// heads and, for Prefill and Pipe, their _ok(). pdl: launch the decode kernels with programmatic
// dependent launch (common.cuh).
inline void attention_forward(const AttnArgs &a, DType q_dtype, DType kv_dtype, AttnKernel kernel, int splits,
                              bool pdl, cudaStream_t stream) {
  if (a.T == 0) return;
  if (kernel == AttnKernel::Prefill) {
    if (q_dtype == DType::F16) attention_prefill_launch<__half>(a, stream);
    else attention_prefill_launch<__nv_bfloat16>(a, stream);
    return;
  }
  if (kernel == AttnKernel::Pipe) {
    if (q_dtype == DType::F16) attention_pipe_launch<__half>(a, splits, pdl, stream);
    else attention_pipe_launch<__nv_bfloat16>(a, splits, pdl, stream);
    return;
  }
  VL_DISPATCH_DTYPE(q_dtype, TQ, {
    VL_DISPATCH_DTYPE(kv_dtype, TKV, {
      if (a.head_dim <= 32) attention_decode_launch<TQ, TKV, 1>(a, splits, pdl, stream);
      else if (a.head_dim <= 64) attention_decode_launch<TQ, TKV, 2>(a, splits, pdl, stream);
      else if (a.head_dim <= 128) attention_decode_launch<TQ, TKV, 4>(a, splits, pdl, stream);
      else attention_decode_launch<TQ, TKV, 8>(a, splits, pdl, stream);
    });
  });
}

}  // namespace cuda
}  // namespace vl
