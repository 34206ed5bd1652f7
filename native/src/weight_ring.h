// weight_ring.h: the skip-end ring buffer that streamed layers flow through. Each streamed layer is
// one contiguous byte range; its place in the ring is computed once, at load: layers are laid out in
// order from offset 0, and a layer that does not fit before the end restarts at offset 0 (it never
// straddles the wrap point). Every pass (prefill or decode step) starts again at layer 0, offset 0,
// so the plan is the same for every pass.
//
// A copy into the ring may overwrite bytes an earlier layer of the same pass still needs: reuse_after
// names the latest such layer, whose compute must have finished (an event) before the copy starts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vl {

struct RingPlan {
  size_t capacity = 0;
  std::vector<size_t> offset;    // per streamed layer, bytes into the ring
  std::vector<size_t> size;      // per streamed layer, bytes
  std::vector<int32_t> reuse_after;  // per streamed layer: latest earlier layer it overwrites, or -1

  // Throws Error(VL_ERR_INVALID_ARGUMENT) when a layer is larger than the ring.
  static RingPlan make(size_t capacity, const std::vector<size_t> &sizes, size_t align = 256);
  // How many layers ahead of `computing` may be in the ring at once without waiting (>= 0).
  int32_t max_ahead(int32_t computing) const;
};

}  // namespace vl
