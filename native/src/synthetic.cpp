#include "synthetic.h"

namespace vl {

namespace {
// splitmix64: a fast, well-mixed counter-based generator.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

void fill_synthetic(void *dst, DType dtype, size_t first, size_t n, uint64_t seed, uint64_t tensor_index, float center,
                    float half_range) {
  const uint64_t key = mix(seed ^ mix(tensor_index + 0x5851f42d4c957f2dull));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    uint64_t r = mix(key + first + i);
    float u = float(r >> 40) * (1.0f / 16777216.0f);  // [0, 1) with 24 random bits
    store_f32(dst, dtype, i, center + (2.0f * u - 1.0f) * half_range);
  }
}

}  // namespace vl
