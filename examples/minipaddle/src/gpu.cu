// CUDA implementation of the GPU entry points (WITH_GPU=ON).
// Written for nvcc >= 11 (C++17) with a GCC <= 11 / clang host compiler.
#include <cuda_runtime.h>

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>

#include "minipaddle/gpu.h"

namespace minipaddle {
namespace detail {

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("minipaddle: CUDA error in ") + what + ": " +
                             cudaGetErrorString(err));
  }
}

// y[i] = a * x[i] + y[i], grid-stride loop.
__global__ void saxpy_kernel(std::size_t n, float a, const float* __restrict__ x, float* __restrict__ y) {
  const std::size_t stride = static_cast<std::size_t>(blockDim.x) * gridDim.x;
  for (std::size_t i = static_cast<std::size_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = a * x[i] + y[i];
  }
}

// Owning device allocation of n floats.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) {
    cuda_check(cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(float)), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  float* get() const { return ptr_; }

 private:
  float* ptr_ = nullptr;
};

}  // namespace detail

bool gpu_compiled() noexcept { return true; }

int gpu_device_count() noexcept {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the error state (no driver / no device)
    return 0;
  }
  return count;
}

bool gpu_available() noexcept { return gpu_device_count() > 0; }

std::string gpu_device_info() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  }
  if (count == 0) return "no CUDA device";
  cudaDeviceProp prop;
  detail::cuda_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::ostringstream os;
  os << prop.name << " (sm_" << prop.major << prop.minor << ", "
     << (prop.totalGlobalMem >> 30) << " GiB, " << count << " device(s))";
  return os.str();
}

void saxpy_gpu(float a, const float* x, float* y, std::size_t n) {
  if (!gpu_available()) throw std::runtime_error("saxpy_gpu: no CUDA device available");
  if (n == 0) return;
  detail::DeviceBuffer dx(n), dy(n);
  detail::cuda_check(cudaMemcpy(dx.get(), x, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy(x)");
  detail::cuda_check(cudaMemcpy(dy.get(), y, n * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy(y)");
  const int threads = 256;
  const std::size_t wanted_blocks = (n + threads - 1) / threads;
  const int blocks = static_cast<int>(std::min<std::size_t>(wanted_blocks, 65535));
  detail::saxpy_kernel<<<blocks, threads>>>(n, a, dx.get(), dy.get());
  detail::cuda_check(cudaGetLastError(), "saxpy_kernel launch");
  detail::cuda_check(cudaMemcpy(y, dy.get(), n * sizeof(float), cudaMemcpyDeviceToHost), "cudaMemcpy(y back)");
}

std::vector<float> saxpy_gpu(float a, const std::vector<float>& x, const std::vector<float>& y) {
  if (x.size() != y.size()) throw std::invalid_argument("saxpy_gpu: x and y differ in size");
  std::vector<float> out(y);
  saxpy_gpu(a, x.data(), out.data(), out.size());
  return out;
}

}  // namespace minipaddle
