// backend_registry.h: device names -> backends. "cpu" is built in; "cuda:N" loads the
// CUDA plugin libvramlab_cuda.so from the directory of libvramlab itself.
#pragma once
#include <memory>
#include <string>

#include "backend.h"

namespace vl {

// Throws Error(VL_ERR_NO_DEVICE) with a message saying why the device cannot be used, or
// Error(VL_ERR_INVALID_ARGUMENT) for a malformed name.
std::unique_ptr<Backend> open_backend(const std::string &device);

// The dtypes the backend of `device` computes in, without opening it (the CUDA plugin need not be
// there); Error(VL_ERR_INVALID_ARGUMENT) for a malformed name, as open_backend.
BackendDtypes backend_dtypes(const std::string &device);

}  // namespace vl
