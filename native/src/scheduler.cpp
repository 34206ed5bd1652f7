#include "scheduler.h"

#include <algorithm>

#include "engine.h"
#include "error.h"
#include "model.h"
#include "session.h"

namespace vl {

void Scheduler::set_options(const SchedulerOptions &o) {
  if (o.prefill_chunk < 1 || o.max_batch < 1)
    throw Error(VL_ERR_INVALID_ARGUMENT, "the scheduler's prefill chunk and batch size must be at least 1 (got " +
                                             std::to_string(o.prefill_chunk) + " and " + std::to_string(o.max_batch) + ")");
  std::lock_guard<std::mutex> lock(mu_);
  options_ = o;
}

SchedulerOptions Scheduler::options() const {
  std::lock_guard<std::mutex> lock(mu_);
  return options_;
}

void Scheduler::submit(Session &s, const int32_t *ids, int32_t n, int32_t new_tokens) {
  if (n < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "submitted work needs at least one token to run");
  if (new_tokens < 0) throw Error(VL_ERR_INVALID_ARGUMENT, "new_tokens must be >= 0");
  Step check(m_.config(), ids, n, 0, {}, false);  // the ids, against the vocabulary
  if (s.step) throw Error(VL_ERR_STATE, "the session is paused at a breakpoint: resume or abort that step first");
  std::lock_guard<std::mutex> lock(mu_);
  if (s.work.active) throw Error(VL_ERR_STATE, "the session already has work submitted: wait for it (or cancel it) first");
  s.work = SessionWork{};
  s.work.active = true;
  s.work.prompt.assign(ids, ids + n);
  s.work.new_tokens = new_tokens;
  s.work.order = ++order_;
}

void Scheduler::cancel(Session &s) {
  std::lock_guard<std::mutex> lock(mu_);
  s.work.active = false;
}

int32_t Scheduler::prepare(int32_t max_batch) {
  if (max_batch < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "the batch size to prepare must be at least 1 (got " + std::to_string(max_batch) + ")");
  const SchedulerOptions o = options();
  const int32_t n = std::min(max_batch, o.max_batch);
  // A step's tokens: a prompt chunk beside the decode tokens of every other session.
  const int64_t tokens = std::min<int64_t>(int64_t(o.prefill_chunk) + n, INT32_MAX);
  return m_.engine().prepare_batch_graphs(n, int32_t(tokens));
}

SessionWork Scheduler::work(const Session &s) const {
  std::lock_guard<std::mutex> lock(mu_);
  return s.work;
}

int32_t Scheduler::read(const Session &s, int32_t from, vl_work_info &info, int32_t *tokens, int32_t cap) const {
  std::lock_guard<std::mutex> lock(mu_);
  const SessionWork &w = s.work;
  info = vl_work_info{w.active ? 1 : 0, int32_t(w.status), int32_t(w.prompt.size()), int32_t(w.prefilled), w.new_tokens,
                      int32_t(w.tokens.size()), int64_t(w.step)};
  const size_t first = std::min(size_t(std::max(from, 0)), w.tokens.size());
  const size_t n = std::min(w.tokens.size() - first, size_t(std::max(cap, 0)));
  std::copy_n(w.tokens.begin() + std::ptrdiff_t(first), n, tokens);
  return int32_t(n);
}

bool Scheduler::busy(const Session &s) const {
  std::lock_guard<std::mutex> lock(mu_);
  return s.work.active;
}

namespace {
bool prefilling(const SessionWork &w) { return w.prefilled < w.prompt.size(); }
// The token a decoding session runs next: its last pick.
bool decoding(const SessionWork &w) { return !prefilling(w) && int32_t(w.tokens.size()) < w.new_tokens && !w.tokens.empty(); }
}  // namespace

SchedulerStep Scheduler::step() {
  SchedulerStep report;
  std::vector<BatchItem> items;
  std::vector<Session *> chosen;
  std::vector<std::unique_lock<std::mutex>> locks;  // the batch's sessions: no other call of theirs meanwhile
  std::vector<int32_t> inputs;                      // decode inputs, stable for the items' pointers
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Session *> active;
    for (Session *s : m_.pager().sessions())
      if (s->work.active) active.push_back(s);
    // Decoding sessions first (every one, one token each), then prompt chunks, oldest submission first.
    std::sort(active.begin(), active.end(), [](const Session *a, const Session *b) {
      const bool da = decoding(a->work), db = decoding(b->work);
      return da != db ? da : a->work.order < b->work.order;
    });
    int32_t budget = options_.prefill_chunk;
    // Admission: the batch's sessions must fit the device pool together (each one's blocks after this
    // step's tokens, dropped tokens re-run included), since the pager can evict only sessions outside
    // the batch. A session past that room waits for a later step, in order, instead of failing out of
    // memory beside the others; the first is always tried, so that one that cannot fit even alone
    // fails with the pager's message. Without paging (policy none) nothing outside the batch can be
    // evicted either: the out-of-memory baseline runs unadmitted.
    const KvLayout &pool = m_.kv_pool().layout();
    const bool admit = m_.pager().policy() != PagingPolicy::None;
    int64_t room = pool.n_blocks;
    inputs.reserve(active.size());
    for (Session *s : active) {
      SessionWork &w = s->work;
      if (int32_t(chosen.size()) >= options_.max_batch || s->step) {
        report.left_out++;
        continue;
      }
      const bool dec = decoding(w);
      if (!dec && (!prefilling(w) || budget == 0)) {
        if (prefilling(w)) report.left_out++;
        continue;
      }
      std::unique_lock<std::mutex> busy(s->busy, std::try_to_lock);
      if (!busy.owns_lock()) {
        report.left_out++;
        continue;
      }
      const int32_t n = dec ? 1 : std::min(int32_t(w.prompt.size() - w.prefilled), budget);
      const int64_t need = (int64_t(s->history().size()) + n + pool.block_tokens - 1) / pool.block_tokens;
      if (admit && !chosen.empty() && need > room) {
        report.left_out++;
        continue;  // `busy` unlocks here
      }
      room -= need;
      BatchItem it;
      it.session = s;
      it.n = n;
      if (dec) {
        inputs.push_back(w.tokens.back());
        it.ids = &inputs.back();
        it.pick = true;
        report.decode_tokens++;
      } else {
        it.ids = w.prompt.data() + w.prefilled;
        it.pick = it.n == int32_t(w.prompt.size() - w.prefilled) && w.new_tokens > 0;
        budget -= it.n;
        report.prefill_tokens += it.n;
      }
      items.push_back(it);
      chosen.push_back(s);
      s->batched = true;
      locks.push_back(std::move(busy));
    }
  }
  if (items.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    report.step = steps_;
    return report;
  }
  // The work of the chosen sessions is not changed by others meanwhile: submit and cancel need it
  // inactive or leave it be, and their `busy` locks are ours.
  // Released (and marked so) however the step ends.
  struct Unmark {
    std::vector<Session *> &sessions;
    std::vector<std::unique_lock<std::mutex>> &locks;
    ~Unmark() {
      locks.clear();  // unlocked first: a free waiting on the mark then finds the session free
      for (Session *s : sessions) s->batched = false;
    }
  } unmark{chosen, locks};
  const StepStats st = m_.engine().run_batch(items);
  report.wall_ms = st.wall_ms;
  report.device_ms = st.device_ms;
  report.sessions = int32_t(items.size());
  std::lock_guard<std::mutex> lock(mu_);
  report.step = ++steps_;
  const bool alone = items.size() == 1;
  for (BatchItem &it : items) {
    SessionWork &w = it.session->work;
    if (!w.active) continue;  // cancelled meanwhile
    w.step = report.step;
    if (it.status != VL_OK) {
      // Out of memory beside others: their blocks free up as they finish, so try again; alone, or for
      // any other reason, the work fails.
      if (it.status == VL_ERR_OUT_OF_MEMORY && !alone && ++w.failures < 1000) continue;
      w.status = it.status;
      w.error = it.error;
      w.active = false;
      report.finished++;
      continue;
    }
    w.failures = 0;
    if (it.n > 1 || prefilling(w)) w.prefilled += size_t(it.n);
    if (it.pick) w.tokens.push_back(it.token);
    if (!prefilling(w) && int32_t(w.tokens.size()) >= w.new_tokens) {
      w.active = false;
      report.finished++;
    }
  }
  for (Session *s : m_.pager().sessions())
    if (s->work.active) report.pending++;
  return report;
}

}  // namespace vl
