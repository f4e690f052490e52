// GPU entry points for builds without CUDA (WITH_GPU=OFF).
#include <stdexcept>

#include "minipaddle/gpu.h"

namespace minipaddle {

namespace {
[[noreturn]] void no_gpu() {
  throw std::runtime_error("minipaddle was built without GPU support (configure with -DWITH_GPU=ON)");
}
}  // namespace

bool gpu_compiled() noexcept { return false; }
int gpu_device_count() noexcept { return 0; }
bool gpu_available() noexcept { return false; }
std::string gpu_device_info() { return "no GPU support compiled in (WITH_GPU=OFF)"; }

void saxpy_gpu(float, const float*, float*, std::size_t) { no_gpu(); }

std::vector<float> saxpy_gpu(float, const std::vector<float>&, const std::vector<float>&) { no_gpu(); }

}  // namespace minipaddle
