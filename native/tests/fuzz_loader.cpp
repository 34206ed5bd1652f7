// fuzz-loader: loads every model directory under the folders given (a corpus that
// scripts/make-hostile-corpus.mjs writes) through the C ABI on a CPU runtime, runs two tokens through
// each one that loads, and prints one line per directory: "error <status> <message>" (the load
// refused it), "forward error <status> <message>" (the pass refused it: VL_ERR_NUMERIC for a NaN or
// an infinity), "ok finite" or "ok NON-FINITE" (a non-finite success: a bug). Run under ASan + UBSan
// (.ci/run): a crash, a leak or undefined behaviour fails it. Stops after --seconds S (default 120) so
// that CI stays bounded. Exit 1 when any directory failed the checks below: a non-finite success; a
// refused pass that left tokens in the session's KV cache, or whose generate call (which must fail the
// same way) did not; a loaded model whose runtime memory does not return to 0 after it is freed.
// A 10-minute local run (docs/architecture.md):
//   node scripts/make-hostile-corpus.mjs /tmp/corpus 30000 7 &&
//   nice -n 10 native/build-asan/fuzz-loader test/fixtures/hostile /tmp/corpus --seconds 600
#include <dirent.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "vramlab.h"

int main(int argc, char **argv) {
  double seconds = 120;
  std::vector<std::string> dirs;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    else {
      DIR *d = opendir(argv[i]);
      if (!d) continue;
      while (dirent *e = readdir(d))
        if (e->d_name[0] != '.') dirs.push_back(std::string(argv[i]) + "/" + e->d_name);
      closedir(d);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  int ran = 0, failed = 0, at_pass = 0, numeric = 0, nonfinite = 0, unclean = 0, bad = 0, done = 0;
  for (const std::string &dir : dirs) {
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > seconds) break;
    vl_runtime *rt = nullptr;
    vl_runtime_options ro{uint64_t(256) << 20, 0};
    if (vl_runtime_open("cpu", &ro, &rt) != VL_OK) return 2;
    vl_model *m = nullptr;
    vl_error err{};
    int32_t st = vl_model_load(rt, dir.c_str(), nullptr, &m, &err);
    if (st != VL_OK) {
      failed++;
      std::printf("%s: error %s %s\n", dir.c_str(), vl_status_name(st), err.message);
    } else {
      vl_model_info info{};
      vl_model_info_get(m, &info);
      vl_session *s = nullptr;
      vl_session_create(m, &s);
      const int32_t ids[2] = {0, 1};
      std::vector<float> logits(size_t(info.config.vocab_size));
      st = vl_session_forward(s, ids, 2, 1, logits.data(), &err);
      bool finite = true;
      for (float x : logits) finite &= std::isfinite(x);
      if (st != VL_OK) {
        failed++;
        at_pass++;
        numeric += st == VL_ERR_NUMERIC;
        std::printf("%s: forward error %s %s\n", dir.c_str(), vl_status_name(st), err.message);
        // The refused step left the session as before it, and greedy generation refuses it too.
        vl_session_info si{};
        vl_session_info_get(s, &si);
        int32_t picks[3];
        vl_error gerr{};
        const int32_t gst = vl_session_generate(s, ids, 2, 3, picks, &gerr);
        vl_session_info after{};
        vl_session_info_get(s, &after);
        if (si.n_tokens != 0 || (st == VL_ERR_NUMERIC && gst != VL_ERR_NUMERIC) || after.n_tokens != 0) {
          unclean++;
          std::printf("%s: UNCLEAN refusal: %d tokens held after it, generate %s (%d tokens after it) %s\n", dir.c_str(),
                      si.n_tokens, vl_status_name(gst), after.n_tokens, gerr.message);
        }
      } else {
        ran++;
        std::printf("%s: ok %s\n", dir.c_str(), finite ? "finite" : "NON-FINITE");
      }
      nonfinite += st == VL_OK && !finite;
      vl_session_free(s);
      vl_model_free(m);
      vl_memory_info mem{};
      vl_runtime_memory(rt, &mem);
      if (mem.current != 0) {
        bad++;
        std::printf("%s: %llu bytes still held after the model was freed\n", dir.c_str(), (unsigned long long)mem.current);
      }
    }
    vl_runtime_close(rt);
    done++;
  }
  std::printf("fuzz-loader: %d of %zu directories, %d ran, %d refused (%d by the forward pass, %d of them VL_ERR_NUMERIC), "
              "%d non-finite successes, %d unclean refusals, %d leaks\n",
              done, dirs.size(), ran, failed, at_pass, numeric, nonfinite, unclean, bad);
  return bad || nonfinite || unclean ? 1 : 0;
}
