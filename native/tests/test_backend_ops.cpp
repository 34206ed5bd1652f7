// test_backend_ops.cpp: every op of backend.h on every available backend against the CPU backend,
// the fp32 reference (like ggml's test-backend-ops).
//
// For each case the same seeded random inputs (never zeros) are built on the CPU backend and on the
// backend under test, through the public Backend interface only. Activations and KV values are first
// rounded to the tested backend's dtypes, so both backends see exactly the same numbers and the only
// difference is the computation. The outputs are compared by relative L2 error against a tolerance
// set by the dtype the tested backend writes (F32 1e-4, F16 2e-3, BF16 1e-2).
//
// Output: one line per case and backend, `op backend shape rel_err PASS|FAIL`; `SKIP cuda: <reason>`
// when no GPU can be opened. Exit status 1 on any failure.
//
// Usage: test-backend-ops [-o OP] [DEVICE...]     (default devices: cuda:0, and cuda:0 again with
//        VRAMLAB_CUDA_NO_CUBLAS=1 to cover the fallback GEMM)
//        test-backend-ops --perf [DEVICE]          (default cuda:0) kernel-level performance: the
//        device-to-device copy bandwidth (the HBM floor's denominator), decode GEMVs of the Llama-2-7B
//        shapes (plain and fused), and a synthetic Llama-2-7B fp16 forward through the Backend
//        interface (72-token prompt, then 50 decode steps with and without the fused ops, kernel by
//        kernel and replayed as a graph, and a 512-token prefill) against the targets. The
//        line "decode per token as the engine runs it" is the engine's decode step. Needs ~14 GB.
//        test-backend-ops --perf-gemv [DEVICE]     only the copy bandwidth and the GEMVs (~3.5 GB, seconds)
//        test-backend-ops --perf-tiny [DEVICE]     everything on a toy shape (a smoke test, e.g. on cpu)
//        test-backend-ops --perf-batch [DEVICE]    a batched decode step's parts against the batch size
//        test-backend-ops --perf-prefill [DEVICE [7b|13b|tiny [T,...]]]   a prefill's ops, each with its
//        TFLOP/s and share of a large GEMM's rate, and the pass against its FLOP floor
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "backend.h"
#include "backend_registry.h"
#include "dtype.h"
#include "error.h"

using namespace vl;

namespace {

// ---- deterministic random numbers ----

struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull) {}
  uint64_t next() {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * float(next() >> 40) / float(1 << 24); }
  int randint(int lo, int hi) { return lo + int(next() % uint64_t(hi - lo)); }  // [lo, hi)
};

float round_to(float v, DType dt) {
  uint16_t h;
  switch (dt) {
    case DType::F16: h = f32_to_f16(v); return f16_to_f32(h);
    case DType::BF16: h = f32_to_bf16(v); return bf16_to_f32(h);
    default: return v;
  }
}

// n values uniform in [-scale, scale], rounded to `dt` (what a backend holding them in dt sees).
std::vector<float> random_values(Rng &rng, size_t n, float scale, DType dt) {
  std::vector<float> v(n);
  for (float &x : v) {
    float r = rng.uniform(-scale, scale);
    if (std::fabs(r) < 1e-3f * scale) r = 1e-3f * scale;  // never zero
    x = round_to(r, dt);
  }
  return v;
}

// The coarser of two dtypes: values rounded to it are exact in both (F16 vs BF16: BF16, exact in F16
// for the small magnitudes used here).
DType coarser(DType a, DType b) {
  if (a == DType::F32) return b;
  if (b == DType::F32 || a == b) return a;
  return DType::BF16;
}

// ---- one backend's side of a case ----

struct Ctx {
  Backend &be;
  DType act, kvdt;  // this backend's activation and KV dtypes
  DType qa, qk;     // dtypes inputs are rounded through (both backends' act, resp. kv dtypes)
  std::vector<void *> allocs;

  Ctx(Backend &b, DType qa_, DType qk_) : be(b), act(b.activation_dtype()), kvdt(b.kv_dtype()), qa(qa_), qk(qk_) {}
  ~Ctx() {
    for (void *p : allocs) be.device_free(p);
  }
  void *alloc(size_t bytes) {
    void *p = be.device_alloc(bytes);
    allocs.push_back(p);
    return p;
  }
  void upload_bytes(void *dst, const void *src, size_t bytes) {
    be.copy(dst, src, bytes, CopyKind::HostToDevice, StreamId::Compute);
    be.synchronize(StreamId::Compute);
  }
  Tensor upload(const std::vector<float> &v, DType dt, int64_t rows, int64_t cols) {
    std::vector<uint8_t> host(v.size() * dtype_size(dt));
    for (size_t i = 0; i < v.size(); i++) store_f32(host.data(), dt, i, v[i]);
    Tensor t{alloc(host.size()), dt, rows, cols};
    upload_bytes(t.data, host.data(), host.size());
    return t;
  }
  Tensor empty(DType dt, int64_t rows, int64_t cols) {
    // Filled with a sentinel, not zeros, so that unwritten outputs show.
    std::vector<float> v(size_t(rows * cols), 7.0f);
    return upload(v, dt, rows, cols);
  }
  template <typename T> T *upload_vec(const std::vector<T> &v) {
    T *p = static_cast<T *>(alloc(v.size() * sizeof(T)));
    upload_bytes(p, v.data(), v.size() * sizeof(T));
    return p;
  }
  std::vector<float> download(const void *p, DType dt, size_t n) {
    std::vector<uint8_t> host(n * dtype_size(dt));
    be.copy(host.data(), p, host.size(), CopyKind::DeviceToHost, StreamId::Compute);
    be.synchronize(StreamId::Compute);
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) v[i] = load_f32(host.data(), dt, i);
    return v;
  }
  std::vector<float> download(const Tensor &t) { return download(t.data, t.dtype, size_t(t.rows * t.cols)); }
};

struct Result {
  std::vector<float> v;
  DType dt = DType::F32;  // the dtype the backend wrote
};

struct Case {
  std::string op, shape;
  double min_tol;  // a floor on the tolerance, for cases whose inputs a backend must round (see matmul)
  std::function<Result(Ctx &)> run;
};

double tol_for(DType dt) { return dt == DType::F32 ? 1e-4 : dt == DType::F16 ? 2e-3 : 1e-2; }

double rel_l2(const std::vector<float> &a, const std::vector<float> &ref) {
  if (a.size() != ref.size()) return INFINITY;
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); i++) {
    const double d = double(a[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

const char *name(DType t) { return dtype_name(t); }

// ---- the cases ----

// A random paged pool of `blocks` blocks plus the slots of positions [first, first + n) of a sequence
// whose block table `table` is a shuffle of the pool's blocks.
struct PoolSetup {
  KvLayout kv;
  Tensor pool;
  std::vector<int32_t> table;
};
PoolSetup random_pool(Ctx &c, Rng &rng, int32_t blocks, int32_t layers, int32_t block_tokens, int32_t kv_dim) {
  PoolSetup p;
  p.kv.dtype = c.kvdt;
  p.kv.n_blocks = blocks;
  p.kv.n_layers = layers;
  p.kv.block_tokens = block_tokens;
  p.kv.kv_dim = kv_dim;
  const size_t n = p.kv.bytes() / dtype_size(p.kv.dtype);
  p.pool = c.upload(random_values(rng, n, 1.f, c.qk), p.kv.dtype, 1, int64_t(n));
  p.kv.base = p.pool.data;
  p.table.resize(size_t(blocks));
  std::iota(p.table.begin(), p.table.end(), 0);
  for (size_t i = p.table.size() - 1; i > 0; i--) std::swap(p.table[i], p.table[size_t(rng.next() % (i + 1))]);
  return p;
}
std::vector<float> rope_inv_freq(int hd) {
  std::vector<float> inv(size_t(hd / 2));
  for (int i = 0; i < hd / 2; i++) inv[size_t(i)] = std::pow(10000.f, -2.f * i / float(hd));
  return inv;
}
std::vector<float> concat(std::vector<float> a, const std::vector<float> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
Tensor cols_of(const Tensor &row, int64_t first, int64_t n) {
  return Tensor{static_cast<char *>(row.data) + size_t(first) * dtype_size(row.dtype), row.dtype, 1, n};
}

// The fused ops (optional in backend.h): a backend's override against the CPU backend's default chain.
// On CUDA, T <= 8 takes the fused GEMVs (T = 1: 4-row groups for one token; 3: four tokens' registers;
// 8: 2-row groups; not where the skinny GEMM takes T >= 2) and T = 12 the default chain, whose intermediate (the normed or
// activated input) is rounded to the activation dtype, and to BF16 for BF16 weights: hence the floors
// (as for matmul). Shapes with N % 4 != 0 end in a partial row group; K = 4096 with few rows makes the
// GEMV split K between 2 or 4 warps.
void add_fused_cases(std::vector<Case> &cases) {
  const DType wdts[] = {DType::F16, DType::BF16, DType::F32};
  const auto floor_for = [](int T, DType wt) { return T > 8 ? (wt == DType::BF16 ? 1e-2 : 2e-3) : 0.0; };
  // T = 2..8 with F16 weights and K % 64 == 0: the skinny GEMM's chain (its input rounded to F16 first)
  // instead of the fused GEMV, as for T > 8.
  const auto chain_floor = [&](int T, DType wt, int K) {
    return T >= 2 && wt == DType::F16 && K % 64 == 0 ? floor_for(12, wt) : floor_for(T, wt);
  };
  struct NK { int N, K; };

  // rmsnorm_matmul: out (T, N) = rmsnorm(x (T, K) F32, nw) . w^T (+ out)
  for (DType wt : wdts)
    for (int T : {1, 3, 8, 12})
      for (NK nk : {NK{202, 1024}, NK{256, 4096}})
        for (bool acc : {false, true}) {
          if (nk.K == 4096 && (acc || T == 8)) continue;
          cases.push_back({"rmsnorm_matmul",
                           "T=" + std::to_string(T) + " N=" + std::to_string(nk.N) + " K=" + std::to_string(nk.K) +
                               " w=" + name(wt) + (acc ? " out=F32 acc=1" : " out=act acc=0"),
                           chain_floor(T, wt, nk.K), [=](Ctx &c) {
                             Rng rng(11);
                             Tensor x = c.upload(random_values(rng, size_t(T) * nk.K, 3.f, DType::F32), DType::F32, T, nk.K);
                             Tensor nw = c.upload(random_values(rng, size_t(nk.K), 1.f, wt), wt, 1, nk.K);
                             Tensor w = c.upload(random_values(rng, size_t(nk.N) * nk.K, 0.1f, wt), wt, nk.N, nk.K);
                             const DType odt = acc ? DType::F32 : c.act;
                             Tensor out = c.upload(random_values(rng, size_t(T) * nk.N, 1.f, DType::F32), odt, T, nk.N);
                             Tensor scratch = c.empty(c.act, 16, nk.K);
                             c.be.rmsnorm_matmul(out, x, nw, 1e-5f, w, acc, scratch);
                             return Result{c.download(out), out.dtype};
                           }});
        }

  // swiglu_matmul: out (T, N) = (silu(gate) * up) (T, F) . w^T (+ out)
  for (DType wt : wdts)
    for (int T : {1, 3, 8, 12})
      for (NK nk : {NK{98, 1000}, NK{256, 11008}})
        for (bool acc : {false, true}) {
          if (nk.K == 11008 && (!acc || T == 8 || wt == DType::F32)) continue;
          cases.push_back({"swiglu_matmul",
                           "T=" + std::to_string(T) + " N=" + std::to_string(nk.N) + " F=" + std::to_string(nk.K) +
                               " w=" + name(wt) + (acc ? " out=F32 acc=1" : " out=act acc=0"),
                           chain_floor(T, wt, nk.K), [=](Ctx &c) {
                             Rng rng(12);
                             Tensor g = c.upload(random_values(rng, size_t(T) * nk.K, 6.f, c.qa), c.act, T, nk.K);
                             Tensor u = c.upload(random_values(rng, size_t(T) * nk.K, 2.f, c.qa), c.act, T, nk.K);
                             Tensor w = c.upload(random_values(rng, size_t(nk.N) * nk.K, 0.05f, wt), wt, nk.N, nk.K);
                             const DType odt = acc ? DType::F32 : c.act;
                             Tensor out = c.upload(random_values(rng, size_t(T) * nk.N, 1.f, DType::F32), odt, T, nk.N);
                             Tensor scratch = c.empty(c.act, T, nk.K);
                             c.be.swiglu_matmul(out, g, u, w, acc, scratch);
                             return Result{c.download(out), out.dtype};
                           }});
        }

  // rope_kv_store on q | k | v rows, and rmsnorm_qkv_rope_store: the rows and the whole pool are
  // compared (untouched slots must stay as they were). Positions up to 4000 (large angles).
  struct QKV { int nh, nkv, hd, H; };
  const QKV qkvs[] = {{4, 2, 128, 512}, {8, 2, 16, 256}, {3, 3, 64, 196}};
  for (const QKV &s : qkvs)
    for (int T : {1, 3}) {
      char shape[120];
      std::snprintf(shape, sizeof shape, "T=%d nh=%d nkv=%d hd=%d", T, s.nh, s.nkv, s.hd);
      cases.push_back({"rope_kv_store", shape, 0, [=](Ctx &c) {
                         Rng rng(13);
                         const int width = (s.nh + 2 * s.nkv) * s.hd;
                         PoolSetup p = random_pool(c, rng, 8, 2, 16, s.nkv * s.hd);
                         std::vector<int32_t> pos(static_cast<size_t>(T)), slots(static_cast<size_t>(T));
                         for (int t = 0; t < T; t++) {
                           pos[size_t(t)] = rng.randint(0, 4000);
                           slots[size_t(t)] = p.table[size_t(t)] * 16 + rng.randint(0, 16);  // distinct blocks
                         }
                         Tensor qkv = c.upload(random_values(rng, size_t(T) * width, 1.f, c.qa), c.act, T, width);
                         c.be.rope_kv_store(qkv, s.hd, c.upload_vec(pos), c.upload_vec(rope_inv_freq(s.hd)), p.kv, 1,
                                            c.upload_vec(slots));
                         return Result{concat(c.download(qkv), c.download(p.pool)), c.act};
                       }});
    }
  for (DType wt : wdts)
    for (const QKV &s : qkvs)
      for (int T : {1, 3, 8, 12}) {
        if (s.H % 8 != 0 && T > 1) continue;  // H = 196: K % 8 != 0, the default chain; T = 1 is enough
        char shape[120];
        std::snprintf(shape, sizeof shape, "T=%d H=%d nh=%d nkv=%d hd=%d w=%s", T, s.H, s.nh, s.nkv, s.hd, name(wt));
        cases.push_back({"rmsnorm_qkv_rope_store", shape, chain_floor(T, wt, s.H), [=](Ctx &c) {
                           Rng rng(14);
                           const int width = (s.nh + 2 * s.nkv) * s.hd;
                           PoolSetup p = random_pool(c, rng, 16, 2, 16, s.nkv * s.hd);
                           std::vector<int32_t> pos(static_cast<size_t>(T)), slots(static_cast<size_t>(T));
                           for (int t = 0; t < T; t++) {
                             pos[size_t(t)] = rng.randint(0, 4000);
                             slots[size_t(t)] = p.table[size_t(t)] * 16 + rng.randint(0, 16);
                           }
                           Tensor x = c.upload(random_values(rng, size_t(T) * s.H, 3.f, DType::F32), DType::F32, T, s.H);
                           Tensor nw = c.upload(random_values(rng, size_t(s.H), 1.f, wt), wt, 1, s.H);
                           Tensor w = c.upload(random_values(rng, size_t(width) * s.H, 0.1f, wt), wt, width, s.H);
                           Tensor qkv = c.empty(c.act, T, width);
                           Tensor scratch = c.empty(c.act, T, s.H);
                           c.be.rmsnorm_qkv_rope_store(qkv, x, nw, 1e-5f, w, s.hd, c.upload_vec(pos),
                                                       c.upload_vec(rope_inv_freq(s.hd)), p.kv, 1, c.upload_vec(slots),
                                                       scratch);
                           return Result{concat(c.download(qkv), c.download(p.pool)), c.act};
                         }});
      }

  // decode_layer: two layers of the engine's one-token step through the fused ops, issued back to back
  // with no synchronization in between (on CUDA the kernels overlap through programmatic dependent
  // launch, so a missing wait shows here), directly and recorded as a graph then replayed. The
  // residual stream and the whole pool are compared; the floor covers the activation-dtype rounding
  // of q | k | v, attention output and gate | up that the CPU does not do.
  for (DType wt : {DType::F16, DType::BF16})
    for (bool graph : {false, true}) {
      const std::string shape = std::string("T=1 past=40 H=256 nh=4 nkv=2 hd=64 F=688 2 layers w=") + name(wt) +
                                (graph ? " graph" : " direct");
      cases.push_back({"decode_layer", shape, 5e-3, [=](Ctx &c) {
                         Rng rng(15);
                         const int H = 256, NH = 4, NKV = 2, HD = 64, F = 688, L = 2, past = 40;
                         const int QD = NH * HD, KVD = NKV * HD, WIDTH = QD + 2 * KVD;
                         PoolSetup p = random_pool(c, rng, 6, L, 16, KVD);
                         struct W { Tensor n1, wqkv, wo, n2, wgu, wd; };
                         std::vector<W> ws;
                         for (int l = 0; l < L; l++) {
                           W w;
                           w.n1 = c.upload(random_values(rng, H, 1.f, wt), wt, 1, H);
                           w.wqkv = c.upload(random_values(rng, size_t(WIDTH) * H, 0.08f, wt), wt, WIDTH, H);
                           w.wo = c.upload(random_values(rng, size_t(H) * QD, 0.08f, wt), wt, H, QD);
                           w.n2 = c.upload(random_values(rng, H, 1.f, wt), wt, 1, H);
                           w.wgu = c.upload(random_values(rng, size_t(2 * F) * H, 0.08f, wt), wt, 2 * F, H);
                           w.wd = c.upload(random_values(rng, size_t(H) * F, 0.05f, wt), wt, H, F);
                           ws.push_back(w);
                         }
                         const std::vector<int32_t> pos = {past}, slots = {p.table[past / 16] * 16 + past % 16};
                         const int32_t *d_pos = c.upload_vec(pos), *d_slots = c.upload_vec(slots);
                         const int32_t *d_table = c.upload_vec(p.table);
                         const float *d_inv = c.upload_vec(rope_inv_freq(HD));
                         Tensor x = c.upload(random_values(rng, H, 1.f, DType::F32), DType::F32, 1, H);
                         Tensor qkv = c.empty(c.act, 1, WIDTH), attn = c.empty(c.act, 1, QD);
                         Tensor gu = c.empty(c.act, 1, 2 * F), h = c.empty(c.act, 1, H);
                         const auto step = [&] {
                           for (int l = 0; l < L; l++) {
                             const W &w = ws[size_t(l)];
                             c.be.rmsnorm_qkv_rope_store(qkv, x, w.n1, 1e-5f, w.wqkv, HD, d_pos, d_inv, p.kv, l, d_slots, h);
                             c.be.attention(attn, qkv, p.kv, l, d_table, nullptr, d_pos, NH, NKV, HD,
                                            1.f / std::sqrt(float(HD)));
                             c.be.matmul(x, attn, w.wo, true);
                             c.be.rmsnorm_matmul(gu, x, w.n2, 1e-5f, w.wgu, false, h);
                             Tensor gate = cols_of(gu, 0, F);
                             c.be.swiglu_matmul(x, gate, cols_of(gu, F, F), w.wd, true, gate);
                           }
                         };
                         if (graph && c.be.graph_begin()) {
                           Graph *g = nullptr;
                           try {
                             step();
                           } catch (...) {
                             c.be.graph_destroy(c.be.graph_end());
                             throw;
                           }
                           g = c.be.graph_end();
                           if (!g) throw Error(VL_ERR_DEVICE, "graph recording failed (graph_end returned null)");
                           c.be.graph_launch(g);
                           c.be.synchronize(StreamId::Compute);
                           c.be.graph_destroy(g);
                         } else {
                           step();
                         }
                         return Result{concat(c.download(x), c.download(p.pool)), DType::F32};
                       }});
    }
}

std::vector<Case> make_cases() {
  std::vector<Case> cases;
  const DType wdts[] = {DType::F16, DType::BF16, DType::F32};

  // embed: out (T, H) F32 = table[ids]
  for (DType wt : wdts) {
    const int V = 300, H = 256, T = 7;
    cases.push_back({"embed", "T=7 V=300 H=256 table=" + std::string(name(wt)), 0, [=](Ctx &c) {
                       Rng rng(1);
                       Tensor table = c.upload(random_values(rng, size_t(V) * H, 1.f, wt), wt, V, H);
                       std::vector<int32_t> ids(T);
                       for (int32_t &id : ids) id = rng.randint(0, V);
                       Tensor out = c.empty(DType::F32, T, H);
                       c.be.embed(out, table, c.upload_vec(ids));
                       return Result{c.download(out), out.dtype};
                     }});
  }

  // rmsnorm: x (T, H) F32 -> out in the activation dtype, or F32
  for (DType wt : wdts)
    for (int H : {4096, 100})
      for (bool f32_out : {false, true}) {
        const int T = 5;
        cases.push_back({"rmsnorm",
                         "T=5 H=" + std::to_string(H) + " w=" + name(wt) + " out=" + (f32_out ? "F32" : "act"), 0,
                         [=](Ctx &c) {
                           Rng rng(2);
                           Tensor x = c.upload(random_values(rng, size_t(T) * H, 3.f, DType::F32), DType::F32, T, H);
                           Tensor w = c.upload(random_values(rng, size_t(H), 1.f, wt), wt, 1, H);
                           Tensor out = c.empty(f32_out ? DType::F32 : c.act, T, H);
                           c.be.rmsnorm(out, x, w, 1e-5f);
                           return Result{c.download(out), out.dtype};
                         }});
      }

  // matmul: out (T, N) = x (T, K) . w (N, K)^T (+ out). On CUDA, T = 2..8 with K % 64 == 0 and x in
  // w's dtype takes the skinny tensor-core GEMM (gemm_skinny.cuh; the shapes below cover T and N off
  // its 8-token and 32-row tiles, and K of 1 to 19 chunks over its 8 warps), other T <= 8 the GEMV,
  // larger T cuBLAS (or the tiled fallback; T = 9..32 are batched decode steps). With BF16 weights and
  // F16 activations cuBLAS needs x rounded to BF16, hence the 1e-2 floor.
  struct MM { int T, N, K; };
  const MM mms[] = {{1, 96, 256},  {3, 96, 256}, {8, 96, 256},  {37, 96, 256},  {1, 37, 99},
                    {37, 37, 99},  {2, 33, 64},  {5, 100, 192}, {7, 70, 320}, {6, 96, 1216},
                    {9, 37, 192},  {12, 260, 4096}, {16, 130, 1216}, {24, 96, 256}, {32, 300, 1024}};
  for (DType wt : wdts)
    for (const MM &mm : mms)
      for (bool acc : {false, true}) {
        const double floor_tol = wt == DType::BF16 ? 1e-2 : 0;
        cases.push_back({"matmul",
                         "T=" + std::to_string(mm.T) + " N=" + std::to_string(mm.N) + " K=" + std::to_string(mm.K) +
                             " w=" + name(wt) + (acc ? " out=F32 acc=1" : " out=act acc=0"),
                         floor_tol, [=](Ctx &c) {
                           Rng rng(3);
                           Tensor x = c.upload(random_values(rng, size_t(mm.T) * mm.K, 1.f, c.qa), c.act, mm.T, mm.K);
                           Tensor w = c.upload(random_values(rng, size_t(mm.N) * mm.K, 0.2f, wt), wt, mm.N, mm.K);
                           const DType odt = acc ? DType::F32 : c.act;
                           Tensor out = c.upload(random_values(rng, size_t(mm.T) * mm.N, 1.f, DType::F32), odt, mm.T,
                                                 mm.N);
                           c.be.matmul(out, x, w, acc);
                           return Result{c.download(out), out.dtype};
                         }});
      }
  // Larger shapes: a GEMV over many blocks (the decode shape class), logits-like F32 output, and a
  // prefill GEMM with several tiles in each direction.
  cases.push_back({"matmul", "T=1 N=1000 K=4096 w=F16 out=F32 acc=0 (lm_head-like)", 0, [](Ctx &c) {
                     Rng rng(4);
                     Tensor x = c.upload(random_values(rng, 4096, 1.f, c.qa), c.act, 1, 4096);
                     Tensor w = c.upload(random_values(rng, size_t(1000) * 4096, 0.05f, DType::F16), DType::F16, 1000, 4096);
                     Tensor out = c.empty(DType::F32, 1, 1000);
                     c.be.matmul(out, x, w, false);
                     return Result{c.download(out), out.dtype};
                   }});
  cases.push_back({"matmul", "T=130 N=300 K=520 w=F16 out=act acc=0", 0, [](Ctx &c) {
                     Rng rng(5);
                     Tensor x = c.upload(random_values(rng, size_t(130) * 520, 1.f, c.qa), c.act, 130, 520);
                     Tensor w = c.upload(random_values(rng, size_t(300) * 520, 0.1f, DType::F16), DType::F16, 300, 520);
                     Tensor out = c.empty(c.act, 130, 300);
                     c.be.matmul(out, x, w, false);
                     return Result{c.download(out), out.dtype};
                   }});

  // matmul_pair: out_a, out_b (T, N) = x . w[:N]^T, x . w[N:]^T with w (2N, K) stacked ([gate; up]);
  // out_b a row past out_a's end in one buffer. On CUDA T > 8 is one batched cuBLAS GEMM (T = 40 and
  // 50 share a tuned bucket: the algo timed at 40 runs 50), T <= 8 two matmuls.
  for (DType wt : {DType::F16, DType::BF16})
    for (const MM &mm : {MM{3, 100, 256}, MM{12, 100, 1216}, MM{40, 256, 512}, MM{50, 256, 512}, MM{130, 60, 256}}) {
      cases.push_back({"matmul_pair", "T=" + std::to_string(mm.T) + " N=2x" + std::to_string(mm.N) + " K=" + std::to_string(mm.K) + " w=" + name(wt),
                       wt == DType::BF16 ? 1e-2 : 0, [=](Ctx &c) {
                         Rng rng(12);
                         Tensor x = c.upload(random_values(rng, size_t(mm.T) * mm.K, 1.f, c.qa), c.act, mm.T, mm.K);
                         Tensor w = c.upload(random_values(rng, size_t(2 * mm.N) * mm.K, 0.2f, wt), wt, 2 * mm.N, mm.K);
                         Tensor both = c.empty(c.act, 2 * mm.T + 1, mm.N);
                         c.be.matmul_pair(both.rows_slice(0, mm.T), both.rows_slice(mm.T + 1, mm.T), x, w);
                         std::vector<float> a = c.download(both.rows_slice(0, mm.T)), b = c.download(both.rows_slice(mm.T + 1, mm.T));
                         return Result{concat(a, b), c.act};
                       }});
    }

  // rope: in place on x (T, heads * hd), positions up to 4000 (large angles)
  for (int hd : {64, 128}) {
    const int T = 9, heads = 4;
    cases.push_back({"rope", "T=9 heads=4 hd=" + std::to_string(hd), 0, [=](Ctx &c) {
                       Rng rng(6);
                       Tensor x = c.upload(random_values(rng, size_t(T) * heads * hd, 1.f, c.qa), c.act, T, heads * hd);
                       std::vector<int32_t> pos(T);
                       for (int32_t &p : pos) p = rng.randint(0, 4000);
                       std::vector<float> inv_freq(size_t(hd / 2));
                       for (int i = 0; i < hd / 2; i++) inv_freq[size_t(i)] = std::pow(10000.f, -2.f * i / float(hd));
                       c.be.rope(x, hd, c.upload_vec(pos), c.upload_vec(inv_freq));
                       return Result{c.download(x), x.dtype};
                     }});
  }

  // kv_store: scatter 20 rows into a prefilled pool at random distinct slots of layer 1; the whole
  // pool is compared (untouched slots must stay as they were).
  {
    cases.push_back({"kv_store", "T=20 pool=(6 blocks, 2 layers, 16 tokens, kv_dim 256) layer=1", 0, [](Ctx &c) {
                       Rng rng(7);
                       KvLayout kv;
                       kv.dtype = c.kvdt;
                       kv.n_blocks = 6;
                       kv.n_layers = 2;
                       kv.block_tokens = 16;
                       kv.kv_dim = 256;
                       const size_t n = kv.bytes() / dtype_size(kv.dtype);
                       Tensor pool = c.upload(random_values(rng, n, 1.f, c.qk), kv.dtype, 1, int64_t(n));
                       kv.base = pool.data;
                       const int T = 20;
                       std::vector<int32_t> slots(size_t(kv.n_blocks * kv.block_tokens));
                       std::iota(slots.begin(), slots.end(), 0);
                       for (size_t i = slots.size() - 1; i > 0; i--) std::swap(slots[i], slots[size_t(rng.next() % (i + 1))]);
                       slots.resize(T);
                       Tensor k = c.upload(random_values(rng, size_t(T) * 256, 1.f, c.qk), c.act, T, 256);
                       Tensor v = c.upload(random_values(rng, size_t(T) * 256, 1.f, c.qk), c.act, T, 256);
                       c.be.kv_store(kv, 1, k, v, c.upload_vec(slots));
                       return Result{c.download(pool), kv.dtype};
                     }});
  }

  // attention over a paged pool whose block table holds shuffled, non-contiguous block ids.
  // qkv: q passed as whole q | k | v rows (the engine's fused projection), the queries their first columns.
  struct AT { int T, n_past, nh, nkv, hd, bt; const char *what; bool qkv = false; };
  const AT ats[] = {
      {37, 0, 8, 2, 128, 16, "prefill GQA"},
      {100, 50, 4, 2, 64, 16, "prefill GQA, 2 query tiles, past"},
      {20, 5, 4, 1, 128, 16, "prefill MQA"},
      {30, 3, 2, 1, 64, 7, "prefill, block_tokens 7"},
      {1, 299, 8, 8, 128, 16, "decode MHA"},
      {1, 40, 8, 1, 64, 16, "decode MQA"},
      {1, 2000, 8, 2, 128, 16, "decode GQA, long context (splits)"},
      {4, 30, 4, 2, 128, 16, "4 tokens"},
      {3, 10, 4, 2, 80, 16, "hd 80"},
      {20, 10, 4, 2, 80, 16, "prefill hd 80 (generic kernel)"},
      {37, 20, 8, 2, 128, 16, "prefill GQA, q | k | v rows", true},
      {20, 10, 4, 2, 80, 16, "prefill hd 80, q | k | v rows", true},
      {1, 2000, 8, 2, 128, 16, "decode GQA splits, q | k | v rows", true},
  };
  for (const AT &at : ats) {
    char shape[160];
    std::snprintf(shape, sizeof shape, "T=%d past=%d nh=%d nkv=%d hd=%d bt=%d (%s)", at.T, at.n_past, at.nh, at.nkv,
                  at.hd, at.bt, at.what);
    cases.push_back({"attention", shape, 0, [=](Ctx &c) {
                       Rng rng(8);
                       const int ctx = at.n_past + at.T;
                       const int used = (ctx + at.bt - 1) / at.bt;
                       PoolSetup p = random_pool(c, rng, used + 3, 2, at.bt, at.nkv * at.hd);
                       p.table.resize(size_t(used));
                       std::vector<int32_t> pos(size_t(at.T));
                       for (int t = 0; t < at.T; t++) pos[size_t(t)] = at.n_past + t;
                       const int width = at.nh * at.hd, qw = at.qkv ? (at.nh + 2 * at.nkv) * at.hd : width;
                       Tensor q = c.upload(random_values(rng, size_t(at.T) * qw, 1.f, c.qa), c.act, at.T, qw);
                       Tensor out = c.empty(c.act, at.T, width);
                       c.be.attention(out, q, p.kv, 1, c.upload_vec(p.table), nullptr, c.upload_vec(pos), at.nh, at.nkv, at.hd,
                                      1.f / std::sqrt(float(at.hd)));
                       return Result{c.download(out), out.dtype};
                     }});
  }

  // attention of a batch of sequences: each query reads its own block table (tables), as a batched
  // decode step of many sessions does; sequences of different lengths, tables interleaved in the pool.
  struct BT { int seqs, longest, nh, nkv, hd, bt; const char *what; bool qkv = false; };
  const BT bts[] = {
      {5, 300, 8, 2, 128, 16, "5 sessions GQA"},
      {32, 700, 8, 8, 64, 16, "32 sessions MHA"},
      {3, 2000, 4, 1, 128, 16, "3 sessions MQA, long contexts (splits)"},
      {7, 90, 4, 2, 80, 7, "7 sessions hd 80, block_tokens 7"},
      {6, 150, 4, 2, 128, 7, "6 sessions, block_tokens 7 (blocks end inside a pipelined tile)"},
      {32, 700, 8, 8, 128, 16, "32 sessions MHA, q | k | v rows", true},
      {32, 300, 32, 32, 128, 16, "32 sessions x 32 heads (1024 blocks, over a wave)"},
      {7, 90, 4, 2, 80, 7, "7 sessions hd 80, q | k | v rows", true},
  };
  for (const BT &bt : bts) {
    char shape[160];
    std::snprintf(shape, sizeof shape, "batch=%d longest=%d nh=%d nkv=%d hd=%d bt=%d (%s)", bt.seqs, bt.longest, bt.nh, bt.nkv,
                  bt.hd, bt.bt, bt.what);
    cases.push_back({"attention", shape, 0, [=](Ctx &c) {
                       Rng rng(12);
                       // Sequence i has ctx[i] positions (its query at the last), its blocks shuffled over the pool.
                       std::vector<int> ctx(size_t(bt.seqs));
                       int blocks = 0;
                       for (int i = 0; i < bt.seqs; i++) {
                         ctx[size_t(i)] = 1 + int(rng.next() % uint32_t(bt.longest));
                         blocks += (ctx[size_t(i)] + bt.bt - 1) / bt.bt;
                       }
                       PoolSetup p = random_pool(c, rng, blocks + 2, 2, bt.bt, bt.nkv * bt.hd);
                       // The tables back to back; tables[i] says where sequence i's starts.
                       std::vector<int32_t> offsets(size_t(bt.seqs)), pos(size_t(bt.seqs));
                       int at = 0;
                       for (int i = 0; i < bt.seqs; i++) {
                         offsets[size_t(i)] = at;
                         pos[size_t(i)] = ctx[size_t(i)] - 1;
                         at += (ctx[size_t(i)] + bt.bt - 1) / bt.bt;
                       }
                       p.table.resize(size_t(at));
                       const int width = bt.nh * bt.hd, qw = bt.qkv ? (bt.nh + 2 * bt.nkv) * bt.hd : width;
                       Tensor q = c.upload(random_values(rng, size_t(bt.seqs) * qw, 1.f, c.qa), c.act, bt.seqs, qw);
                       Tensor out = c.empty(c.act, bt.seqs, width);
                       c.be.attention(out, q, p.kv, 1, c.upload_vec(p.table), c.upload_vec(offsets), c.upload_vec(pos), bt.nh,
                                      bt.nkv, bt.hd, 1.f / std::sqrt(float(bt.hd)));
                       return Result{c.download(out), out.dtype};
                     }});
  }

  // swiglu: out (T, F) = silu(gate) * up
  for (auto tf : {std::pair<int, int>{5, 1000}, {37, 333}}) {
    const int T = tf.first, F = tf.second;
    cases.push_back({"swiglu", "T=" + std::to_string(T) + " F=" + std::to_string(F), 0, [=](Ctx &c) {
                       Rng rng(9);
                       Tensor g = c.upload(random_values(rng, size_t(T) * F, 6.f, c.qa), c.act, T, F);
                       Tensor u = c.upload(random_values(rng, size_t(T) * F, 2.f, c.qa), c.act, T, F);
                       Tensor out = c.empty(c.act, T, F);
                       c.be.swiglu(out, g, u);
                       return Result{c.download(out), out.dtype};
                     }});
  }

  // scale_add_rows: in place on x (T, H) F32, x * scale + vec, with and without vec (the breakpoints'
  // edits of a paused residual stream)
  for (auto th : {std::pair<int, int>{5, 4096}, {37, 100}})
    for (bool with_vec : {true, false}) {
      const int T = th.first, H = th.second;
      cases.push_back({"scale_add_rows", "T=" + std::to_string(T) + " H=" + std::to_string(H) + " scale=0.9" +
                                             (with_vec ? " vec" : " no vec"),
                       0, [=](Ctx &c) {
                         Rng rng(10);
                         Tensor x = c.upload(random_values(rng, size_t(T) * H, 3.f, DType::F32), DType::F32, T, H);
                         const float *vec =
                             with_vec ? c.upload_vec(random_values(rng, size_t(H), 1.f, DType::F32)) : nullptr;
                         c.be.scale_add_rows(x, 0.9f, vec);
                         return Result{c.download(x), x.dtype};
                       }});
    }

  // argmax_rows: out (T) int32, the first maximum of each row of x (T, V) F32. Rows hold their maximum
  // twice (the lower column must win) and the result is compared as one-hot rows, so that a wrong
  // column is an error of ~1.4, never within tolerance.
  for (auto tv : {std::pair<int, int>{3, 32000}, {2, 7}, {1, 100003}}) {
    const int T = tv.first, V = tv.second;
    cases.push_back({"argmax_rows", "T=" + std::to_string(T) + " V=" + std::to_string(V) + " tied maxima", 0, [=](Ctx &c) {
                       Rng rng(11);
                       std::vector<float> v = random_values(rng, size_t(T) * V, 4.f, DType::F32);
                       for (int t = 0; t < T; t++) {
                         const size_t hi = size_t(t) * V + size_t(V - 1 - t), lo = size_t(t) * V + size_t(V / 3 + t);
                         v[hi] = v[lo] = 9.f;  // ties: column lo must win
                       }
                       Tensor x = c.upload(v, DType::F32, T, V);
                       int32_t *out = c.upload_vec(std::vector<int32_t>(size_t(T), -1));
                       c.be.argmax_rows(out, x, nullptr);
                       std::vector<int32_t> at(static_cast<size_t>(T));
                       c.be.copy(at.data(), out, size_t(T) * 4, CopyKind::DeviceToHost, StreamId::Compute);
                       c.be.synchronize(StreamId::Compute);
                       // One-hot rows; NaN where the pick is not the planted lower column (the reference
                       // backend is checked too, not only compared).
                       std::vector<float> onehot(size_t(T) * V, 0.f);
                       for (int t = 0; t < T; t++) {
                         const int32_t a = at[size_t(t)];
                         if (a == V / 3 + t) onehot[size_t(t) * V + size_t(a)] = 1.f;
                         else onehot[size_t(t) * V] = NAN;
                       }
                       return Result{onehot, DType::F32};
                     }});
  }

  // argmax_rows' nonfinite flags: 1 for the rows holding a NaN, +inf or -inf (one value each, in the
  // last thread's slice of the CUDA kernel too), 0 for the finite row. Compared as the flags, with NaN
  // where a flag is wrong.
  cases.push_back({"argmax_rows", "T=4 V=100003 nonfinite flags", 0, [=](Ctx &c) {
                     const int T = 4, V = 100003;
                     Rng rng(12);
                     std::vector<float> v = random_values(rng, size_t(T) * V, 4.f, DType::F32);
                     v[size_t(1) * V + 5] = NAN;
                     v[size_t(2) * V + size_t(V - 1)] = INFINITY;
                     v[size_t(3) * V + size_t(V / 2)] = -INFINITY;
                     Tensor x = c.upload(v, DType::F32, T, V);
                     int32_t *out = c.upload_vec(std::vector<int32_t>(size_t(T), -1));
                     int32_t *flags = c.upload_vec(std::vector<int32_t>(size_t(T), -1));
                     c.be.argmax_rows(out, x, flags);
                     std::vector<int32_t> got(static_cast<size_t>(T));
                     c.be.copy(got.data(), flags, size_t(T) * 4, CopyKind::DeviceToHost, StreamId::Compute);
                     c.be.synchronize(StreamId::Compute);
                     const int32_t want[T] = {0, 1, 1, 1};
                     std::vector<float> r(static_cast<size_t>(T));
                     for (int t = 0; t < T; t++) r[size_t(t)] = got[size_t(t)] == want[t] ? float(want[t]) : NAN;
                     return Result{r, DType::F32};
                   }});

  add_fused_cases(cases);
  return cases;
}

// ---- checks that are not comparisons: streams and events, errors ----

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
  void line(const std::string &op, const std::string &backend, const std::string &shape, const std::string &detail,
            bool ok) {
    std::printf("%-10s %-18s %-64s %-28s %s\n", op.c_str(), backend.c_str(), shape.c_str(), detail.c_str(),
                ok ? "PASS" : "FAIL");
    std::fflush(stdout);
    (ok ? passed : failed)++;
  }
};

// A copy on the Copy stream from pinned memory, ordered before Compute work by an event, plus event
// timing.
void check_streams(Backend &be, const std::string &label, Tally &tally) {
  const size_t n = 1 << 20;
  void *host = nullptr, *a = nullptr, *b = nullptr;
  Event *e = nullptr, *t0 = nullptr, *t1 = nullptr;
  bool ok = false;
  std::string detail;
  try {
    host = be.host_alloc(n * 4);
    a = be.device_alloc(n * 4);
    b = be.device_alloc(n * 4);
    e = be.event_create();
    t0 = be.event_create();
    t1 = be.event_create();
    uint32_t *h = static_cast<uint32_t *>(host);
    for (size_t i = 0; i < n; i++) h[i] = uint32_t(i * 2654435761u);
    be.event_record(t0, StreamId::Compute);
    be.copy(a, host, n * 4, CopyKind::HostToDevice, StreamId::Copy);
    be.event_record(e, StreamId::Copy);
    be.stream_wait(StreamId::Compute, e);
    be.copy(b, a, n * 4, CopyKind::DeviceToDevice, StreamId::Compute);
    be.event_record(t1, StreamId::Compute);
    std::vector<uint32_t> back(n);
    be.copy(back.data(), b, n * 4, CopyKind::DeviceToHost, StreamId::Compute);
    be.synchronize(StreamId::Compute);
    be.event_synchronize(t1);
    const float ms = be.event_elapsed_ms(t0, t1);
    ok = std::memcmp(back.data(), host, n * 4) == 0 && ms >= 0.f;
    char buf[64];
    std::snprintf(buf, sizeof buf, "elapsed=%.3fms", ms);
    detail = buf;
  } catch (const Error &err) {
    detail = err.what();
  }
  for (Event *ev : {e, t0, t1})
    if (ev) be.event_destroy(ev);
  if (a) be.device_free(a);
  if (b) be.device_free(b);
  if (host) be.host_free(host);
  tally.line("streams", label, "4 MiB H2D on Copy, event, D2D on Compute", detail, ok);
}

// Errors come back as vl::Error with the right status, and the backend keeps working afterwards.
void check_errors(Backend &be, const std::string &label, Tally &tally) {
  auto expect = [&](const char *what, vl_status want, const std::function<void()> &fn) {
    std::string got = "no error";
    bool ok = false;
    try {
      fn();
    } catch (const Error &err) {
      ok = err.status() == want;
      got = std::string(vl_status_name(err.status())) + ": " + err.what();
    }
    if (got.size() > 60) got = got.substr(0, 57) + "...";
    tally.line("errors", label, what, got, ok);
  };
  void *dummy = nullptr;
  expect("matmul with mismatched shapes", VL_ERR_INVALID_ARGUMENT, [&] {
    Tensor x{nullptr, be.activation_dtype(), 2, 10}, w{nullptr, DType::F16, 5, 11}, o{nullptr, DType::F32, 2, 5};
    be.matmul(o, x, w, false);
  });
  expect("device_alloc(1 PiB)", VL_ERR_OUT_OF_MEMORY, [&] { dummy = be.device_alloc(size_t(1) << 50); });
  if (dummy) be.device_free(dummy);
}


// ---- --perf: kernel-level timings of the Llama-2-7B shape ----

struct Perf {
  Backend &be;
  std::vector<void *> allocs;
  explicit Perf(Backend &b) : be(b) {}
  ~Perf() {
    be.synchronize(StreamId::Compute);
    for (void *p : allocs) be.device_free(p);
  }
  void *alloc(size_t bytes) {
    void *p = be.device_alloc(bytes);
    allocs.push_back(p);
    return p;
  }
  // Device tensor filled with small random F16-representable values (weights ~ N(0, 0.02)-ish).
  Tensor random(DType dt, int64_t rows, int64_t cols, float scale, uint64_t seed) {
    Tensor t{alloc(size_t(rows) * size_t(cols) * dtype_size(dt)), dt, rows, cols};
    const size_t chunk = size_t(16) << 20;  // bytes per upload
    std::vector<uint8_t> host(std::min(chunk, t.bytes()));
    Rng rng(seed);
    const size_t n = host.size() / dtype_size(dt);
    for (size_t i = 0; i < n; i++) store_f32(host.data(), dt, i, rng.uniform(-scale, scale));
    for (size_t off = 0; off < t.bytes(); off += host.size()) {
      be.copy(static_cast<char *>(t.data) + off, host.data(), std::min(host.size(), t.bytes() - off),
              CopyKind::HostToDevice, StreamId::Compute);
      be.synchronize(StreamId::Compute);  // host buffer reused
    }
    return t;
  }
  template <typename T> T *upload(const std::vector<T> &v) {
    T *p = static_cast<T *>(alloc(v.size() * sizeof(T)));
    be.copy(p, v.data(), v.size() * sizeof(T), CopyKind::HostToDevice, StreamId::Compute);
    be.synchronize(StreamId::Compute);
    return p;
  }
  // TB/s of a device-to-device copy of `bytes`, counting bytes read plus bytes written (the HBM floor's
  // denominator); its buffers are freed again.
  double d2d_tbs(size_t bytes) {
    void *a = alloc(bytes), *b = alloc(bytes);
    const double ms = time_ms(10, [&](int) { be.copy(b, a, bytes, CopyKind::DeviceToDevice, StreamId::Compute); });
    be.synchronize(StreamId::Compute);
    be.device_free(a);
    be.device_free(b);
    allocs.resize(allocs.size() - 2);
    return 2.0 * double(bytes) / (ms * 1e-3) / 1e12;
  }
  // Milliseconds per call of fn, averaged over n calls after one warm-up call.
  double time_ms(int n, const std::function<void(int)> &fn) {
    Event *a = be.event_create(), *b = be.event_create();
    fn(0);
    be.event_record(a, StreamId::Compute);
    for (int i = 0; i < n; i++) fn(i);
    be.event_record(b, StreamId::Compute);
    be.event_synchronize(b);
    const double ms = be.event_elapsed_ms(a, b) / n;
    be.event_destroy(a);
    be.event_destroy(b);
    return ms;
  }
  // The same with the n calls recorded once into a CUDA graph and the graph replayed `reps` times, as the
  // engine replays a step: no host launch gaps, only the device's own between kernels. The warm-up call
  // runs outside the recording (the GEMM tuner times its candidates there). time_ms where the backend
  // records no graphs.
  double graph_ms(int n, const std::function<void(int)> &fn, int reps = 4) {
    fn(0);
    if (!be.graph_begin()) return time_ms(n, fn);
    try {
      for (int i = 0; i < n; i++) fn(i);
    } catch (...) {
      be.graph_destroy(be.graph_end());  // the stream leaves capture mode before the error goes on
      throw;
    }
    Graph *g = be.graph_end();
    if (!g) return time_ms(n, fn);
    const double ms = time_ms(reps, [&](int) { be.graph_launch(g); }) / n;
    be.graph_destroy(g);
    return ms;
  }
};

// Opens `dev` for a --perf mode and runs `body` on it: SKIP (status 0) when there is no such device,
// FAIL (status 1) when body throws.
int perf_on(const std::string &dev, const char *mode, const std::function<int(Backend &)> &body) {
  std::unique_ptr<Backend> be;
  try {
    be = open_backend(dev);
  } catch (const Error &e) {
    std::printf("SKIP %s: %s\n", dev.c_str(), e.what());
    return e.status() == VL_ERR_NO_DEVICE ? 0 : 1;
  }
  const DeviceInfo info = be->device_info();
  std::printf("# %s: %s, %s\n", dev.c_str(), info.name.c_str(), info.driver.c_str());
  try {
    return body(*be);
  } catch (const Error &e) {
    std::printf("FAIL %s %s: %s\n", mode, dev.c_str(), e.what());
    return 1;
  }
}

// Which part of --perf runs: everything on the Llama-2-7B shape, the same on a toy shape (a smoke test
// of the path, e.g. on the CPU), or only the copy bandwidth and the GEMVs (8 layers' weights, seconds).
enum class PerfMode { Full, Tiny, Gemv };

int run_perf(const std::string &dev, PerfMode mode) {
  const bool tiny = mode == PerfMode::Tiny;
  return perf_on(dev, "perf", [&](Backend &be) {
    Perf p(be);
    const DType act = be.activation_dtype(), wt = DType::F16;

    const double d2d_tbs = p.d2d_tbs(size_t(1) << (tiny ? 24 : 30));
    std::printf("perf %s d2d copy %s: %.2f TB/s (read + write)\n", dev.c_str(), tiny ? "16 MiB" : "1 GiB", d2d_tbs);

    // Llama-2-7B: hidden 4096, intermediate 11008, 32 layers, 32 heads (MHA), head_dim 128, vocab 32000.
    // Each layer's weights are laid out as the engine's are: [wq; wk; wv] and [gate; up] adjacent.
    const int H = tiny ? 256 : 4096, F = tiny ? 688 : 11008, NH = tiny ? 4 : 32;
    const int NKV = tiny ? 2 : 32, HD = tiny ? 64 : 128, V = tiny ? 1000 : 32000, BT = 16;
    const int L = tiny ? 2 : 32, L_alloc = mode == PerfMode::Gemv ? 8 : L;
    const int QD = NH * HD, KVD = NKV * HD, WQKV = QD + 2 * KVD;
    const float eps = 1e-5f;
    struct Layer { Tensor wqkv, wq, wk, wv, wo, wgu, wg, wu, wd, n1, n2; };
    std::vector<Layer> layers(static_cast<size_t>(L_alloc));
    uint64_t seed = 100;
    for (Layer &l : layers) {
      l.wqkv = p.random(wt, WQKV, H, 0.02f, seed++);
      l.wq = l.wqkv.rows_slice(0, QD);
      l.wk = l.wqkv.rows_slice(QD, KVD);
      l.wv = l.wqkv.rows_slice(QD + KVD, KVD);
      l.wo = p.random(wt, H, QD, 0.02f, seed++);
      l.wgu = p.random(wt, 2 * F, H, 0.02f, seed++);
      l.wg = l.wgu.rows_slice(0, F);
      l.wu = l.wgu.rows_slice(F, F);
      l.wd = p.random(wt, H, F, 0.02f, seed++);
      l.n1 = p.random(wt, 1, H, 1.0f, seed++);
      l.n2 = p.random(wt, 1, H, 1.0f, seed++);
    }
    Tensor embed_w = p.random(wt, V, H, 0.02f, seed++), lm_head = p.random(wt, V, H, 0.02f, seed++);
    Tensor norm_f = p.random(wt, 1, H, 1.0f, seed++);
    const double weight_bytes = double(L) * (2.0 * H * H + 2.0 * NKV * HD * H + 3.0 * F * H + 2.0 * H) * 2 +
                                2.0 * V * H * 2 + H * 2;
    const double floor_ms = weight_bytes / (d2d_tbs * 1e12) * 1e3;

    // The paged KV pool, a non-contiguous block table, and per-position metadata.
    const int max_ctx = 640;
    KvLayout kv;
    kv.dtype = be.kv_dtype();
    kv.n_blocks = max_ctx / BT;
    kv.n_layers = L_alloc;
    kv.block_tokens = BT;
    kv.kv_dim = KVD;
    kv.base = p.alloc(kv.bytes());
    std::vector<int32_t> seq(max_ctx), table(size_t(kv.n_blocks));
    std::iota(seq.begin(), seq.end(), 0);
    std::iota(table.begin(), table.end(), 0);
    for (size_t i = 0; i < table.size(); i++) std::swap(table[i], table[(i * 7) % table.size()]);  // non-contiguous
    std::vector<int32_t> slots(max_ctx), ids(max_ctx), meta(3 * size_t(max_ctx));
    for (int pos = 0; pos < max_ctx; pos++) {
      slots[size_t(pos)] = table[size_t(pos / BT)] * BT + pos % BT;
      ids[size_t(pos)] = (pos * 7919) % V;
      meta[3 * size_t(pos)] = ids[size_t(pos)];  // one decode step's {id, position, slot}
      meta[3 * size_t(pos) + 1] = pos;
      meta[3 * size_t(pos) + 2] = slots[size_t(pos)];
    }
    int32_t *d_pos = p.upload(seq), *d_slots = p.upload(slots), *d_table = p.upload(table), *d_ids = p.upload(ids);
    int32_t *d_meta = p.upload(meta);
    // A decode step reads {id, position, slot} from here, copied in before the step (as the engine
    // uploads its metadata), so that a recorded graph can be replayed at every position.
    int32_t *d_step = p.upload(std::vector<int32_t>{0, 0, 0});
    std::vector<float> inv_freq(HD / 2);
    for (int i = 0; i < HD / 2; i++) inv_freq[size_t(i)] = std::pow(10000.f, -2.f * i / float(HD));
    float *d_inv = p.upload(inv_freq);

    const int TMAX = mode == PerfMode::Gemv ? 16 : 512;
    auto act_buf = [&](int64_t cols) { return Tensor{p.alloc(size_t(TMAX) * cols * dtype_size(act)), act, TMAX, cols}; };
    Tensor x{p.alloc(size_t(TMAX) * H * 4), DType::F32, TMAX, H};  // the residual stream
    Tensor xn = act_buf(H), q = act_buf(WQKV), k = act_buf(KVD), v = act_buf(KVD), att = act_buf(QD);
    Tensor g = act_buf(2 * F), u = act_buf(F), a = act_buf(F);
    Tensor logits{p.alloc(size_t(V) * 4), DType::F32, 1, V};
    // One token's rows: q | k | v, gate | up.
    Tensor x1 = x.rows_slice(0, 1), xn1 = xn.rows_slice(0, 1), att1 = att.rows_slice(0, 1);
    Tensor qkv1{q.data, act, 1, WQKV}, gu1{g.data, act, 1, 2 * F};
    Tensor q1 = cols_of(qkv1, 0, QD), gate1 = cols_of(gu1, 0, F), up1 = cols_of(gu1, F, F);
    const std::vector<float> x_init(size_t(H), 0.5f);
    be.copy(x1.data, x_init.data(), size_t(H) * 4, CopyKind::HostToDevice, StreamId::Compute);
    be.synchronize(StreamId::Compute);

    // Decode GEMVs (T = 1), each weight read once per call. Calls cycle over up to 8 layers' weights so
    // that L2 holds none of them; back to back, as in a decode step.
    const auto gemv_line = [&](const char *op, int N, int K, const std::function<void(const Layer &)> &call) {
      const double ms = p.time_ms(64, [&](int i) { call(layers[size_t(i % std::min(L_alloc, 8))]); });
      const double tbs = double(N) * K * 2 / (ms * 1e-3) / 1e12;
      std::printf("perf %s gemv %s T=1 N=%d K=%d F16: %.1f us, %.2f TB/s weight read (%.0f%% of the d2d figure)\n",
                  dev.c_str(), op, N, K, ms * 1e3, tbs, 100.0 * tbs / d2d_tbs);
    };
    Tensor out_h{p.alloc(size_t(H) * 4), DType::F32, 1, H}, out_v{p.alloc(size_t(V) * 4), DType::F32, 1, V};
    gemv_line("matmul (o_proj)", H, QD, [&](const Layer &l) { be.matmul(out_h, att1, l.wo, true); });
    gemv_line("matmul (down)", H, F, [&](const Layer &l) { be.matmul(out_h, gate1, l.wd, true); });
    gemv_line("matmul (gate)", F, H, [&](const Layer &l) { be.matmul(gate1, xn1, l.wg, false); });
    gemv_line("matmul ([q; k; v])", WQKV, H, [&](const Layer &l) { be.matmul(qkv1, xn1, l.wqkv, false); });
    gemv_line("matmul ([gate; up])", 2 * F, H, [&](const Layer &l) { be.matmul(gu1, xn1, l.wgu, false); });
    gemv_line("matmul (lm_head)", V, H, [&](const Layer &) { be.matmul(out_v, xn1, lm_head, false); });
    gemv_line("rmsnorm_qkv_rope_store", WQKV, H, [&](const Layer &l) {
      be.rmsnorm_qkv_rope_store(qkv1, x1, l.n1, eps, l.wqkv, HD, d_step + 1, d_inv, kv, int32_t(&l - layers.data()),
                                d_step + 2, xn1);
    });
    gemv_line("rmsnorm_matmul ([gate; up])", 2 * F, H,
              [&](const Layer &l) { be.rmsnorm_matmul(gu1, x1, l.n2, eps, l.wgu, false, xn1); });
    gemv_line("swiglu_matmul (down)", H, F,
              [&](const Layer &l) { be.swiglu_matmul(out_h, gate1, up1, l.wd, true, gate1); });
    if (mode == PerfMode::Gemv) return 0;

    // A synthetic forward through the Backend interface, op for op what the engine issues per layer.
    // Prefill (and the prompt): tokens [start, start + T) of one sequence, the T > 1 path.
    auto forward = [&](int start, int T) {
      Tensor xs = x.rows_slice(0, T), xns = xn.rows_slice(0, T), qs = Tensor{q.data, act, T, QD};
      Tensor ks = k.rows_slice(0, T), vs = v.rows_slice(0, T), as = att.rows_slice(0, T);
      Tensor gs = Tensor{g.data, act, T, F}, us = u.rows_slice(0, T), acts = a.rows_slice(0, T);
      be.embed(xs, embed_w, d_ids + start);
      for (int li = 0; li < L; li++) {
        const Layer &l = layers[size_t(li)];
        be.rmsnorm(xns, xs, l.n1, eps);
        be.matmul(qs, xns, l.wq, false);
        be.matmul(ks, xns, l.wk, false);
        be.matmul(vs, xns, l.wv, false);
        be.rope(qs, HD, d_pos + start, d_inv);
        be.rope(ks, HD, d_pos + start, d_inv);
        be.kv_store(kv, li, ks, vs, d_slots + start);
        be.attention(as, qs, kv, li, d_table, nullptr, d_pos + start, NH, NKV, HD, 1.f / std::sqrt(float(HD)));
        be.matmul(xs, as, l.wo, true);
        be.rmsnorm(xns, xs, l.n2, eps);
        be.matmul(gs, xns, l.wg, false);
        be.matmul(us, xns, l.wu, false);
        be.swiglu(acts, gs, us);
        be.matmul(xs, acts, l.wd, true);
      }
      be.rmsnorm(xns, xs, norm_f, eps);
      be.matmul(logits, xn.rows_slice(T - 1, 1), lm_head, false);
    };
    // A one-token decode step reading {id, position, slot} from d_step: the engine's n == 1 path, either
    // through the fused ops (what it runs now) or through the chains of primitives they replace.
    auto decode_step = [&](bool fused) {
      const int32_t *id = d_step, *pos = d_step + 1, *slot = d_step + 2;
      be.embed(x1, embed_w, id);
      for (int li = 0; li < L; li++) {
        const Layer &l = layers[size_t(li)];
        if (fused) {
          be.rmsnorm_qkv_rope_store(qkv1, x1, l.n1, eps, l.wqkv, HD, pos, d_inv, kv, li, slot, xn1);
        } else {
          be.rmsnorm(xn1, x1, l.n1, eps);
          be.matmul(qkv1, xn1, l.wqkv, false);
          be.rope(cols_of(qkv1, 0, QD + KVD), HD, pos, d_inv);
          be.kv_store(kv, li, cols_of(qkv1, QD, KVD), cols_of(qkv1, QD + KVD, KVD), slot);
        }
        be.attention(att1, q1, kv, li, d_table, nullptr, pos, NH, NKV, HD, 1.f / std::sqrt(float(HD)));
        be.matmul(x1, att1, l.wo, true);
        if (fused) {
          be.rmsnorm_matmul(gu1, x1, l.n2, eps, l.wgu, false, xn1);
          be.swiglu_matmul(x1, gate1, up1, l.wd, true, gate1);
        } else {
          be.rmsnorm(xn1, x1, l.n2, eps);
          be.matmul(gu1, xn1, l.wgu, false);
          be.swiglu(gate1, gate1, up1);
          be.matmul(x1, gate1, l.wd, true);
        }
      }
      be.rmsnorm(xn1, x1, norm_f, eps);
      be.matmul(logits, xn1, lm_head, false);
    };

    const int prompt = 72, new_tokens = 50;
    forward(0, prompt);
    be.synchronize(StreamId::Compute);
    // Decode steps at positions 72 .. 121 (the warm-up call repeats position 72), each after copying
    // its metadata in: kernel by kernel, or replaying a graph recorded once.
    double engine_ms = 0;
    bool engine_graph = false;
    for (bool fused : {false, true})
      for (bool graph : {false, true}) {
        Graph *gr = nullptr;
        if (graph) {
          if (!be.graph_begin()) {
            std::printf("perf %s decode: no graphs on this backend\n", dev.c_str());
            continue;
          }
          try {
            decode_step(fused);
          } catch (...) {
            be.graph_destroy(be.graph_end());
            throw;
          }
          gr = be.graph_end();
          if (!gr) throw Error(VL_ERR_DEVICE, "recording the decode step as a graph failed");
        }
        const double ms = p.time_ms(new_tokens, [&](int i) {
          be.copy(d_step, d_meta + 3 * (prompt + i), 12, CopyKind::DeviceToDevice, StreamId::Compute);
          if (gr) be.graph_launch(gr);
          else decode_step(fused);
        });
        be.synchronize(StreamId::Compute);
        be.graph_destroy(gr);
        std::printf("perf %s decode %s fp16, context %d..%d, %s, %s: %.3f ms/token; floor %.3f ms (%.2f GB / "
                    "%.2f TB/s) -> %.2fx (target <= 1.3x)\n",
                    dev.c_str(), tiny ? "tiny shape" : "Llama-2-7B shape", prompt + 1, prompt + new_tokens,
                    fused ? "fused ops" : "unfused ops", graph ? "graph" : "kernel by kernel", ms, floor_ms,
                    weight_bytes / 1e9, d2d_tbs, ms / floor_ms);
        if (fused) {  // the graph run, when there is one, comes last
          engine_ms = ms;
          engine_graph = graph;
        }
      }
    std::printf("perf %s decode per token as the engine runs it (fused ops%s): %.3f ms = %.2fx the floor "
                "(target <= 1.3x)\n",
                dev.c_str(), engine_graph ? ", graph" : "", engine_ms, engine_ms / floor_ms);
    const double prefill_ms = p.time_ms(5, [&](int) { forward(0, 512); });
    std::printf("perf %s prefill 512 tokens: %.2f ms (target <= 20 ms), %.0f TFLOP/s on the GEMMs' flops\n",
                dev.c_str(), prefill_ms, 2.0 * 512 * (weight_bytes / 2 - 2.0 * V * H) / (prefill_ms * 1e-3) / 1e12);
    return 0;
  });
}


// ---- --perf-batch: a batched decode step's parts against the batch size (Llama-2-7B shape) ----
//
// For T = 1 .. 128 sessions decoding one token each, at context 529 (a 512-token prompt and 16 new
// tokens, bench/batch-decode.ts's shape), what one decoder layer costs as the engine issues it for
// T > 1 (engine.cpp run_layer): the four GEMMs ([q; k; v], o, [gate; up], down), attention of the T
// queries (read from their q | k | v rows) through their own block tables, and the small kernels
// (2 rmsnorm, rope_kv_store, swiglu). [gate; up] is one matmul_pair.
// Each part is printed with its bytes' bandwidth against the d2d copy figure, and the sum times 32
// layers plus lm_head beside the step's HBM floor (weights + the batch's KV read once). The GEMMs cycle
// over 8 layers' weights (3.2 GB) so that L2 holds none of them. ~13 GB of device memory (4 layers of KV in both layouts).
int run_perf_batch(const std::string &dev) {
  return perf_on(dev, "perf-batch", [&](Backend &be) {
    Perf p(be);
    const DType act = be.activation_dtype(), wt = DType::F16;
    const double d2d_tbs = p.d2d_tbs(size_t(1) << 30);
    const int H = 4096, F = 11008, NH = 32, HD = 128, V = 32000, BT = 16, L = 32, LW = 8, TMAX = 128;
    const int QD = NH * HD, CTX = 529, BPS = (CTX + BT - 1) / BT;  // blocks per session
    const float eps = 1e-5f;
    struct Layer { Tensor wqkv, wo, wgu, wd, n1, n2; };
    std::vector<Layer> layers(static_cast<size_t>(LW));
    uint64_t seed = 500;
    for (Layer &l : layers) {
      l.wqkv = p.random(wt, 3 * QD, H, 0.02f, seed++);
      l.wo = p.random(wt, H, QD, 0.02f, seed++);
      l.wgu = p.random(wt, 2 * F, H, 0.02f, seed++);
      l.wd = p.random(wt, H, F, 0.02f, seed++);
      l.n1 = p.random(wt, 1, H, 1.0f, seed++);
      l.n2 = p.random(wt, 1, H, 1.0f, seed++);
    }
    Tensor lm_head = p.random(wt, V, H, 0.02f, seed++);
    const double layer_bytes = (4.0 * H * QD + 3.0 * F * H + 2.0 * H) * 2;
    const double weight_bytes = L * layer_bytes + 2.0 * V * H * 2 + H * 2;

    // KVL layers of KV for TMAX sessions, each with its own shuffled blocks, all at context CTX. The
    // attention reps cycle over the layers, so that up to batch 8 (35 MB a layer) the KV they read is
    // not still in L2 from the rep before, as it is not in a step, where the GEMMs' weights pass between.
    constexpr int KVL = 4;
    KvLayout kv;
    kv.dtype = be.kv_dtype();
    kv.n_blocks = TMAX * BPS;
    kv.n_layers = KVL;
    kv.block_tokens = BT;
    kv.kv_dim = QD;
    kv.base = p.alloc(kv.bytes());
    std::vector<int32_t> table(size_t(kv.n_blocks)), starts(TMAX), pos(TMAX), slots(TMAX);
    std::iota(table.begin(), table.end(), 0);
    for (size_t i = 0; i < table.size(); i++) std::swap(table[i], table[(i * 7919) % table.size()]);
    for (int t = 0; t < TMAX; t++) {
      starts[size_t(t)] = t * BPS;
      pos[size_t(t)] = CTX - 1;
      slots[size_t(t)] = table[size_t(t * BPS + (CTX - 1) / BT)] * BT + (CTX - 1) % BT;
    }
    int32_t *d_table = p.upload(table), *d_starts = p.upload(starts), *d_pos = p.upload(pos), *d_slots = p.upload(slots);
    // The same KV bytes with each head's rows of a block contiguous (a head-major block layout, as
    // vLLM's and FlashInfer's HND pages): every (session, head) as a sequence of its own with one head of
    // hd, so that a block holds 16 rows of 256 bytes in a row instead of 16 rows 8 KiB apart. Timed beside
    // the real layout (hnd_us) to see what the layout costs the decode kernel.
    KvLayout hnd = kv;
    hnd.n_blocks = TMAX * NH * BPS;
    hnd.kv_dim = HD;
    hnd.base = p.alloc(hnd.bytes());
    std::vector<int32_t> table_h(size_t(hnd.n_blocks)), starts_h(size_t(TMAX) * NH), pos_h(size_t(TMAX) * NH, CTX - 1);
    std::iota(table_h.begin(), table_h.end(), 0);
    for (size_t i = 0; i < table_h.size(); i++) std::swap(table_h[i], table_h[(i * 7919) % table_h.size()]);
    for (size_t s = 0; s < starts_h.size(); s++) starts_h[s] = int32_t(s) * BPS;
    int32_t *d_table_h = p.upload(table_h), *d_starts_h = p.upload(starts_h), *d_pos_h = p.upload(pos_h);
    std::vector<float> inv_freq(HD / 2);
    for (int i = 0; i < HD / 2; i++) inv_freq[size_t(i)] = std::pow(10000.f, -2.f * i / float(HD));
    float *d_inv = p.upload(inv_freq);

    auto act_buf = [&](int64_t cols) { return p.random(act, TMAX, cols, 0.5f, seed++); };
    Tensor x = p.random(DType::F32, TMAX, H, 1.0f, seed++);  // the residual stream
    Tensor xn = act_buf(H), qkv = act_buf(3 * QD), q = act_buf(QD), att = act_buf(QD);
    Tensor g = act_buf(F), u = act_buf(F);
    Tensor logits{p.alloc(size_t(TMAX) * V * 4), DType::F32, TMAX, V};

    std::printf("perf %s batch decode parts, Llama-2-7B fp16, context %d, d2d %.2f TB/s; per layer (us, each part "
                "replayed from a CUDA graph as the engine does, where the backend records graphs) and bandwidth (TB/s, %% of d2d)\n", dev.c_str(), CTX, d2d_tbs);
    std::printf("%6s %10s %7s %10s %7s %9s %9s %10s %10s %10s %8s %8s %6s\n", "batch", "gemms_us", "gemm%", "attn_us", "attn%",
                "small_us", "layer_us", "lmhead_us", "step_ms", "floor_ms", "x_floor", "hnd_us", "hnd%");
    // Each kernel of the layer alone, printed after the table.
    struct Parts { int T; double qkv, o, gu, down, norm, rope, swiglu; };
    std::vector<Parts> parts;
    // VRAMLAB_PERF_BATCH_ONLY=T: that batch size alone (a profiler's run).
    const char *only = std::getenv("VRAMLAB_PERF_BATCH_ONLY");
    for (int T : {1, 2, 4, 8, 16, 32, 64, 128}) {
      if (only && std::atoi(only) != T) continue;
      Tensor xs = x.rows_slice(0, T), xns = xn.rows_slice(0, T), qkvs = qkv.rows_slice(0, T), qs = q.rows_slice(0, T);
      Tensor as = att.rows_slice(0, T), gs = g.rows_slice(0, T), us = u.rows_slice(0, T);
      const auto us_of = [&](const std::function<void(int)> &fn) { return 1e3 * p.graph_ms(32, fn); };
      const auto layer_of = [&](int i) { return layers[size_t(i % LW)]; };
      const auto attention = [&](int i) {
        be.attention(as, qkvs, kv, i % KVL, d_table, d_starts, d_pos, NH, NH, HD, 1.f / std::sqrt(float(HD)));
      };
      const double gemm_us = us_of([&](int i) {
        const Layer &l = layer_of(i);
        be.matmul(qkvs, xns, l.wqkv, false);
        be.matmul(xs, as, l.wo, true);
        be.matmul_pair(gs, us, xns, l.wgu);
        be.matmul(xs, gs, l.wd, true);
      });
      const double attn_us = us_of(attention);
      const Tensor q_h{qs.data, qs.dtype, int64_t(T) * NH, HD}, a_h{as.data, as.dtype, int64_t(T) * NH, HD};
      const double hnd_us = us_of([&](int i) {
        be.attention(a_h, q_h, hnd, i % KVL, d_table_h, d_starts_h, d_pos_h, 1, 1, HD, 1.f / std::sqrt(float(HD)));
      });
      const double small_us = us_of([&](int i) {
        const Layer &l = layer_of(i);
        be.rmsnorm(xns, xs, l.n1, eps);
        be.rope_kv_store(qkvs, HD, d_pos, d_inv, kv, i % KVL, d_slots);
        be.rmsnorm(xns, xs, l.n2, eps);
        be.swiglu(gs, gs, us);
      });
      // The whole layer in the engine's order (run_layer for T > 1): what the parts cost back to back.
      const double layer_us = us_of([&](int i) {
        const Layer &l = layer_of(i);
        be.rmsnorm(xns, xs, l.n1, eps);
        be.matmul(qkvs, xns, l.wqkv, false);
        be.rope_kv_store(qkvs, HD, d_pos, d_inv, kv, i % KVL, d_slots);
        attention(i);
        be.matmul(xs, as, l.wo, true);
        be.rmsnorm(xns, xs, l.n2, eps);
        be.matmul_pair(gs, us, xns, l.wgu);
        be.swiglu(gs, gs, us);
        be.matmul(xs, gs, l.wd, true);
      });
      Parts pt{T, 0, 0, 0, 0, 0, 0, 0};
      pt.qkv = us_of([&](int i) { be.matmul(qkvs, xns, layer_of(i).wqkv, false); });
      pt.o = us_of([&](int i) { be.matmul(xs, as, layer_of(i).wo, true); });
      pt.gu = us_of([&](int i) { be.matmul_pair(gs, us, xns, layer_of(i).wgu); });
      pt.down = us_of([&](int i) { be.matmul(xs, gs, layer_of(i).wd, true); });
      pt.norm = us_of([&](int i) { be.rmsnorm(xns, xs, layer_of(i).n1, eps); });
      pt.rope = us_of([&](int i) { be.rope_kv_store(qkvs, HD, d_pos, d_inv, kv, i % KVL, d_slots); });
      pt.swiglu = us_of([&](int) { be.swiglu(gs, gs, us); });
      parts.push_back(pt);
      const double lm_us = 1e3 * p.graph_ms(8, [&](int) { be.matmul(logits.rows_slice(0, T), xns, lm_head, false); });
      const double kv_bytes = double(T) * CTX * 2 * QD * dtype_size(kv.dtype);
      const double step_ms = (L * layer_us + lm_us) * 1e-3;
      const double floor_ms = (weight_bytes + L * kv_bytes) / (d2d_tbs * 1e12) * 1e3;
      const double gemm_pct = 100.0 * layer_bytes / (gemm_us * 1e-6) / 1e12 / d2d_tbs;
      const double attn_pct = 100.0 * kv_bytes / (attn_us * 1e-6) / 1e12 / d2d_tbs;
      std::printf("%6d %10.1f %6.0f%% %10.1f %6.0f%% %9.1f %9.1f %10.1f %10.3f %10.3f %7.2fx %8.1f %5.0f%%\n", T, gemm_us,
                  gemm_pct, attn_us, attn_pct, small_us, layer_us, lm_us, step_ms, floor_ms, step_ms / floor_ms, hnd_us,
                  100.0 * kv_bytes / (hnd_us * 1e-6) / 1e12 / d2d_tbs);
    }
    std::printf("\nper kernel (us): the four GEMMs, one rmsnorm, rope_kv_store, swiglu\n%6s %8s %8s %8s %8s %8s %8s %8s\n",
                "batch", "qkv", "o", "gate_up", "down", "rmsnorm", "rope_kv", "swiglu");
    for (const Parts &pt : parts)
      std::printf("%6d %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f\n", pt.T, pt.qkv, pt.o, pt.gu, pt.down, pt.norm, pt.rope,
                  pt.swiglu);
    return 0;
  });
}

// ---- --perf-prefill: a prefill's parts against the tensor cores' rate ----
//
// For a Llama shape (7B: hidden 4096, ffn 11008, 32 heads of 128, 32 layers; 13B: 5120, 13824, 40
// heads, 40 layers) and a prompt of T tokens in one sequence, what each op of a decoder layer costs as
// the engine issues it for T > 1 (engine.cpp run_layer): rmsnorm, the GEMM over [q; k; v], rope and
// the KV store, attention (causal, through a non-contiguous block table), the o GEMM accumulating into
// the F32 residual, rmsnorm, [gate; up] (matmul_pair), swiglu, the down GEMM. Each op is timed alone
// (events around it, summed over the layers) and printed with its FLOPs, TFLOP/s and share of the
// large-GEMM rate measured first in the same run (an 8192^3 F16 GEMM); the line "prefill" is the whole
// pass (the layers, the final norm and lm_head on the last row) back to back, against the floor: its
// FLOPs at that rate. Layers cycle over 4 allocated layers' weights (L2 holds none of them).
int run_perf_prefill(const std::string &dev, const std::string &shape, const std::vector<int> &tokens) {
  return perf_on(dev, "perf-prefill", [&](Backend &be) {
    Perf p(be);
    const DType act = be.activation_dtype(), wt = DType::F16;
    const bool b13 = shape == "13b", tiny = shape == "tiny";
    if (!b13 && !tiny && shape != "7b") throw Error(VL_ERR_INVALID_ARGUMENT, "--perf-prefill: shape must be 7b, 13b or tiny, got " + shape);
    const int H = tiny ? 256 : b13 ? 5120 : 4096, F = tiny ? 688 : b13 ? 13824 : 11008, NH = tiny ? 4 : b13 ? 40 : 32;
    const int NKV = tiny ? 2 : NH, HD = tiny ? 64 : 128, V = tiny ? 1000 : 32000, BT = 16, L = tiny ? 2 : b13 ? 40 : 32;
    const int LA = std::min(L, 4), QD = NH * HD, KVD = NKV * HD, WQKV = QD + 2 * KVD;
    const float eps = 1e-5f;

    // The large GEMM's rate: out (8192, 8192) F32 = x (8192, 8192) . w^T, F16 inputs.
    const int G = tiny ? 512 : 8192;
    const Tensor gx = p.random(wt, G, G, 0.5f, 1), gw = p.random(wt, G, G, 0.02f, 2);
    const Tensor gout{p.alloc(size_t(G) * G * 4), DType::F32, G, G};
    const double gemm_ms = p.time_ms(5, [&](int) { be.matmul(gout, gx, gw, false); });
    const double peak = 2.0 * G * G * double(G) / (gemm_ms * 1e-3) / 1e12;
    std::printf("perf %s large GEMM %dx%dx%d F16: %.3f ms, %.0f TFLOP/s (the floor's rate)\n", dev.c_str(), G, G, G, gemm_ms, peak);

    struct Layer { Tensor wqkv, wo, wgu, wd, n1, n2; };
    std::vector<Layer> layers(static_cast<size_t>(LA));
    uint64_t seed = 300;
    for (Layer &l : layers) {
      l.wqkv = p.random(wt, WQKV, H, 0.02f, seed++);
      l.wo = p.random(wt, H, QD, 0.02f, seed++);
      l.wgu = p.random(wt, 2 * F, H, 0.02f, seed++);
      l.wd = p.random(wt, H, F, 0.02f, seed++);
      l.n1 = p.random(wt, 1, H, 1.0f, seed++);
      l.n2 = p.random(wt, 1, H, 1.0f, seed++);
    }
    const Tensor lm_head = p.random(wt, V, H, 0.02f, seed++), norm_f = p.random(wt, 1, H, 1.0f, seed++);
    std::vector<float> inv_freq(size_t(HD / 2));
    for (int i = 0; i < HD / 2; i++) inv_freq[size_t(i)] = std::pow(10000.f, -2.f * i / float(HD));
    const float *d_inv = p.upload(inv_freq);

    for (const int T : tokens) {
      // The KV pool of LA layers for T positions, a non-contiguous block table, positions and slots.
      KvLayout kv;
      kv.dtype = be.kv_dtype();
      kv.n_blocks = (T + BT - 1) / BT;
      kv.n_layers = LA;
      kv.block_tokens = BT;
      kv.kv_dim = KVD;
      kv.base = p.alloc(kv.bytes());
      std::vector<int32_t> pos(static_cast<size_t>(T)), table(static_cast<size_t>(kv.n_blocks)), slots(static_cast<size_t>(T));
      std::iota(pos.begin(), pos.end(), 0);
      std::iota(table.begin(), table.end(), 0);
      for (size_t i = 0; i < table.size(); i++) std::swap(table[i], table[(i * 7) % table.size()]);
      for (int t = 0; t < T; t++) slots[size_t(t)] = table[size_t(t / BT)] * BT + t % BT;
      const int32_t *d_pos = p.upload(pos), *d_table = p.upload(table), *d_slots = p.upload(slots);
      auto buf = [&](DType dt, int64_t cols) { return Tensor{p.alloc(size_t(T) * size_t(cols) * dtype_size(dt)), dt, T, cols}; };
      const Tensor x = buf(DType::F32, H), h = buf(act, H), qkv = buf(act, WQKV), att = buf(act, QD);
      const Tensor gate = buf(act, F), up = buf(act, F);
      const Tensor logits{p.alloc(size_t(V) * 4), DType::F32, 1, V};
      const std::vector<float> x_init(size_t(T) * H, 0.25f);
      be.copy(x.data, x_init.data(), x_init.size() * 4, CopyKind::HostToDevice, StreamId::Compute);
      be.synchronize(StreamId::Compute);
      const float scale = 1.f / std::sqrt(float(HD));
      const double t = T, causal = t * (t + 1) / 2;  // query-key pairs a causal pass computes
      struct Op {
        const char *name;
        double flops;  // per layer
        std::function<void(const Layer &, int)> run;
      };
      const std::vector<Op> ops = {
          {"rmsnorm", 0, [&](const Layer &l, int) { be.rmsnorm(h, x, l.n1, eps); }},
          {"qkv GEMM", 2 * t * H * WQKV, [&](const Layer &l, int) { be.matmul(qkv, h, l.wqkv, false); }},
          {"rope_kv_store", 0, [&](const Layer &, int li) { be.rope_kv_store(qkv, HD, d_pos, d_inv, kv, li, d_slots); }},
          {"attention", 4 * causal * NH * HD,
           [&](const Layer &, int li) { be.attention(att, qkv, kv, li, d_table, nullptr, d_pos, NH, NKV, HD, scale); }},
          {"o GEMM (+= x)", 2 * t * QD * H, [&](const Layer &l, int) { be.matmul(x, att, l.wo, true); }},
          {"rmsnorm", 0, [&](const Layer &l, int) { be.rmsnorm(h, x, l.n2, eps); }},
          {"[gate; up] GEMM", 2 * t * H * 2 * F, [&](const Layer &l, int) { be.matmul_pair(gate, up, h, l.wgu); }},
          {"swiglu", 0, [&](const Layer &, int) { be.swiglu(gate, gate, up); }},
          {"down GEMM (+= x)", 2 * t * F * H, [&](const Layer &l, int) { be.matmul(x, gate, l.wd, true); }},
      };
      const double head_flops = 2.0 * H * V;  // lm_head on the last row
      double layer_flops = 0;
      for (const Op &o : ops) layer_flops += o.flops;
      const double flops = L * layer_flops + head_flops;
      auto pass = [&]() {
        for (int li = 0; li < L; li++)
          for (const Op &o : ops) o.run(layers[size_t(li % LA)], li % LA);
        be.rmsnorm(h.rows_slice(T - 1, 1), x.rows_slice(T - 1, 1), norm_f, eps);
        be.matmul(logits, h.rows_slice(T - 1, 1), lm_head, false);
      };
      pass();  // warm-up: cuBLAS's first calls, the pool written once
      be.synchronize(StreamId::Compute);
      // Each op alone: an event pair around it in every layer of a pass.
      std::vector<double> op_ms(ops.size(), 0.0);
      std::vector<Event *> ev(2 * ops.size() * size_t(L));
      for (Event *&e : ev) e = be.event_create();
      for (int li = 0; li < L; li++)
        for (size_t i = 0; i < ops.size(); i++) {
          const size_t k = 2 * (size_t(li) * ops.size() + i);
          be.event_record(ev[k], StreamId::Compute);
          ops[i].run(layers[size_t(li % LA)], li % LA);
          be.event_record(ev[k + 1], StreamId::Compute);
        }
      be.synchronize(StreamId::Compute);
      for (int li = 0; li < L; li++)
        for (size_t i = 0; i < ops.size(); i++) {
          const size_t k = 2 * (size_t(li) * ops.size() + i);
          op_ms[i] += be.event_elapsed_ms(ev[k], ev[k + 1]);
        }
      for (Event *e : ev) be.event_destroy(e);
      const double total_ms = p.time_ms(3, [&](int) { pass(); });
      const double floor_ms = flops / (peak * 1e12) * 1e3;
      std::printf("perf %s prefill %s T=%d: %.2f ms, floor %.2f ms (%.2f TFLOP at %.0f TFLOP/s) -> %.2fx\n", dev.c_str(),
                  shape.c_str(), T, total_ms, floor_ms, flops / 1e12, peak, total_ms / floor_ms);
      for (size_t i = 0; i < ops.size(); i++) {
        const double ms = op_ms[i];
        if (ops[i].flops > 0)
          std::printf("perf %s prefill %s T=%d   %-18s %8.3f ms (%4.1f%%)  %6.0f TFLOP/s  %5.1f%% of the GEMM rate\n", dev.c_str(),
                      shape.c_str(), T, ops[i].name, ms, 100 * ms / total_ms, L * ops[i].flops / (ms * 1e-3) / 1e12,
                      100 * L * ops[i].flops / (ms * 1e-3) / 1e12 / peak);
        else
          std::printf("perf %s prefill %s T=%d   %-18s %8.3f ms (%4.1f%%)\n", dev.c_str(), shape.c_str(), T, ops[i].name, ms,
                      100 * ms / total_ms);
      }
    }
    return 0;
  });
}

}  // namespace

int main(int argc, char **argv) {
  std::string only;
  std::vector<std::string> devices;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--perf" || a == "--perf-tiny" || a == "--perf-gemv") {
      const PerfMode mode = a == "--perf-tiny" ? PerfMode::Tiny : a == "--perf-gemv" ? PerfMode::Gemv : PerfMode::Full;
      return run_perf(i + 1 < argc ? argv[i + 1] : "cuda:0", mode);
    } else if (a == "--perf-batch") {
      return run_perf_batch(i + 1 < argc ? argv[i + 1] : "cuda:0");
    } else if (a == "--perf-prefill") {
      // --perf-prefill [DEVICE [SHAPE [T,T,...]]]: default cuda:0, 7b, 128,512,2048,8192
      const std::string dev = i + 1 < argc ? argv[i + 1] : "cuda:0", shape = i + 2 < argc ? argv[i + 2] : "7b";
      std::vector<int> tokens;
      for (std::string list = i + 3 < argc ? argv[i + 3] : "128,512,2048,8192"; !list.empty();) {
        const size_t comma = list.find(',');
        const int n = std::atoi(list.substr(0, comma).c_str());
        if (n < 2 || n > 65536) {
          std::printf("--perf-prefill: token counts are 2..65536, got \"%s\"\n", list.substr(0, comma).c_str());
          return 1;
        }
        tokens.push_back(n);
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
      }
      return run_perf_prefill(dev, shape, tokens);
    } else if (a == "-o" && i + 1 < argc) only = argv[++i];
    else if (a == "-h" || a == "--help") {
      std::printf("usage: %s [-o OP] [DEVICE...] | --perf [DEVICE] | --perf-gemv [DEVICE] | --perf-tiny [DEVICE] | "
                  "--perf-batch [DEVICE] | --perf-prefill [DEVICE [7b|13b|tiny [T,...]]]\n",
                  argv[0]);
      return 0;
    } else devices.push_back(a);
  }
  const bool default_devices = devices.empty();
  if (default_devices) devices = {"cuda:0", "cuda:0/no-cublas"};

  std::unique_ptr<Backend> cpu;
  try {
    cpu = open_backend("cpu");
  } catch (const Error &e) {
    std::printf("FAIL cpu: %s\n", e.what());
    return 1;
  }

  Tally tally;
  const std::vector<Case> cases = make_cases();
  for (const std::string &dev : devices) {
    // "cuda:0/no-cublas": the same GPU with cuBLAS disabled, so that the fallback GEMM is checked.
    std::string open_name = dev;
    const bool no_cublas = dev.size() > 10 && dev.compare(dev.size() - 10, 10, "/no-cublas") == 0;
    if (no_cublas) open_name = dev.substr(0, dev.size() - 10);
    std::unique_ptr<Backend> be;
    try {
      if (no_cublas) setenv("VRAMLAB_CUDA_NO_CUBLAS", "1", 1);
      be = open_backend(open_name);
      if (no_cublas) unsetenv("VRAMLAB_CUDA_NO_CUBLAS");
    } catch (const Error &e) {
      if (no_cublas) unsetenv("VRAMLAB_CUDA_NO_CUBLAS");
      if (e.status() == VL_ERR_NO_DEVICE) {
        std::printf("SKIP cuda: %s\n", e.what());
        tally.skipped++;
        if (default_devices) break;  // no GPU: the no-cublas variant cannot open either
        continue;
      }
      std::printf("FAIL %s: cannot open (%s): %s\n", dev.c_str(), vl_status_name(e.status()), e.what());
      tally.failed++;
      continue;
    }
    const DeviceInfo info = be->device_info();
    std::printf("# %s: %s, %s, act %s, kv %s\n", dev.c_str(), info.name.c_str(), info.driver.c_str(),
                dtype_name(be->activation_dtype()), dtype_name(be->kv_dtype()));

    const DType qa = coarser(be->activation_dtype(), cpu->activation_dtype());
    const DType qk = coarser(be->kv_dtype(), cpu->kv_dtype());
    for (const Case &cs : cases) {
      if (!only.empty() && cs.op != only) continue;
      Result ref, got;
      std::string error;
      try {
        Ctx rc(*cpu, qa, qk);
        ref = cs.run(rc);
      } catch (const Error &e) {
        error = std::string("cpu: ") + e.what();
      }
      if (error.empty()) {
        try {
          Ctx tc(*be, qa, qk);
          got = cs.run(tc);
        } catch (const Error &e) {
          error = e.what();
        }
      }
      if (!error.empty()) {
        if (error.size() > 80) error = error.substr(0, 77) + "...";
        tally.line(cs.op, dev, cs.shape, error, false);
        continue;
      }
      const double err = rel_l2(got.v, ref.v);
      const double tol = std::max(tol_for(got.dt), cs.min_tol);
      char detail[64];
      std::snprintf(detail, sizeof detail, "rel_err=%.2e tol=%.0e", err, tol);
      tally.line(cs.op, dev, cs.shape, detail, err <= tol);  // NaN fails
    }
    if (only.empty() || only == "streams") check_streams(*be, dev, tally);
    // (not on "cpu": the reference backend does not validate shapes, the core does)
    if ((only.empty() || only == "errors") && dev != "cpu") {
      check_errors(*be, dev, tally);
      // ... and the backend still computes correctly after those errors.
      for (const Case &cs : cases) {
        if (cs.op != "matmul" || cs.shape.rfind("T=37 N=96", 0) != 0) continue;
        std::string detail;
        bool ok = false;
        try {
          Ctx rc(*cpu, qa, qk), tc(*be, qa, qk);
          const Result ref = cs.run(rc), got = cs.run(tc);
          const double err = rel_l2(got.v, ref.v);
          char buf[64];
          std::snprintf(buf, sizeof buf, "rel_err=%.2e", err);
          detail = buf;
          ok = err <= std::max(tol_for(got.dt), cs.min_tol);
        } catch (const Error &e) {
          detail = e.what();
        }
        tally.line("errors", dev, "matmul after the errors: " + cs.shape, detail, ok);
        break;
      }
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", tally.passed, tally.failed, tally.skipped);
  return tally.failed ? 1 : 0;
}
