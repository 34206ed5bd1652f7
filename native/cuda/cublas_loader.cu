// cublas_loader.cu: dlopen / dlsym of libcublas (see cublas_loader.h for why).
#include "cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <vector>

#include "error.h"

namespace vl {
namespace cuda {

namespace {

// Opens libcublasLt then libcublas from `dir` ("" = the loader's search path). Returns the libcublas
// handle or null, with dlerror() text in *why.
void *open_pair(const std::string &dir, const char *lt_name, const char *blas_name, std::string *why) {
  std::string lt = dir.empty() ? lt_name : dir + "/" + lt_name;
  std::string blas = dir.empty() ? blas_name : dir + "/" + blas_name;
  // libcublasLt first: once loaded, libcublas's DT_NEEDED entry is matched by soname even when
  // libcublas itself was found through an absolute path. A failure here is not final: libcublas may
  // still find its Lt through its own run path.
  void *lt_handle = dlopen(lt.c_str(), RTLD_NOW | RTLD_LOCAL);
  void *h = dlopen(blas.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    if (why->empty()) *why = e ? e : (blas + ": cannot be opened");
    if (lt_handle) dlclose(lt_handle);
    return nullptr;
  }
  return h;  // lt_handle stays open for the life of the process, like h
}

template <typename F>
bool sym(void *h, const char *name, F *out, std::string *missing) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  if (!*out && missing) *missing += std::string(missing->empty() ? "" : ", ") + name;
  return *out != nullptr;
}

Cublas load() {
  Cublas c;
  std::vector<std::string> dirs = {""};
  for (const char *env : {"CUDA_HOME", "CUDA_PATH"}) {
    const char *v = std::getenv(env);
    if (v && *v) dirs.push_back(std::string(v) + "/lib64");
  }
  dirs.push_back("/usr/local/cuda/lib64");
  dirs.push_back("/usr/local/cuda/targets/x86_64-linux/lib");
  dirs.push_back("/usr/local/cuda-13/lib64");

  std::string why;
  void *h = nullptr;
  const char *names[][2] = {{"libcublasLt.so.13", "libcublas.so.13"}, {"libcublasLt.so", "libcublas.so"}};
  for (auto &pair : names) {
    for (const std::string &dir : dirs) {
      h = open_pair(dir, pair[0], pair[1], &why);
      if (h) {
        c.library = dir.empty() ? pair[1] : dir + "/" + pair[1];
        break;
      }
    }
    if (h) break;
  }
  if (!h) {
    c.error = "cuBLAS not found (" + why + ")";
    return c;
  }
  std::string missing;
  sym(h, "cublasCreate_v2", &c.Create, &missing);
  sym(h, "cublasDestroy_v2", &c.Destroy, &missing);
  sym(h, "cublasSetStream_v2", &c.SetStream, &missing);
  sym(h, "cublasSetMathMode", &c.SetMathMode, &missing);
  sym(h, "cublasGetVersion_v2", &c.GetVersion, &missing);
  sym(h, "cublasGemmEx", &c.GemmEx, &missing);
  sym(h, "cublasGemmStridedBatchedEx", &c.GemmStridedBatchedEx, nullptr);
  sym(h, "cublasSetWorkspace_v2", &c.SetWorkspace, nullptr);
  sym(h, "cublasGetStatusString", &c.GetStatusString, nullptr);
  if (!missing.empty()) {
    c.error = c.library + " lacks " + missing;
    return c;  // the handle stays open; harmless
  }
  c.loaded = true;
  return c;
}

}  // namespace

const Cublas &cublas() {
  static Cublas instance;
  static std::once_flag once;
  std::call_once(once, [] { instance = load(); });
  return instance;
}

std::string cublas_status_text(cublasStatus_t status) {
  const char *name = "CUBLAS_STATUS_UNKNOWN";
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: name = "CUBLAS_STATUS_SUCCESS"; break;
    case CUBLAS_STATUS_NOT_INITIALIZED: name = "CUBLAS_STATUS_NOT_INITIALIZED"; break;
    case CUBLAS_STATUS_ALLOC_FAILED: name = "CUBLAS_STATUS_ALLOC_FAILED"; break;
    case CUBLAS_STATUS_INVALID_VALUE: name = "CUBLAS_STATUS_INVALID_VALUE"; break;
    case CUBLAS_STATUS_ARCH_MISMATCH: name = "CUBLAS_STATUS_ARCH_MISMATCH"; break;
    case CUBLAS_STATUS_MAPPING_ERROR: name = "CUBLAS_STATUS_MAPPING_ERROR"; break;
    case CUBLAS_STATUS_EXECUTION_FAILED: name = "CUBLAS_STATUS_EXECUTION_FAILED"; break;
    case CUBLAS_STATUS_INTERNAL_ERROR: name = "CUBLAS_STATUS_INTERNAL_ERROR"; break;
    case CUBLAS_STATUS_NOT_SUPPORTED: name = "CUBLAS_STATUS_NOT_SUPPORTED"; break;
    case CUBLAS_STATUS_LICENSE_ERROR: name = "CUBLAS_STATUS_LICENSE_ERROR"; break;
  }
  std::string s = std::string(name) + " (" + std::to_string(int(status)) + ")";
  const Cublas &c = cublas();
  if (c.GetStatusString) {
    const char *text = c.GetStatusString(status);
    if (text) s += ": " + std::string(text);
  }
  return s;
}

void throw_cublas_error(cublasStatus_t status, const char *what, const char *file, int line) {
  (void)cudaGetLastError();  // a failed cuBLAS launch may leave a non-sticky runtime error behind
  const char *slash = file;
  for (const char *p = file; *p; ++p)
    if (*p == '/') slash = p + 1;
  throw Error(status == CUBLAS_STATUS_ALLOC_FAILED ? VL_ERR_OUT_OF_MEMORY : VL_ERR_DEVICE,
              std::string(what) + " failed at " + slash + ":" + std::to_string(line) + ": " +
                  cublas_status_text(status));
}

}  // namespace cuda
}  // namespace vl
