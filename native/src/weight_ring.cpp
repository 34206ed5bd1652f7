#include "weight_ring.h"

#include "arena.h"
#include "error.h"

namespace vl {

RingPlan RingPlan::make(size_t capacity, const std::vector<size_t> &sizes, size_t align) {
  RingPlan p;
  p.capacity = capacity;
  size_t cur = 0;
  for (size_t j = 0; j < sizes.size(); j++) {
    if (sizes[j] > capacity)
      throw Error(VL_ERR_INVALID_ARGUMENT, "the ring (" + format_bytes(capacity) + ") is smaller than layer " +
                                               std::to_string(j) + " (" + format_bytes(sizes[j]) +
                                               "); give a ring of at least one layer (--ring)");
    size_t off = (cur + align - 1) / align * align;
    if (off + sizes[j] > capacity) off = 0;  // skip the end: never straddle the wrap point
    p.offset.push_back(off);
    p.size.push_back(sizes[j]);
    cur = off + sizes[j];
  }
  for (size_t j = 0; j < sizes.size(); j++) {
    int32_t last = -1;
    for (size_t i = 0; i < j; i++)
      if (p.offset[i] < p.offset[j] + p.size[j] && p.offset[j] < p.offset[i] + p.size[i]) last = int32_t(i);
    p.reuse_after.push_back(last);
  }
  return p;
}

int32_t RingPlan::max_ahead(int32_t computing) const {
  int32_t ahead = 0;
  for (size_t j = size_t(computing) + 1; j < offset.size() && reuse_after[j] < computing; j++) ahead++;
  return ahead;
}

}  // namespace vl
