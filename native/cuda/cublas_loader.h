// cublas_loader.h: cuBLAS opened at run time with dlopen.
//
// defines: vl::cuda::Cublas, vl::cuda::cublas(), CUBLAS_CHECK
//
// Why dlopen: the CI machine compiles every .cu file but has no cuBLAS headers or libraries, and a
// machine with a GPU but without cuBLAS should still run (with the fallback GEMM kernel). So the plugin
// declares the handful of cuBLAS types and functions it calls itself, with the exact prototypes and
// enum values of the public cuBLAS API (cublas_api.h, library_types.h), and resolves them with dlsym.
// libcublasLt is opened first because libcublas needs it (DT_NEEDED) and may not find it on its own
// when it was found through an absolute path.
#pragma once
#include <cuda_runtime_api.h>
#include <library_types.h>  // cudaDataType_t: CUDA_R_32F = 0, CUDA_R_16F = 2, CUDA_R_16BF = 14

#include <cstddef>
#include <cstdint>
#include <string>

namespace vl {
namespace cuda {

// ---- the subset of cublas_api.h we use (values from the public header) ----
typedef struct cublasContext *cublasHandle_t;
typedef enum {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_ALLOC_FAILED = 3,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_ARCH_MISMATCH = 8,
  CUBLAS_STATUS_MAPPING_ERROR = 11,
  CUBLAS_STATUS_EXECUTION_FAILED = 13,
  CUBLAS_STATUS_INTERNAL_ERROR = 14,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
  CUBLAS_STATUS_LICENSE_ERROR = 16
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum {
  CUBLAS_DEFAULT_MATH = 0,
  CUBLAS_PEDANTIC_MATH = 2,
  CUBLAS_TF32_TENSOR_OP_MATH = 3,
  CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION = 16
} cublasMath_t;
typedef enum {
  CUBLAS_COMPUTE_16F = 64,
  CUBLAS_COMPUTE_32F = 68,
  CUBLAS_COMPUTE_32F_PEDANTIC = 69,
  CUBLAS_COMPUTE_32F_FAST_TF32 = 77
} cublasComputeType_t;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;

// Split-K partial sums kept in the compute type (fp32), as CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION.
constexpr uint32_t CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE = 2;

// The function table, filled by dlsym. Members marked optional may be null (older or newer libraries).
struct Cublas {
  bool loaded = false;
  std::string error;    // why loading failed, for device_info() and error messages
  std::string library;  // the path or soname that was opened

  cublasStatus_t (*Create)(cublasHandle_t *handle) = nullptr;                       // cublasCreate_v2
  cublasStatus_t (*Destroy)(cublasHandle_t handle) = nullptr;                       // cublasDestroy_v2
  cublasStatus_t (*SetStream)(cublasHandle_t handle, cudaStream_t stream) = nullptr;  // cublasSetStream_v2
  cublasStatus_t (*SetMathMode)(cublasHandle_t handle, cublasMath_t mode) = nullptr;
  cublasStatus_t (*GetVersion)(cublasHandle_t handle, int *version) = nullptr;  // cublasGetVersion_v2
  cublasStatus_t (*GemmEx)(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                           int k, const void *alpha, const void *A, cudaDataType_t Atype, int lda, const void *B,
                           cudaDataType_t Btype, int ldb, const void *beta, void *C, cudaDataType_t Ctype, int ldc,
                           cublasComputeType_t computeType, cublasGemmAlgo_t algo) = nullptr;
  // optional
  cublasStatus_t (*GemmStridedBatchedEx)(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m,
                                         int n, int k, const void *alpha, const void *A, cudaDataType_t Atype, int lda,
                                         long long strideA, const void *B, cudaDataType_t Btype, int ldb, long long strideB,
                                         const void *beta, void *C, cudaDataType_t Ctype, int ldc, long long strideC,
                                         int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) = nullptr;
  cublasStatus_t (*SetWorkspace)(cublasHandle_t handle, void *workspace, size_t bytes) = nullptr;  // _v2
  const char *(*GetStatusString)(cublasStatus_t status) = nullptr;
};

// Loads once per process (thread-safe); never throws. Check .loaded / .error.
const Cublas &cublas();

// "CUBLAS_STATUS_NOT_SUPPORTED (the functionality requested is not supported)"
std::string cublas_status_text(cublasStatus_t status);

[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char *what, const char *file, int line);

}  // namespace cuda
}  // namespace vl

#define CUBLAS_CHECK(call)                                                                   \
  do {                                                                                       \
    ::vl::cuda::cublasStatus_t status_ = (call);                                             \
    if (status_ != ::vl::cuda::CUBLAS_STATUS_SUCCESS)                                        \
      ::vl::cuda::throw_cublas_error(status_, #call, __FILE__, __LINE__);                    \
  } while (0)
