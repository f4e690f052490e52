/// @file
/// @brief Optional CUDA support.
///
/// Optional CUDA support. These functions always exist; without WITH_GPU
/// (or without a usable device) they report "no GPU" / throw std::runtime_error.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

/// The minipaddle library: tensors, kernels, layers and training.
namespace minipaddle {

/// True if libminipaddle was built with WITH_GPU=ON.
bool gpu_compiled() noexcept;
/// Number of usable CUDA devices (0 when not compiled, no driver or no device).
int gpu_device_count() noexcept;
/// True if gpu_device_count() > 0. Never throws.
bool gpu_available() noexcept;
/// Human-readable description of device 0, e.g. "NVIDIA H100 (sm_90, 80 GiB)",
/// or a reason why no device is usable.
std::string gpu_device_info();

/// y[i] = a * x[i] + y[i] on device 0. Throws std::runtime_error when built
/// without GPU support, when no device is available or on a CUDA error.
void saxpy_gpu(float a, const float* x, float* y, std::size_t n);
/// y = a * x + y on device 0, on host vectors; returns the new y. Throws like saxpy_gpu(float, const float*, float*, std::size_t).
std::vector<float> saxpy_gpu(float a, const std::vector<float>& x, const std::vector<float>& y);

}  // namespace minipaddle
