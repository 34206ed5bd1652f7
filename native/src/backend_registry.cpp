#include "backend_registry.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>

#include "error.h"

namespace vl {

namespace {

std::string own_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void *>(&own_directory), &info) == 0 || !info.dli_fname) return ".";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// The plugin stays loaded for the life of the process: backends it created may outlive any handle.
vl_cuda_backend_create_fn load_cuda_plugin() {
  static std::mutex mu;
  static vl_cuda_backend_create_fn fn = nullptr;
  static std::string failure;
  std::lock_guard<std::mutex> lock(mu);
  if (fn) return fn;
  std::string path = own_directory() + "/libvramlab_cuda.so";
  if (const char *env = std::getenv("VRAMLAB_CUDA_PLUGIN")) path = env;
  void *h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *e = dlerror();
    throw Error(VL_ERR_NO_DEVICE, "the CUDA backend is not available (" + std::string(e ? e : path) +
                                      "); it is built only where nvcc is found at install time");
  }
  fn = reinterpret_cast<vl_cuda_backend_create_fn>(dlsym(h, "vl_cuda_backend_create"));
  if (!fn) throw Error(VL_ERR_NO_DEVICE, path + " has no vl_cuda_backend_create: rebuild vramlab");
  return fn;
}

// A device name: "cpu", or "cuda" / "cuda:N" (cuda, the GPU's index).
struct DeviceName {
  bool cuda = false;
  int index = 0;
};

DeviceName parse_device(const std::string &device) {
  if (device == "cpu") return {};
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    // "cuda:N", N decimal digits only: "cuda", "cuda:", "cuda: 1" or "cuda:+1" name no GPU.
    const std::string n = device.size() > 5 ? device.substr(5) : "";
    if (n.empty() || n.size() > 4 || n.find_first_not_of("0123456789") != std::string::npos || std::stoi(n) > 1024)
      throw Error(VL_ERR_INVALID_ARGUMENT, "device \"" + device + "\": expected cuda:N with N a GPU index");
    return {true, std::stoi(n)};
  }
  throw Error(VL_ERR_INVALID_ARGUMENT, "unknown device \"" + device + "\" (use cpu or cuda:N)");
}

}  // namespace

BackendDtypes backend_dtypes(const std::string &device) { return parse_device(device).cuda ? kCudaDtypes : kCpuDtypes; }

std::unique_ptr<Backend> open_backend(const std::string &device) {
  const DeviceName name = parse_device(device);
  if (!name.cuda) return std::unique_ptr<Backend>(create_cpu_backend());
  vl_cuda_backend_create_fn create = load_cuda_plugin();
  Backend *b = nullptr;
  char err[512] = {0};
  int32_t st = create(name.index, &b, err, sizeof err);
  if (st != VL_OK || !b) throw Error(vl_status(st ? st : VL_ERR_NO_DEVICE), err[0] ? err : "cuda: cannot open the device");
  return std::unique_ptr<Backend>(b);
}

}  // namespace vl
