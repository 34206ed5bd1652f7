// cuda_check.h: turning CUDA runtime errors into vl::Error.
//
// defines: CUDA_CHECK, CUDA_CHECK_LAUNCH, vl::cuda::throw_cuda_error, vl::cuda::format_bytes
//
// Every CUDA runtime call of the backend goes through CUDA_CHECK, every kernel launch is followed by
// CUDA_CHECK_LAUNCH. A failure throws vl::Error(VL_ERR_DEVICE, "<call> failed at file:line: <reason>")
// (VL_ERR_OUT_OF_MEMORY for cudaErrorMemoryAllocation). The library never aborts or exits, so the
// caller (the C ABI) turns the exception into a status and the notebook kernel survives.
//
// Before throwing we read cudaGetLastError() once, which clears a non-sticky error (a failed launch
// configuration, an out-of-memory) so that the next call on this thread starts clean and the backend
// stays usable. Sticky errors (an illegal address inside a kernel) poison the whole CUDA context; no
// call can clear them, so the message says that the runtime must be reopened.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "error.h"

namespace vl {
namespace cuda {

// "1.50 GiB", "312.0 KiB". The core's vl::format_bytes lives in libvramlab with hidden visibility, so
// the plugin carries its own copy.
inline std::string format_bytes(unsigned long long bytes) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) { v /= 1024.0; u++; }
  char buf[64];
  if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", bytes);
  else std::snprintf(buf, sizeof buf, "%.2f %s", v, units[u]);
  return buf;
}

// Errors after which the CUDA context is unusable until the process re-creates it.
inline bool is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorHardwareStackError:
    case cudaErrorAssert:
    case cudaErrorECCUncorrectable:
    case cudaErrorLaunchTimeout:
      return true;
    default:
      return false;
  }
}

inline const char *base_name(const char *path) {
  const char *slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char *what, const char *file, int line) {
  (void)cudaGetLastError();  // clears a non-sticky error so the backend stays usable
  std::string msg = std::string(what) + " failed at " + base_name(file) + ":" + std::to_string(line) + ": " +
                    cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
  if (is_sticky(err))
    msg += "; the error may come from earlier asynchronous work, and the CUDA context is lost: close the runtime "
           "and open it again";
  throw Error(err == cudaErrorMemoryAllocation ? VL_ERR_OUT_OF_MEMORY : VL_ERR_DEVICE, msg);
}

inline void check(cudaError_t err, const char *what, const char *file, int line) {
  if (err != cudaSuccess) throw_cuda_error(err, what, file, line);
}

}  // namespace cuda
}  // namespace vl

#define CUDA_CHECK(call) ::vl::cuda::check((call), #call, __FILE__, __LINE__)
// After every <<<...>>> launch: catches bad launch configurations right away (errors inside the
// kernel surface at the next synchronizing call).
#define CUDA_CHECK_LAUNCH(kernel_name) ::vl::cuda::check(cudaGetLastError(), kernel_name " launch", __FILE__, __LINE__)
