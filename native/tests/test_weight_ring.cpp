// test_weight_ring.cpp: the skip-end ring plan on many random layer-size sequences and capacities:
// no layer straddles the wrap point, layers are placed in order (next aligned offset, or 0 when the
// end is too near), and reuse_after names exactly the latest earlier layer whose bytes are reused.
// Prints the plain summary line "N passed, N failed"; exit status 1 on any failure.
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "error.h"
#include "weight_ring.h"

using vl::RingPlan;

int main() {
  std::mt19937_64 rng(12345);
  int passed = 0, failed = 0;
  auto check = [&](bool ok, const std::string &what) {
    if (ok) {
      passed++;
    } else {
      failed++;
      std::printf("FAIL %s\n", what.c_str());
    }
  };

  for (int trial = 0; trial < 2000; trial++) {
    const size_t n = 1 + rng() % 40;
    const bool equal = trial % 2 == 0;  // Llama layers are equal; odd sizes exercise the general case
    std::vector<size_t> sizes(n);
    for (size_t j = 0; j < n; j++) sizes[j] = equal && j > 0 ? sizes[0] : 1 + rng() % 5000;
    size_t largest = 0;
    for (size_t s : sizes) largest = std::max(largest, s);
    const size_t capacity = largest + rng() % (4 * largest);
    const RingPlan p = RingPlan::make(capacity, sizes);
    const std::string tag = "trial " + std::to_string(trial);
    size_t cur = 0;
    bool ok = p.offset.size() == n && p.reuse_after.size() == n;
    for (size_t j = 0; ok && j < n; j++) {
      const size_t aligned = (cur + 255) / 256 * 256;
      const size_t want = aligned + sizes[j] > capacity ? 0 : aligned;
      ok &= p.offset[j] == want;                    // in order, skipping the end
      ok &= p.offset[j] + sizes[j] <= capacity;     // never straddles the wrap point
      ok &= p.offset[j] % 256 == 0;
      int32_t last = -1;
      for (size_t i = 0; i < j; i++)
        if (p.offset[i] < p.offset[j] + sizes[j] && p.offset[j] < p.offset[i] + sizes[i]) last = int32_t(i);
      ok &= p.reuse_after[j] == last;
      cur = p.offset[j] + sizes[j];
    }
    check(ok, tag + ": plan");
    // max_ahead never lets a copy overwrite the layer computing or one after it.
    for (size_t j = 0; j < n; j++) {
      const int32_t ahead = p.max_ahead(int32_t(j));
      bool fine = true;
      for (int32_t k = 1; k <= ahead; k++) fine &= p.reuse_after[j + size_t(k)] < int32_t(j);
      check(fine, tag + ": max_ahead at layer " + std::to_string(j));
    }
  }

  try {  // a layer larger than the ring is refused
    RingPlan::make(100, {50, 101});
    check(false, "a layer larger than the ring");
  } catch (const vl::Error &e) {
    check(e.status() == VL_ERR_INVALID_ARGUMENT && std::string(e.what()).find("layer 1") != std::string::npos,
          "the error names the layer");
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
