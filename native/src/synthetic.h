// synthetic.h: seeded random weights generated in memory, so that benchmarks run at real model sizes
// with no downloads. Each element is a pure function of (seed, tensor index, element index), so any
// chunk of any tensor can be generated independently, in parallel, and the same on every backend.
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype.h"

namespace vl {

// Writes n elements [first, first + n) of tensor `tensor_index` into dst: uniform in
// [center - half_range, center + half_range).
void fill_synthetic(void *dst, DType dtype, size_t first, size_t n, uint64_t seed, uint64_t tensor_index, float center,
                    float half_range);

}  // namespace vl
