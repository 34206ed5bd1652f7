// abi.cpp: the C ABI. Every entry point runs its body inside guard(), which turns vl::Error,
// std::bad_alloc and any other exception into a status and a message, so nothing ever unwinds into
// the caller and the process never aborts. This file converts between the ABI's structs and the core's
// (ModelConfig, ModelOptions, RuntimeOptions, the stats) and owns nothing but the handles.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend_registry.h"
#include "engine.h"
#include "error.h"
#include "kv_pager.h"
#include "model.h"
#include "runtime.h"
#include "session.h"
#include "step.h"
#include "vramlab.h"

// The handles: what each opaque pointer of vramlab.h really is.
struct vl_runtime {
  std::unique_ptr<vl::Runtime> rt;
};
struct vl_model {
  vl_runtime *owner;
  std::unique_ptr<vl::Model> model;
};
struct vl_session {
  vl_model *owner;
  std::unique_ptr<vl::Session> session;
};

// runtime/native.ts allocates vl_error as 1024 bytes.
static_assert(sizeof(vl_error) == 1024, "vl_error must stay 1024 bytes (ERROR_BYTES in runtime/native.ts)");

namespace {

thread_local std::string t_last_error;

// Writes a call's status and message into its own vl_error (when given), truncated to fit.
void set_error(vl_error *err, vl_status st, const std::string &msg) {
  if (!err) return;
  err->status = st;
  const size_t n = std::min(msg.size(), sizeof(err->message) - 1);
  std::memcpy(err->message, msg.data(), n);
  err->message[n] = '\0';
}

// Runs an entry point's body: a thrown error becomes a status, its message goes to the calling
// thread's vl_last_error() and to the call's own err (calls made on worker threads read that one).
template <typename F>
int32_t guard(vl_error *err, F &&body) {
  set_error(err, VL_OK, "");
  vl_status st = VL_OK;
  std::string msg;
  try {
    body();
    return VL_OK;
  } catch (const vl::Error &e) {
    st = e.status();
    msg = e.what();
  } catch (const std::bad_alloc &) {
    st = VL_ERR_OUT_OF_MEMORY;
    msg = "out of host memory";
  } catch (const std::exception &e) {
    st = VL_ERR_INTERNAL;
    msg = std::string("internal error: ") + e.what();
  } catch (...) {
    st = VL_ERR_INTERNAL;
    msg = "internal error: unknown exception";
  }
  t_last_error = msg;
  set_error(err, st, msg);
  return st;
}

template <typename F>
int32_t guard(F &&body) {
  return guard(nullptr, std::forward<F>(body));
}

void need(const void *p, const char *what) {
  if (!p) throw vl::Error(VL_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

// Throws the state error of a call that cannot run while the session has scheduled work.
void not_scheduled(const vl::Session &s) {
  if (s.model().scheduler().busy(s))
    throw vl::Error(VL_ERR_STATE, "the session has work submitted to the scheduler: wait for it (vl_model_step) or cancel it first");
}

// Runs body with the session marked busy; a second concurrent call is a state error.
template <typename F>
int32_t session_call(vl_session *s, vl_error *err, F &&body) {
  return guard(err, [&] {
    need(s, "session");
    std::unique_lock<std::mutex> lock = s->session->call_lock();
    if (!lock.owns_lock()) {
      not_scheduled(*s->session);  // held by a batched step of the scheduler: say so
      throw vl::Error(VL_ERR_STATE, "the session is already running a step");
    }
    body(*s->session);
  });
}

// Throws the state error of a call that cannot run while the session is paused at a breakpoint.
void not_paused(const vl::Session &s) {
  if (s.step)
    throw vl::Error(VL_ERR_STATE, "the session is paused at a breakpoint after layer " + std::to_string(s.step->layer()) +
                                      ": resume or abort that step first");
}

// The paused step, or the state error of a call that needs one.
vl::Step &paused_step(const vl::Session &s, const char *what) {
  if (!s.step) throw vl::Error(VL_ERR_STATE, std::string("the session is not paused at a breakpoint: ") + what);
  return *s.step;
}

// ---- ABI structs <-> core structs ----

vl::ModelConfig config_from_abi(const vl_model_config &c) {
  vl::ModelConfig m;
  m.vocab_size = c.vocab_size;
  m.hidden_size = c.hidden_size;
  m.intermediate_size = c.intermediate_size;
  m.num_layers = c.num_layers;
  m.num_heads = c.num_heads;
  m.num_kv_heads = c.num_kv_heads ? c.num_kv_heads : c.num_heads;
  m.head_dim = c.head_dim ? c.head_dim : (c.num_heads ? c.hidden_size / c.num_heads : 0);
  m.max_position_embeddings = c.max_position_embeddings ? c.max_position_embeddings : 4096;
  m.tie_word_embeddings = c.tie_word_embeddings != 0;
  if (c.dtype < VL_F32 || c.dtype > VL_BF16) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "synthetic model: unknown dtype " + std::to_string(c.dtype));
  m.dtype = vl::DType(c.dtype);
  m.dtype_declared = true;
  m.rms_norm_eps = c.rms_norm_eps > 0 ? c.rms_norm_eps : 1e-5f;
  m.rope.theta = c.rope_theta > 0 ? c.rope_theta : 10000.0;
  return m;
}

vl_model_config config_to_abi(const vl::ModelConfig &m) {
  vl_model_config c{};
  c.vocab_size = m.vocab_size;
  c.hidden_size = m.hidden_size;
  c.intermediate_size = m.intermediate_size;
  c.num_layers = m.num_layers;
  c.num_heads = m.num_heads;
  c.num_kv_heads = m.num_kv_heads;
  c.head_dim = m.head_dim;
  c.max_position_embeddings = m.max_position_embeddings;
  c.tie_word_embeddings = m.tie_word_embeddings ? 1 : 0;
  c.dtype = int32_t(m.dtype);
  c.rms_norm_eps = m.rms_norm_eps;
  c.rope_theta = float(m.rope.theta);
  return c;
}

vl::PagingPolicy policy_from_abi(int32_t p) {
  if (p < VL_PAGING_LRU || p > VL_PAGING_NONE)
    throw vl::Error(VL_ERR_INVALID_ARGUMENT, "unknown paging policy " + std::to_string(p) + " (lru, next-use, recompute or none)");
  return vl::PagingPolicy(p);  // the same order
}

vl::ModelOptions options_from_abi(const vl_model_options *o) {
  vl::ModelOptions m;
  if (!o) return m;
  if (o->placement < VL_PLACE_RESIDENT || o->placement > VL_PLACE_AUTO)
    throw vl::Error(VL_ERR_INVALID_ARGUMENT, "unknown placement " + std::to_string(o->placement));
  m.kv_block_tokens = o->kv_block_tokens;
  m.kv_pool_tokens = o->kv_pool_tokens;
  m.placement = vl::Placement(o->placement);  // the same order
  m.prefetch = o->prefetch;
  m.ring_bytes = o->ring_bytes;
  m.paging = policy_from_abi(o->paging);
  return m;
}

vl_step_stats step_to_abi(const vl::StepStats &st, int32_t passes) {
  return vl_step_stats{st.tokens, passes, st.h2d_bytes, st.wall_ms, st.device_ms};
}

vl_breakpoint_stats breakpoints_to_abi(const vl::BreakpointView &v) {
  const vl::BreakpointStats &b = v.stats;
  return vl_breakpoint_stats{v.layer,    v.tokens,   v.hidden,       v.offloaded ? 1 : 0, b.pauses,   b.pause_ms,
                             b.restore_ms, b.to_logits_ms, b.gap_ms, b.d2h_bytes,         b.h2d_bytes};
}

// A model's description: its config and the plan a load would run on the target (a runtime now, or a
// device this machine need not have; see vl_model_description).
vl_model_description describe(const vl::PlanTarget &target, const vl::ModelConfig &c, const vl_model_options *options) {
  const vl::ModelPlan p = vl::Model::plan(target, c, options_from_abi(options));
  vl_model_description d{};
  d.config = config_to_abi(c);
  d.placement = int32_t(p.placement.placement);
  d.resident_layers = p.resident_layers;
  d.prefetch = p.placement.prefetch;
  d.kv_block_tokens = p.kv.block_tokens;
  d.kv_pool_blocks = p.kv.n_blocks;
  d.kv_dtype = int32_t(p.kv.dtype);
  d.activation_dtype = int32_t(target.dtypes.activation);
  d.max_step_tokens = p.max_step_tokens;
  d.free_bytes = target.free();
  d.fits = p.device_bytes() <= d.free_bytes ? 1 : 0;
  d.parameters = p.parameters;
  d.weight_bytes = p.resident_bytes() + p.host_bytes();
  d.resident_bytes = p.resident_bytes();
  d.host_bytes = p.host_bytes();
  d.ring_bytes = p.resident_layers < p.num_layers ? p.placement.ring_bytes : 0;
  d.layer_bytes = p.layer_bytes;
  d.kv_block_bytes = p.kv.block_bytes();
  d.kv_token_bytes = d.kv_block_bytes / uint64_t(p.kv.block_tokens);
  d.kv_pool_bytes = p.kv.bytes();
  d.workspace_bytes = p.workspace_bytes;
  d.device_bytes = p.device_bytes();
  d.budget = target.budget;
  d.fit_kv_pool_tokens = vl::Model::fitting_pool_tokens(target, c, p);
  return d;
}

// A synthetic shape from the ABI, checked.
vl::ModelConfig synthetic_config(const vl_model_config &config) {
  const vl::ModelConfig c = config_from_abi(config);
  c.validate("synthetic model");
  return c;
}

// Runs the session's step (fresh or paused) to its next breakpoint or its end; keeps it only while it
// is paused (a failed run drops it, unless it stayed paused: see Engine::run).
void run_step(vl::Session &s, float *logits, int32_t *paused_layer) {
  vl::Step &st = *s.step;
  try {
    s.model().engine().run(s, st, logits);
  } catch (...) {
    s.breakpoints = st.view();
    if (!st.paused()) s.step.reset();
    throw;
  }
  s.breakpoints = st.view();
  *paused_layer = st.layer();
  if (!st.paused()) {
    s.last = st.stats();
    s.last_passes = 1;
    s.step.reset();
  }
}

// The length check of an activation passed in or out.
void check_activation(const vl::Step &st, int64_t count) {
  const int64_t want = int64_t(st.tokens()) * st.hidden();
  if (count != want)
    throw vl::Error(VL_ERR_INVALID_ARGUMENT, "the activation has " + std::to_string(count) + " values but the step paused after layer " +
                                                 std::to_string(st.layer()) + " has " + std::to_string(st.tokens()) + " tokens x " +
                                                 std::to_string(st.hidden()) + " hidden = " + std::to_string(want));
}

}  // namespace

extern "C" {

VL_API const char *vl_last_error(void) { return t_last_error.c_str(); }

VL_API int32_t vl_abi_version(void) { return VL_ABI_VERSION; }

VL_API const char *vl_status_name(int32_t status) {
  switch (status) {
    case VL_OK: return "VL_OK";
    case VL_ERR_INVALID_ARGUMENT: return "VL_ERR_INVALID_ARGUMENT";
    case VL_ERR_IO: return "VL_ERR_IO";
    case VL_ERR_FORMAT: return "VL_ERR_FORMAT";
    case VL_ERR_UNSUPPORTED: return "VL_ERR_UNSUPPORTED";
    case VL_ERR_OUT_OF_MEMORY: return "VL_ERR_OUT_OF_MEMORY";
    case VL_ERR_DEVICE: return "VL_ERR_DEVICE";
    case VL_ERR_NO_DEVICE: return "VL_ERR_NO_DEVICE";
    case VL_ERR_STATE: return "VL_ERR_STATE";
    case VL_ERR_INTERNAL: return "VL_ERR_INTERNAL";
    case VL_ERR_NUMERIC: return "VL_ERR_NUMERIC";
  }
  return "VL_ERR_UNKNOWN";
}

VL_API int32_t vl_runtime_open(const char *device, const vl_runtime_options *options, vl_runtime **out) {
  return guard([&] {
    need(device, "device");
    need(out, "out");
    *out = nullptr;
    vl::RuntimeOptions o;
    if (options) o = vl::RuntimeOptions{options->budget, options->host_budget};
    auto h = std::make_unique<vl_runtime>();
    h->rt = std::make_unique<vl::Runtime>(vl::open_backend(device), device, o);
    *out = h.release();
  });
}

VL_API int32_t vl_runtime_close(vl_runtime *rt) {
  return guard([&] {
    if (!rt) return;
    if (rt->rt->live_models > 0)
      throw vl::Error(VL_ERR_STATE, "the runtime still has " + std::to_string(rt->rt->live_models.load()) +
                                        " model(s) loaded: free them first");
    delete rt;
  });
}

VL_API int32_t vl_runtime_memory(vl_runtime *rt, vl_memory_info *out) {
  return guard([&] {
    need(rt, "runtime");
    need(out, "out");
    vl::Runtime &r = *rt->rt;
    const vl::DeviceInfo info = r.backend->device_info();
    *out = vl_memory_info{r.arena.budget(), r.arena.current(), r.arena.peak(), info.total_bytes, info.free_bytes,
                          r.host.budget(),  r.host.current(),  r.host.peak()};
  });
}

VL_API int32_t vl_runtime_device_name(vl_runtime *rt, char *buf, int32_t cap) {
  return guard([&] {
    need(rt, "runtime");
    need(buf, "buf");
    if (cap <= 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "cap must be positive");
    const vl::DeviceInfo info = rt->rt->backend->device_info();
    const std::string s = info.name + (info.driver.empty() ? "" : " (" + info.driver + ")");
    const size_t n = std::min(s.size(), size_t(cap - 1));
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  });
}

VL_API int32_t vl_runtime_copy_bandwidth(vl_runtime *rt, uint64_t bytes, int32_t pinned, int32_t reps, int32_t direction,
                                         double *gbps, vl_error *err) {
  return guard(err, [&] {
    need(rt, "runtime");
    need(gbps, "gbps");
    if (direction < VL_COPY_H2D || direction > VL_COPY_D2D)
      throw vl::Error(VL_ERR_INVALID_ARGUMENT, "unknown copy direction " + std::to_string(direction));
    *gbps = rt->rt->copy_bandwidth(bytes, pinned != 0, reps, vl::CopyDirection(direction));
  });
}

VL_API int32_t vl_runtime_load_progress(vl_runtime *rt, uint64_t *done, uint64_t *total) {
  return guard([&] {
    need(rt, "runtime");
    need(done, "done");
    need(total, "total");
    rt->rt->load_progress(*done, *total);
  });
}

VL_API int32_t vl_model_load(vl_runtime *rt, const char *dir, const vl_model_options *options, vl_model **out,
                             vl_error *err) {
  return guard(err, [&] {
    need(rt, "runtime");
    need(dir, "dir");
    need(out, "out");
    *out = nullptr;
    auto h = std::make_unique<vl_model>();
    h->owner = rt;
    h->model = vl::Model::load_dir(*rt->rt, dir, options_from_abi(options));
    *out = h.release();
  });
}

VL_API int32_t vl_model_synthetic(vl_runtime *rt, const vl_model_config *config, uint64_t seed,
                                  const vl_model_options *options, vl_model **out, vl_error *err) {
  return guard(err, [&] {
    need(rt, "runtime");
    need(config, "config");
    need(out, "out");
    *out = nullptr;
    auto h = std::make_unique<vl_model>();
    h->owner = rt;
    h->model = vl::Model::synthetic(*rt->rt, config_from_abi(*config), seed, options_from_abi(options));
    *out = h.release();
  });
}

VL_API int32_t vl_model_describe(vl_runtime *rt, const char *dir, const vl_model_options *options,
                                 vl_model_description *out, vl_error *err) {
  return guard(err, [&] {
    need(rt, "runtime");
    need(dir, "dir");
    need(out, "out");
    *out = describe(vl::PlanTarget::of(*rt->rt), vl::Model::open_dir(dir).config, options);
  });
}

VL_API int32_t vl_model_describe_synthetic(vl_runtime *rt, const vl_model_config *config, const vl_model_options *options,
                                           vl_model_description *out, vl_error *err) {
  return guard(err, [&] {
    need(rt, "runtime");
    need(config, "config");
    need(out, "out");
    *out = describe(vl::PlanTarget::of(*rt->rt), synthetic_config(*config), options);
  });
}

VL_API int32_t vl_model_describe_for(const char *device, uint64_t device_memory, uint64_t budget, const char *dir,
                                     const vl_model_config *config, const vl_model_options *options,
                                     vl_model_description *out, vl_error *err) {
  return guard(err, [&] {
    need(device, "device");
    need(out, "out");
    if ((dir == nullptr) == (config == nullptr)) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "give a model directory or a synthetic config, not both or neither");
    if (device_memory == 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "device_memory must be above 0 bytes");
    const vl::PlanTarget target{vl::backend_dtypes(device), budget > 0 ? budget : device_memory, 0, budget > 0};
    *out = describe(target, dir ? vl::Model::open_dir(dir).config : synthetic_config(*config), options);
  });
}

VL_API int32_t vl_model_info_get(vl_model *m, vl_model_info *out) {
  return guard([&] {
    need(m, "model");
    need(out, "out");
    vl::Model &model = *m->model;
    const vl::KvLayout &kv = model.kv_pool().layout();
    *out = vl_model_info{};
    out->config = config_to_abi(model.config());
    out->weight_bytes = model.weight_bytes();
    out->kv_pool_bytes = kv.bytes();
    out->kv_block_tokens = kv.block_tokens;
    out->kv_pool_blocks = kv.n_blocks;
    out->kv_free_blocks = model.kv_pool().free_blocks();
    out->placement = int32_t(model.placement().placement);
    out->resident_layers = model.resident_layers();
    out->prefetch = model.placement().prefetch;
    out->resident_bytes = model.resident_bytes();
    out->host_bytes = model.host_bytes();
    out->ring_bytes = model.streams() ? model.placement().ring_bytes : 0;
    out->layer_bytes = model.layer_bytes();
    out->kv_block_bytes = kv.block_bytes();
    out->paging = int32_t(model.pager().policy());
    out->kv_host_blocks = model.kv_pool().used_slots();
    out->sessions = model.live_sessions.load();
    out->max_step_tokens = model.max_step_tokens();
  });
}

VL_API int32_t vl_model_free(vl_model *m) {
  return guard([&] {
    if (!m) return;
    if (m->model->live_sessions > 0)
      throw vl::Error(VL_ERR_STATE, "the model still has " + std::to_string(m->model->live_sessions.load()) +
                                        " session(s): free them first");
    delete m;
  });
}

VL_API int32_t vl_model_set_paging(vl_model *m, int32_t policy) {
  return guard([&] {
    need(m, "model");
    m->model->pager().set_policy(policy_from_abi(policy));
  });
}

VL_API int32_t vl_model_paging_stats(vl_model *m, vl_paging_stats *out) {
  return guard([&] {
    need(m, "model");
    need(out, "out");
    const vl::PagingStats s = m->model->pager().stats();
    *out = vl_paging_stats{s.out_bytes,         s.in_bytes,          s.out_blocks, s.in_blocks, s.evictions, s.dropped_blocks,
                           s.recomputed_tokens, s.prefetched_blocks, s.out_ms,     s.in_ms,     s.stall_ms, s.origin_ms,
                           s.host_alloc_ms};
  });
}

VL_API int32_t vl_model_reserve_host(vl_model *m, uint64_t bytes, double *ms, uint64_t *store_bytes, vl_error *err) {
  return guard(err, [&] {
    need(m, "model");
    need(ms, "ms");
    need(store_bytes, "store_bytes");
    vl::KvPool &pool = m->model->kv_pool();
    const uint64_t bb = pool.block_bytes();
    *ms = pool.reserve_slots(int64_t(std::min<uint64_t>(bytes / bb + (bytes % bb != 0), INT64_MAX / 2)));
    *store_bytes = pool.host_bytes();
  });
}

VL_API int32_t vl_model_reload(vl_model *m, double *ms, uint64_t *bytes, vl_error *err) {
  return guard(err, [&] {
    need(m, "model");
    need(ms, "ms");
    need(bytes, "bytes");
    *ms = m->model->engine().reload_weights();
    *bytes = m->model->resident_bytes();
  });
}

VL_API int32_t vl_model_set_scheduler(vl_model *m, const vl_scheduler_options *options) {
  return guard([&] {
    need(m, "model");
    need(options, "options");
    m->model->scheduler().set_options(vl::SchedulerOptions{options->prefill_chunk ? options->prefill_chunk : 256,
                                                          options->max_batch ? options->max_batch : 256});
  });
}

VL_API int32_t vl_model_step(vl_model *m, vl_schedule_step *out, vl_error *err) {
  return guard(err, [&] {
    need(m, "model");
    need(out, "out");
    const vl::SchedulerStep r = m->model->scheduler().step();
    *out = vl_schedule_step{r.sessions,  r.decode_tokens, r.prefill_tokens, r.finished,        r.pending,
                            r.left_out, r.wall_ms,       r.device_ms,      int64_t(r.step)};
  });
}

VL_API int32_t vl_model_prepare_scheduler(vl_model *m, int32_t max_batch, int32_t *recorded, vl_error *err) {
  return guard(err, [&] {
    need(m, "model");
    need(recorded, "recorded");
    *recorded = m->model->scheduler().prepare(max_batch);
  });
}

VL_API int32_t vl_model_forward_batch(vl_model *m, vl_session *const *sessions, int32_t n, const int32_t *counts,
                                      const int32_t *ids, float *logits, vl_error *errors, vl_step_stats *out,
                                      vl_error *err) {
  return guard(err, [&] {
    need(m, "model");
    need(sessions, "sessions");
    need(counts, "counts");
    need(ids, "ids");
    need(logits, "logits");
    need(errors, "errors");
    need(out, "out");
    if (n < 1) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "a batch needs at least one session");
    std::vector<vl::BatchItem> items(static_cast<size_t>(n));
    std::vector<std::unique_lock<std::mutex>> locks;
    const size_t vocab = size_t(m->model->config().vocab_size);
    int64_t at = 0;
    for (int32_t i = 0; i < n; i++) {
      need(sessions[i], "a session of the batch");
      if (&sessions[i]->session->model() != m->model.get()) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "a session of the batch belongs to another model");
      for (int32_t j = 0; j < i; j++)
        if (sessions[j] == sessions[i]) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "a session is twice in the batch");
      if (counts[i] < 1) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "every session of a batch needs at least one token");
      std::unique_lock<std::mutex> lock = sessions[i]->session->call_lock();
      if (!lock.owns_lock()) throw vl::Error(VL_ERR_STATE, "a session of the batch is already running a step");
      not_scheduled(*sessions[i]->session);
      locks.push_back(std::move(lock));
      vl::BatchItem &it = items[size_t(i)];
      it.session = sessions[i]->session.get();
      it.ids = ids + at;
      it.n = counts[i];
      it.logits = logits + size_t(i) * vocab;
      at += counts[i];
    }
    const vl::StepStats st = m->model->engine().run_batch(items);
    for (int32_t i = 0; i < n; i++) {
      set_error(&errors[i], items[size_t(i)].status, items[size_t(i)].status != VL_OK ? items[size_t(i)].error : std::string());
    }
    *out = step_to_abi(st, 1);
  });
}

VL_API int32_t vl_model_paging_events(vl_model *m, uint64_t first, vl_paging_event *out, int32_t cap, int32_t *n,
                                      uint64_t *total) {
  return guard([&] {
    need(m, "model");
    need(n, "n");
    need(total, "total");
    if (cap < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "cap must be >= 0");
    if (cap > 0) need(out, "out");
    const std::vector<vl::PagingEvent> ev = m->model->pager().events();
    *total = ev.size();
    *n = 0;
    for (uint64_t i = first; i < ev.size() && *n < cap; i++) {
      const vl::PagingEvent &e = ev[size_t(i)];
      out[(*n)++] = vl_paging_event{e.seq,    e.t_ms, e.session,       int32_t(e.kind),  int32_t(e.reason), e.blocks,
                                    e.bytes,  e.key,  e.device_blocks, e.host_blocks,    e.pool_used,       e.host_used};
    }
  });
}

VL_API int32_t vl_session_create(vl_model *m, vl_session **out) {
  return guard([&] {
    need(m, "model");
    need(out, "out");
    auto h = std::make_unique<vl_session>();
    h->owner = m;
    h->session = std::make_unique<vl::Session>(*m->model);
    *out = h.release();
  });
}

VL_API int32_t vl_session_free(vl_session *s) {
  return guard([&] {
    if (!s) return;
    vl::Scheduler &sched = s->session->model().scheduler();
    {
      std::unique_lock<std::mutex> lock = s->session->call_lock();
      // Busy in a batched step of the scheduler: its work ends, and the step (milliseconds) is waited for.
      if (!lock.owns_lock() && !s->session->batched && !sched.busy(*s->session))
        throw vl::Error(VL_ERR_STATE, "the session is running a step: wait for it before freeing it");
    }
    sched.cancel(*s->session);
    delete s;  // vl::Session's destructor waits for the step, drops a paused step and gives every block back
  });
}

VL_API int32_t vl_session_info_get(vl_session *s, vl_session_info *out) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    need(out, "out");
    const vl::BlockTable &t = ss.table();
    *out = vl_session_info{t.n_tokens(),          int32_t(t.blocks().size()), ss.id(),
                           t.device_blocks(),     t.host_blocks(),            ss.dropped_tokens(),
                           ss.paging.quota,       ss.paging.running ? 1 : 0,  ss.paging.in_bytes,
                           ss.paging.out_bytes,   ss.paging.next_use};
  });
}

VL_API int32_t vl_session_reset(vl_session *s) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    not_paused(ss);
    not_scheduled(ss);
    ss.reset();
  });
}

VL_API int32_t vl_session_forward(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows, float *logits,
                                  vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) {
    need(ids, "ids");
    not_paused(ss);
    not_scheduled(ss);
    ss.last = ss.model().engine().forward(ss, ids, n, logits_rows, logits);
    ss.last_passes = 1;
  });
}

VL_API int32_t vl_session_generate(vl_session *s, const int32_t *ids, int32_t n, int32_t max_new, int32_t *out,
                                   vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) {
    need(ids, "ids");
    if (max_new < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "max_new must be >= 0");
    if (max_new > 0) need(out, "out");
    not_paused(ss);
    not_scheduled(ss);
    const int32_t start = ss.table().n_tokens();
    try {
      ss.last = ss.model().engine().generate(ss, ids, n, max_new, out);
      ss.last.layers.clear();  // decode steps run without per-layer events
      ss.last_passes = std::max(max_new, 1);
    } catch (...) {
      ss.truncate(start);  // a failed generation leaves the session as before the call
      throw;
    }
  });
}


VL_API int32_t vl_session_submit(vl_session *s, const int32_t *ids, int32_t n, int32_t new_tokens) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    need(ids, "ids");
    ss.model().scheduler().submit(ss, ids, n, new_tokens);
  });
}

VL_API int32_t vl_session_cancel(vl_session *s) {
  // Not session_call: the scheduler's step may hold the session; the work is changed under its lock.
  return guard([&] {
    need(s, "session");
    s->session->model().scheduler().cancel(*s->session);
  });
}

VL_API int32_t vl_sessions_work(vl_session *const *sessions, int32_t n, const int32_t *from, vl_work_info *info,
                                int32_t *tokens, int32_t cap) {
  // Not session_call: the scheduler's step holds a session's `busy` while it runs it, and the work
  // is read under the scheduler's own lock.
  return guard([&] {
    if (n < 0 || cap < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "n and cap must be >= 0");
    if (n == 0) return;
    need(sessions, "sessions");
    need(from, "from");
    need(info, "info");
    if (cap > 0) need(tokens, "tokens");
    int32_t at = 0;
    for (int32_t i = 0; i < n; i++) {
      if (!sessions[i]) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "sessions[" + std::to_string(i) + "] is null");
      if (from[i] < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "from[" + std::to_string(i) + "] must be >= 0");
      const int32_t copied = sessions[i]->session->model().scheduler().read(*sessions[i]->session, from[i], info[i],
                                                                            cap > 0 ? tokens + at : nullptr, cap - at);
      at += copied;
      if (copied < info[i].tokens - from[i])
        throw vl::Error(VL_ERR_INVALID_ARGUMENT, "tokens: cap " + std::to_string(cap) +
                                                     " is too small for the sessions' new tokens (pass the sum of new_tokens - from)");
    }
  });
}

VL_API const char *vl_session_work_error(vl_session *s) {
  thread_local std::string copy;
  copy = s ? s->session->model().scheduler().work(*s->session).error : "";
  return copy.c_str();
}

VL_API int32_t vl_session_page_out(vl_session *s) {
  return session_call(s, nullptr, [&](vl::Session &ss) { ss.model().pager().page_out(ss); });
}

VL_API int32_t vl_session_page_in(vl_session *s, vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) { ss.model().pager().page_in(ss); });
}

// Not session_call: these only change the pager's view of the session, under the pager's lock, so they
// are fine while the session runs, is in a batched step, or is being paged by another session's step
// (which holds its `busy` while it moves its blocks).
VL_API int32_t vl_session_set_next_use(vl_session *s, double key) {
  return guard([&] {
    need(s, "session");
    s->session->model().pager().set_next_use(*s->session, key);
  });
}

VL_API int32_t vl_session_set_quota(vl_session *s, int32_t max_device_blocks) {
  return guard([&] {
    need(s, "session");
    s->session->model().pager().set_quota(*s->session, max_device_blocks);
  });
}

VL_API int32_t vl_session_last_step(vl_session *s, vl_step_stats *out) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    need(out, "out");
    *out = step_to_abi(ss.last, ss.last_passes);
  });
}

VL_API int32_t vl_session_timeline(vl_session *s, vl_layer_timing *out, int32_t cap, int32_t *n) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    need(n, "n");
    if (cap > 0) need(out, "out");
    const std::vector<vl::LayerTiming> &t = ss.last.layers;
    *n = int32_t(t.size());
    for (int32_t i = 0; i < std::min(cap, *n); i++)
      out[i] = vl_layer_timing{t[size_t(i)].copy_start, t[size_t(i)].copy_end, t[size_t(i)].compute_start, t[size_t(i)].compute_end};
  });
}

VL_API int32_t vl_session_forward_breakpoints(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows,
                                              float *logits, const int32_t *breakpoints, int32_t n_breakpoints,
                                              int32_t offload, int32_t *paused_layer, vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) {
    need(ids, "ids");
    need(paused_layer, "paused_layer");
    if (n_breakpoints < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "n_breakpoints must be >= 0");
    if (n_breakpoints > 0) need(breakpoints, "breakpoints");
    not_paused(ss);
    not_scheduled(ss);
    *paused_layer = -1;
    ss.step = std::make_unique<vl::Step>(ss.model().config(), ids, n, logits_rows,
                                         std::vector<int32_t>(breakpoints, breakpoints + n_breakpoints), offload != 0);
    run_step(ss, logits, paused_layer);
  });
}

VL_API int32_t vl_session_resume(vl_session *s, float *logits, int32_t *paused_layer, vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) {
    need(paused_layer, "paused_layer");
    paused_step(ss, "there is no step to resume");
    run_step(ss, logits, paused_layer);
  });
}

VL_API int32_t vl_session_abort(vl_session *s) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    vl::Step &st = paused_step(ss, "there is no step to abort");
    ss.model().engine().abort(ss, st);
    ss.breakpoints = st.view();
    ss.step.reset();
  });
}

VL_API int32_t vl_session_activation_get(vl_session *s, float *out, int64_t count) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    vl::Step &st = paused_step(ss, "there is no activation to read");
    need(out, "out");
    check_activation(st, count);
    ss.model().engine().read_activation(st, out);
  });
}

VL_API int32_t vl_session_activation_set(vl_session *s, const float *in, int64_t count) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    vl::Step &st = paused_step(ss, "there is no activation to replace");
    need(in, "in");
    check_activation(st, count);
    ss.model().engine().write_activation(st, in);
  });
}

VL_API int32_t vl_session_activation_edit(vl_session *s, float scale, const float *vec, int64_t count) {
  return session_call(s, nullptr, [&](vl::Session &ss) { paused_step(ss, "there is no activation to edit").edit(scale, vec, count); });
}

VL_API int32_t vl_session_breakpoint_stats(vl_session *s, vl_breakpoint_stats *out) {
  return session_call(s, nullptr, [&](vl::Session &ss) {
    need(out, "out");
    if (ss.step) {
      ss.model().engine().settle(*ss.step);  // its device times, once the device got there
      ss.breakpoints = ss.step->view();
    }
    *out = breakpoints_to_abi(ss.breakpoints);
  });
}

VL_API int32_t vl_session_lens(vl_session *s, int32_t rows, float *logits, vl_error *err) {
  return session_call(s, err, [&](vl::Session &ss) {
    vl::Step &st = paused_step(ss, "there is no activation for the logit lens");
    need(logits, "logits");
    if (rows < 1 || rows > st.tokens())
      throw vl::Error(VL_ERR_INVALID_ARGUMENT, "the logit lens takes 1 to " + std::to_string(st.tokens()) + " rows (the step's tokens), got " +
                                                   std::to_string(rows));
    ss.model().engine().lens(st, rows, logits);
  });
}

}  // extern "C"
