// abi.cpp: the C ABI. Every entry point runs its body inside guard(), which turns vl::Error,
// std::bad_alloc and any other exception into a status and a message, so nothing ever unwinds into
// the caller and the process never aborts.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "backend_registry.h"
#include "engine.h"
#include "error.h"
#include "model.h"
#include "runtime.h"
#include "step.h"
#include "vramlab.h"

// The handles: what each opaque pointer of vramlab.h really is.
struct vl_runtime {
  std::unique_ptr<vl::Runtime> rt;
  std::mutex err_mu;
  std::string error;
};
struct vl_model {
  vl_runtime *owner;
  std::unique_ptr<vl::Model> model;
};
struct vl_session {
  vl_model *owner;
  std::unique_ptr<vl::BlockTable> table;
  std::unique_ptr<vl::Step> step;       // a step paused at a breakpoint, or null
  vl_breakpoint_stats breakpoints{-1, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0};  // the last step with breakpoints
  vl_step_stats last{};                 // the last forward or generate call
  std::vector<vl::LayerTiming> timeline;  // its last pass
  std::mutex busy;  // one call at a time per session
  std::string error;
};

namespace {

thread_local std::string t_last_error;

template <typename F>
int32_t guard(std::string *sticky, std::mutex *sticky_mu, F &&body) {
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
  if (sticky) {
    if (sticky_mu) {
      std::lock_guard<std::mutex> lock(*sticky_mu);
      *sticky = msg;
    } else {
      *sticky = msg;
    }
  }
  return st;
}

template <typename F>
int32_t guard(F &&body) {
  return guard(nullptr, nullptr, std::forward<F>(body));
}

void need(const void *p, const char *what) {
  if (!p) throw vl::Error(VL_ERR_INVALID_ARGUMENT, std::string(what) + " is NULL");
}

// Runs body with the session marked busy; a second concurrent call is a state error.
template <typename F>
int32_t session_call(vl_session *s, F &&body) {
  return guard(s ? &s->error : nullptr, nullptr, [&] {
    need(s, "session");
    std::unique_lock<std::mutex> lock(s->busy, std::try_to_lock);
    if (!lock.owns_lock()) throw vl::Error(VL_ERR_STATE, "the session is already running a step");
    body();
  });
}

// Throws the state error of a call that cannot run while the session is paused at a breakpoint.
void not_paused(const vl_session *s) {
  if (s->step)
    throw vl::Error(VL_ERR_STATE, "the session is paused at a breakpoint after layer " +
                                      std::to_string(s->step->layer()) + ": resume or abort that step first");
}

// The paused step, or the state error of a call that needs one.
vl::Step &paused_step(const vl_session *s, const char *what) {
  if (!s->step) throw vl::Error(VL_ERR_STATE, std::string("the session is not paused at a breakpoint: ") + what);
  return *s->step;
}

vl_breakpoint_stats breakpoint_stats(const vl::Step &st) {
  const vl::BreakpointStats &b = st.breakpoint_stats();
  return vl_breakpoint_stats{st.layer(),   st.tokens(),  st.hidden(),     st.offloaded() ? 1 : 0,
                             b.pauses,     b.pause_ms,   b.restore_ms,    b.to_logits_ms,  b.gap_ms,
                             b.d2h_bytes,  b.h2d_bytes};
}

// Runs the session's step (fresh or paused) to its next breakpoint or its end; keeps it only while it
// is paused (a failed run drops it, unless it stayed paused: see Engine::run).
void run_step(vl_session *s, float *logits, int32_t *paused_layer) {
  vl::Step &st = *s->step;
  try {
    s->owner->model->engine().run(*s->table, st, logits);
  } catch (...) {
    s->breakpoints = breakpoint_stats(st);
    if (!st.paused()) s->step.reset();
    throw;
  }
  s->breakpoints = breakpoint_stats(st);
  *paused_layer = st.layer();
  if (!st.paused()) {
    const vl::StepStats &stats = st.stats();
    s->last = vl_step_stats{stats.tokens, 1, stats.h2d_bytes, stats.wall_ms, stats.device_ms};
    s->timeline = stats.layers;
    s->step.reset();
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
  }
  return "VL_ERR_UNKNOWN";
}

VL_API int32_t vl_runtime_open(const char *device, uint64_t vram_budget, vl_runtime **out) {
  return guard([&] {
    need(device, "device");
    need(out, "out");
    *out = nullptr;
    std::unique_ptr<vl::Backend> be = vl::open_backend(device);
    uint64_t budget = vram_budget;
    if (budget == 0) {
      vl::DeviceInfo info = be->device_info();
      budget = std::string(device) == "cpu" ? info.total_bytes : info.free_bytes;
    }
    auto h = std::make_unique<vl_runtime>();
    h->rt = std::make_unique<vl::Runtime>(std::move(be), device, budget);
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
    vl::DeviceInfo info = rt->rt->backend->device_info();
    out->budget = rt->rt->arena.budget();
    out->current = rt->rt->arena.current();
    out->peak = rt->rt->arena.peak();
    out->device_total = info.total_bytes;
    out->device_free = info.free_bytes;
  });
}

VL_API int32_t vl_runtime_device_name(vl_runtime *rt, char *buf, int32_t cap) {
  return guard([&] {
    need(rt, "runtime");
    need(buf, "buf");
    if (cap <= 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "cap must be positive");
    vl::DeviceInfo info = rt->rt->backend->device_info();
    std::string s = info.name + (info.driver.empty() ? "" : " (" + info.driver + ")");
    size_t n = std::min(s.size(), size_t(cap - 1));
    std::memcpy(buf, s.data(), n);
    buf[n] = '\0';
  });
}

VL_API const char *vl_runtime_error(vl_runtime *rt) {
  if (!rt) return "";
  std::lock_guard<std::mutex> lock(rt->err_mu);
  thread_local std::string copy;
  copy = rt->error;
  return copy.c_str();
}

VL_API int32_t vl_runtime_copy_bandwidth(vl_runtime *rt, uint64_t bytes, int32_t pinned, int32_t reps, double *gbps) {
  return guard(rt ? &rt->error : nullptr, rt ? &rt->err_mu : nullptr, [&] {
    need(rt, "runtime");
    need(gbps, "gbps");
    if (bytes == 0 || reps < 1) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "bytes and reps must be positive");
    vl::Backend &be = *rt->rt->backend;
    vl::DeviceBuffer dev = rt->rt->arena.alloc(bytes, "the bandwidth probe");
    char *h = pinned ? static_cast<char *>(be.host_alloc(bytes)) : static_cast<char *>(std::malloc(bytes));
    if (!h) throw vl::Error(VL_ERR_OUT_OF_MEMORY, "out of host memory for the bandwidth probe");
    vl::Event *a = nullptr, *b = nullptr;
    try {
      std::memset(h, 1, bytes);  // touch every page
      a = be.event_create();
      b = be.event_create();
      be.copy(dev.get(), h, bytes, vl::CopyKind::HostToDevice, vl::StreamId::Copy);  // warm-up
      be.event_record(a, vl::StreamId::Copy);
      for (int32_t i = 0; i < reps; i++) be.copy(dev.get(), h, bytes, vl::CopyKind::HostToDevice, vl::StreamId::Copy);
      be.event_record(b, vl::StreamId::Copy);
      be.event_synchronize(b);
      *gbps = double(bytes) * reps / (double(be.event_elapsed_ms(a, b)) * 1e6);
    } catch (...) {
      if (a) be.event_destroy(a);
      if (b) be.event_destroy(b);
      pinned ? be.host_free(h) : std::free(h);
      throw;
    }
    be.event_destroy(a);
    be.event_destroy(b);
    pinned ? be.host_free(h) : std::free(h);
  });
}

VL_API int32_t vl_model_load(vl_runtime *rt, const char *dir, const vl_model_options *options, vl_model **out) {
  return guard(rt ? &rt->error : nullptr, rt ? &rt->err_mu : nullptr, [&] {
    need(rt, "runtime");
    need(dir, "dir");
    need(out, "out");
    *out = nullptr;
    auto h = std::make_unique<vl_model>();
    h->owner = rt;
    h->model = vl::Model::load_dir(*rt->rt, dir, options);
    *out = h.release();
  });
}

VL_API int32_t vl_model_synthetic(vl_runtime *rt, const vl_model_config *config, uint64_t seed,
                                  const vl_model_options *options, vl_model **out) {
  return guard(rt ? &rt->error : nullptr, rt ? &rt->err_mu : nullptr, [&] {
    need(rt, "runtime");
    need(config, "config");
    need(out, "out");
    *out = nullptr;
    auto h = std::make_unique<vl_model>();
    h->owner = rt;
    h->model = vl::Model::synthetic(*rt->rt, vl::ModelConfig::from_abi(*config), seed, options);
    *out = h.release();
  });
}

VL_API int32_t vl_model_info_get(vl_model *m, vl_model_info *out) {
  return guard([&] {
    need(m, "model");
    need(out, "out");
    vl::Model &model = *m->model;
    const vl::KvLayout &kv = model.kv_pool().layout();
    *out = vl_model_info{};
    out->config = model.config().to_abi();
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

VL_API int32_t vl_session_create(vl_model *m, vl_session **out) {
  return guard([&] {
    need(m, "model");
    need(out, "out");
    auto h = std::make_unique<vl_session>();
    h->owner = m;
    h->table = std::make_unique<vl::BlockTable>(m->model->kv_pool());
    m->model->live_sessions++;
    *out = h.release();
  });
}

VL_API int32_t vl_session_free(vl_session *s) {
  return guard([&] {
    if (!s) return;
    std::unique_lock<std::mutex> lock(s->busy, std::try_to_lock);
    if (!lock.owns_lock()) throw vl::Error(VL_ERR_STATE, "the session is running a step: wait for it before freeing it");
    lock.unlock();
    if (s->step) {  // paused: its save may still be running into buffers that go with it
      try {
        s->owner->model->engine().settle(*s->step);
      } catch (...) {  // settle forgot the step first; the device error shows at the next call
      }
    }
    s->owner->model->live_sessions--;
    delete s;
  });
}

VL_API int32_t vl_session_info_get(vl_session *s, vl_session_info *out) {
  return guard([&] {
    need(s, "session");
    need(out, "out");
    std::unique_lock<std::mutex> lock(s->busy, std::try_to_lock);
    if (!lock.owns_lock()) throw vl::Error(VL_ERR_STATE, "the session is running a step");
    out->n_tokens = s->table->n_tokens();
    out->n_blocks = int32_t(s->table->blocks().size());
  });
}

VL_API int32_t vl_session_reset(vl_session *s) {
  return session_call(s, [&] {
    not_paused(s);
    s->table->clear();
  });
}

VL_API int32_t vl_session_forward(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows, float *logits) {
  return session_call(s, [&] {
    need(ids, "ids");
    not_paused(s);
    vl::StepStats st = s->owner->model->engine().forward(*s->table, ids, n, logits_rows, logits);
    s->last = vl_step_stats{st.tokens, 1, st.h2d_bytes, st.wall_ms, st.device_ms};
    s->timeline = std::move(st.layers);
  });
}

VL_API int32_t vl_session_generate(vl_session *s, const int32_t *ids, int32_t n, int32_t max_new, int32_t *out) {
  return session_call(s, [&] {
    need(ids, "ids");
    if (max_new < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "max_new must be >= 0");
    if (max_new > 0) need(out, "out");
    not_paused(s);
    const int32_t start = s->table->n_tokens();
    try {
      const vl::StepStats st = s->owner->model->engine().generate(*s->table, ids, n, max_new, out);
      s->last = vl_step_stats{st.tokens, std::max(max_new, 1), st.h2d_bytes, st.wall_ms, st.device_ms};
      s->timeline.clear();  // decode steps run without per-layer events
    } catch (...) {
      s->table->truncate(start);  // a failed generation leaves the session as before the call
      throw;
    }
  });
}

VL_API const char *vl_session_error(vl_session *s) { return s ? s->error.c_str() : ""; }

VL_API int32_t vl_session_last_step(vl_session *s, vl_step_stats *out) {
  return session_call(s, [&] {
    need(out, "out");
    *out = s->last;
  });
}

VL_API int32_t vl_session_timeline(vl_session *s, vl_layer_timing *out, int32_t cap, int32_t *n) {
  return session_call(s, [&] {
    need(n, "n");
    *n = int32_t(s->timeline.size());
    for (int32_t i = 0; i < std::min(cap, *n); i++) {
      const vl::LayerTiming &t = s->timeline[size_t(i)];
      out[i] = vl_layer_timing{t.copy_start, t.copy_end, t.compute_start, t.compute_end};
    }
  });
}

VL_API int32_t vl_session_forward_breakpoints(vl_session *s, const int32_t *ids, int32_t n, int32_t logits_rows,
                                              float *logits, const int32_t *breakpoints, int32_t n_breakpoints,
                                              int32_t offload, int32_t *paused_layer) {
  return session_call(s, [&] {
    need(ids, "ids");
    need(paused_layer, "paused_layer");
    if (n_breakpoints < 0) throw vl::Error(VL_ERR_INVALID_ARGUMENT, "n_breakpoints must be >= 0");
    if (n_breakpoints > 0) need(breakpoints, "breakpoints");
    not_paused(s);
    *paused_layer = -1;
    s->step = std::make_unique<vl::Step>(s->owner->model->config(), ids, n, logits_rows,
                                         std::vector<int32_t>(breakpoints, breakpoints + n_breakpoints), offload != 0);
    run_step(s, logits, paused_layer);
  });
}

VL_API int32_t vl_session_resume(vl_session *s, float *logits, int32_t *paused_layer) {
  return session_call(s, [&] {
    need(paused_layer, "paused_layer");
    paused_step(s, "there is no step to resume");
    run_step(s, logits, paused_layer);
  });
}

VL_API int32_t vl_session_abort(vl_session *s) {
  return session_call(s, [&] {
    vl::Step &st = paused_step(s, "there is no step to abort");
    s->owner->model->engine().abort(*s->table, st);
    s->breakpoints = breakpoint_stats(st);
    s->step.reset();
  });
}

VL_API int32_t vl_session_activation_get(vl_session *s, float *out, int64_t count) {
  return session_call(s, [&] {
    vl::Step &st = paused_step(s, "there is no activation to read");
    need(out, "out");
    check_activation(st, count);
    s->owner->model->engine().read_activation(st, out);
  });
}

VL_API int32_t vl_session_activation_set(vl_session *s, const float *in, int64_t count) {
  return session_call(s, [&] {
    vl::Step &st = paused_step(s, "there is no activation to replace");
    need(in, "in");
    check_activation(st, count);
    s->owner->model->engine().write_activation(st, in);
  });
}

VL_API int32_t vl_session_activation_edit(vl_session *s, float scale, const float *vec, int64_t count) {
  return session_call(s, [&] { paused_step(s, "there is no activation to edit").edit(scale, vec, count); });
}

VL_API int32_t vl_session_breakpoint_stats(vl_session *s, vl_breakpoint_stats *out) {
  return session_call(s, [&] {
    need(out, "out");
    if (s->step) s->owner->model->engine().settle(*s->step);  // its device times, once the device got there
    *out = s->step ? breakpoint_stats(*s->step) : s->breakpoints;
  });
}

}  // extern "C"
