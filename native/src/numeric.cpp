// numeric.cpp: the Engine's checks for non-finite results (VL_ERR_NUMERIC). A step that ran to its end
// is checked where its result reaches the host anyway (the logits copied out, or the argmax's flags),
// which costs nothing next to the pass; only when a value is a NaN or an infinity is the step re-run
// part by part, to say where the first one appeared, before the caller rolls it back.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "engine.h"
#include "error.h"
#include "model.h"

namespace vl {

namespace {
// Turns the per-layer events off for the re-run (they belong to the step's timeline, or to a paused
// step's pause), and back on however it ends.
struct NoTimeline {
  bool &flag;
  bool was;
  explicit NoTimeline(bool &f) : flag(f), was(f) { flag = false; }
  ~NoTimeline() { flag = was; }
};
const char *kConfigHint = "check the model's weights and config.json (rms_norm_eps, rope scaling)";

// The first value of v (count floats, host) that is a NaN or an infinity, or null. A first pass ORs a
// flag per value (all exponent bits set), which the compiler vectorizes: logits of every position of a
// long prompt are rows x vocab floats, and this pass runs after every step.
const float *first_nonfinite(const float *v, size_t count) {
  uint32_t any = 0;
  for (size_t i = 0; i < count; i++) {
    uint32_t bits;
    std::memcpy(&bits, v + i, 4);  // (no aliasing through a cast)
    any |= uint32_t((bits & 0x7f800000u) == 0x7f800000u);
  }
  if (!any) return nullptr;
  return std::find_if(v, v + count, [](float x) { return !std::isfinite(x); });
}
}  // namespace

int32_t Engine::nonfinite_row(const Tensor &x) {
  std::vector<char> host(x.bytes());
  be_.copy(host.data(), x.data, host.size(), CopyKind::DeviceToHost, StreamId::Compute);
  be_.synchronize(StreamId::Compute);
  for (int64_t r = 0; r < x.rows; r++)
    for (int64_t c = 0; c < x.cols; c++)
      if (!std::isfinite(load_f32(host.data(), x.dtype, size_t(r) * size_t(x.cols) + size_t(c)))) return int32_t(r);
  return -1;
}

std::string Engine::checked_layers(int32_t n, int32_t start, int32_t first, int32_t last) {
  const int32_t L = m_.config().num_layers;
  const Tensor x = x_.rows_slice(0, n);
  const auto at = [&](int32_t row) { return " at position " + std::to_string(start + row); };
  if (first < 0) {
    be_.embed(x, m_.embed_tokens, ids_);
    if (const int32_t r = nonfinite_row(x); r >= 0) return "the token embeddings (embed_tokens)" + at(r);
    first = 0;
  }
  StepStats unused;
  for (int32_t l = first; l <= last; l++) {
    run_layers(n, l, l, unused);
    if (const int32_t r = nonfinite_row(x); r >= 0)
      return "the output of decoder layer " + std::to_string(l) + " (of layers 0-" + std::to_string(L - 1) + ")" + at(r);
  }
  return "";
}

std::string Engine::checked_head(int32_t n, int32_t start, int32_t rows) {
  compute_logits(n, rows);  // h_: the final norm of the last rows, logits_: the output head's
  const int32_t first = start + n - rows;
  if (const int32_t r = nonfinite_row(h_.rows_slice(0, rows)); r >= 0)
    return "the final norm (model.norm) at position " + std::to_string(first + r);
  if (const int32_t r = nonfinite_row(logits_.rows_slice(0, rows)); r >= 0)
    return "the output head (lm_head) at position " + std::to_string(first + r);
  return "";
}

Error Engine::numeric_error(const std::string &what, Step &st, int32_t first) {
  NoTimeline off(timeline_);
  const int32_t n = st.tokens(), start = st.start_, L = m_.config().num_layers;
  std::string where, hint = kConfigHint;
  if (first > 0) {
    const BreakpointStats bp = st.bp_;  // this restore is not one of the step's
    restore(st);
    st.bp_ = bp;
    if (const int32_t r = nonfinite_row(x_.rows_slice(0, n)); r < 0) {
      where = checked_layers(n, start, first, L - 1);
    } else {
      // Not finite at the resume: from the layers before the pause, or else from what was written
      // or added to the activation while paused.
      where = checked_layers(n, start, -1, first - 1);
      if (where.empty()) {
        where = "the activation at the breakpoint after decoder layer " + std::to_string(first - 1) + ", as edited, at position " +
                std::to_string(start + r);
        hint = "check the values written or added to it";
      }
    }
  } else {
    where = checked_layers(n, start, -1, L - 1);
  }
  if (where.empty() && st.logits_rows_ > 0) where = checked_head(n, start, st.logits_rows_);
  if (where.empty())
    return Error(VL_ERR_NUMERIC, what + ", but re-run part by part every value was finite; " + hint);
  return Error(VL_ERR_NUMERIC, what + ": the first non-finite value is in " + where + "; " + hint);
}

Error Engine::numeric_error_at(const std::string &what, const BlockTable &table, const int32_t *ids, int32_t n,
                               int32_t start, int32_t rows) {
  Step redo(m_.config(), ids, n, rows, {}, false);
  redo.start_ = start;
  upload_meta(table, redo);
  return numeric_error(what, redo, 0);
}

void Engine::check_finite(Step &st, int32_t first, const float *out) {
  const int32_t n = st.tokens();
  std::string what = "the forward pass produced ";
  if (st.logits_rows_ > 0) {
    const float *bad = first_nonfinite(out, size_t(st.logits_rows_) * size_t(m_.config().vocab_size));
    if (!bad) return;
    what += std::isnan(*bad) ? "NaN logits" : "infinite logits";
  } else {
    const int32_t H = m_.config().hidden_size;
    std::vector<float> last(static_cast<size_t>(H));  // (H) the last position's residual stream
    be_.copy(last.data(), x_.rows_slice(n - 1, 1).data, last.size() * 4, CopyKind::DeviceToHost, StreamId::Compute);
    be_.synchronize(StreamId::Compute);
    const float *bad = first_nonfinite(last.data(), last.size());
    if (!bad) return;
    what += std::string(std::isnan(*bad) ? "a NaN" : "an infinite") + " value in the last position's hidden state";
  }
  throw numeric_error(what, st, first);
}

void Engine::check_lens(const Step &st, int32_t rows, const float *x, const float *out) {
  const size_t V = size_t(m_.config().vocab_size), H = size_t(st.hidden());
  const float *bad = first_nonfinite(out, size_t(rows) * V);
  if (!bad) return;
  const int32_t n = st.tokens(), row = n - rows + int32_t(size_t(bad - out) / V);  // of the step's n
  const std::string position = std::to_string(st.start_ + row), after = std::to_string(st.layer());
  const std::string what = std::string("the logit lens produced ") + (std::isnan(*bad) ? "NaN" : "infinite") + " logits";
  if (first_nonfinite(x + size_t(row) * H, H))
    throw Error(VL_ERR_NUMERIC, what + ": the activation at the breakpoint after decoder layer " + after + " (as edited) is not finite at position " +
                                    position + "; check the values written or added to it, or the weights of the layers before");
  throw Error(VL_ERR_NUMERIC, what + " from the finite activation after decoder layer " + after + " at position " + position +
                                  ": the final norm (model.norm) or the output head (lm_head) overflowed; " + kConfigHint);
}

}  // namespace vl
