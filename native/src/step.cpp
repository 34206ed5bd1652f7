#include "step.h"

#include <algorithm>
#include <string>

#include "error.h"

namespace vl {

Step::Step(const ModelConfig &c, const int32_t *ids, int32_t n, int32_t logits_rows, std::vector<int32_t> breakpoints,
           bool offload)
    : hidden_(c.hidden_size), logits_rows_(logits_rows), breakpoints_(std::move(breakpoints)), offload_(offload) {
  if (n < 1) throw Error(VL_ERR_INVALID_ARGUMENT, "a step needs at least one token");
  if (logits_rows != 0 && logits_rows != 1 && logits_rows != n)
    throw Error(VL_ERR_INVALID_ARGUMENT, "logits_rows must be 0, 1 or the number of tokens (" + std::to_string(n) + ")");
  for (int32_t i = 0; i < n; i++)
    if (ids[i] < 0 || ids[i] >= c.vocab_size)
      throw Error(VL_ERR_INVALID_ARGUMENT, "token id " + std::to_string(ids[i]) + " at position " + std::to_string(i) +
                                               " is outside the vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
  for (int32_t b : breakpoints_)
    if (b < 0 || b >= c.num_layers)
      throw Error(VL_ERR_INVALID_ARGUMENT, "breakpoint layer " + std::to_string(b) + " is outside the model's layers (0.." +
                                               std::to_string(c.num_layers - 1) + ")");
  std::sort(breakpoints_.begin(), breakpoints_.end());
  breakpoints_.erase(std::unique(breakpoints_.begin(), breakpoints_.end()), breakpoints_.end());
  ids_.assign(ids, ids + n);
  stats_.tokens = n;
}

int32_t Step::next_breakpoint(int32_t first) const {
  auto it = std::lower_bound(breakpoints_.begin(), breakpoints_.end(), first);
  return it == breakpoints_.end() ? -1 : *it;
}

void Step::edit(float scale, const float *vec, int64_t count) {
  if (!paused()) throw Error(VL_ERR_STATE, "the session is not paused at a breakpoint: there is no activation to edit");
  if (vec && count != hidden_)
    throw Error(VL_ERR_INVALID_ARGUMENT, "the vector to add has " + std::to_string(count) +
                                             " values but the hidden size is " + std::to_string(hidden_));
  // (x * s0 + a0) * s + v = x * (s0 s) + (a0 s + v)
  edit_scale_ *= scale;
  for (float &a : edit_add_) a *= scale;
  if (vec) {
    if (edit_add_.empty()) edit_add_.assign(size_t(hidden_), 0.f);
    for (int32_t c = 0; c < hidden_; c++) edit_add_[size_t(c)] += vec[c];
  }
}

void Step::clear_edit() {
  edit_scale_ = 1.f;
  edit_add_.clear();
}

}  // namespace vl
