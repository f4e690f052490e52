/// @file
/// @brief Low-level float kernels on contiguous arrays.
///
/// Low-level float kernels on contiguous arrays.
///
/// Exactly one implementation is compiled into libminipaddle, chosen at
/// configure time: src/kernels_avx.cc (WITH_AVX=ON, built with -mavx) or
/// src/kernels_scalar.cc (WITH_AVX=OFF, plain x86-64 / any CPU).
#pragma once

#include <cstddef>

namespace minipaddle {
/// The raw kernels the tensor operations use: exactly one implementation (AVX or scalar) is compiled in.
namespace kernels {

/// "avx" or "scalar".
const char* name() noexcept;

/// sum_i a[i] * b[i]
float dot(const float* a, const float* b, std::size_t n) noexcept;
/// sum_i a[i]
float sum(const float* a, std::size_t n) noexcept;
/// y[i] += alpha * x[i]
void axpy(float alpha, const float* x, float* y, std::size_t n) noexcept;
/// out[i] = a[i] + b[i]   (out may alias a or b)
void add(const float* a, const float* b, float* out, std::size_t n) noexcept;
/// out[i] = a[i] * b[i]   (out may alias a or b)
void mul(const float* a, const float* b, float* out, std::size_t n) noexcept;
/// out[i] = max(a[i], 0)  (out may alias a)
void relu(const float* a, float* out, std::size_t n) noexcept;

}  // namespace kernels
}  // namespace minipaddle
