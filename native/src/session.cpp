#include "session.h"

#include "engine.h"
#include "model.h"

namespace vl {

Session::Session(Model &model) : model_(model), id_(model.pager().next_session_id()), table_(model.kv_pool()) {
  model_.pager().add_session(*this);
  model_.live_sessions++;
}

Session::~Session() {
  // A batched step may hold the session (its `busy`): wait for it. Then out of the scheduler's and the
  // pager's reach, so that no step or eviction picks a session that is going.
  std::lock_guard<std::mutex> lock(busy);
  model_.scheduler().cancel(*this);
  model_.pager().remove_session(*this);
  if (step) {
    try {
      model_.engine().abort(*this, *step);  // waits for its save; its blocks and stash go back
    } catch (...) {  // a device error shows at the next call
    }
    step.reset();
  }
  table_.clear();
  model_.live_sessions--;
}

void Session::commit(const int32_t *ids, int32_t n) {
  // (A recompute re-runs the dropped ids, copied from the history: they land where they were.)
  history_.resize(size_t(table_.n_tokens()));
  history_.insert(history_.end(), ids, ids + n);
  table_.commit(n);
}

void Session::truncate(int32_t tokens) {
  table_.truncate(tokens);
  if (history_.size() > size_t(tokens)) history_.resize(size_t(tokens));
}

void Session::reset() {
  table_.clear();
  history_.clear();
}

}  // namespace vl
