// Portable scalar kernels (WITH_AVX=OFF). Compiled with the default flags
// for the target (plain x86-64 on Debian amd64: SSE2 at most, no VEX).
#include "minipaddle/kernels.h"

#if defined(__AVX__)
#error "kernels_scalar.cc is compiled with AVX enabled; WITH_AVX=OFF builds must not use -mavx/-march"
#endif

namespace minipaddle {
namespace kernels {

const char* name() noexcept { return "scalar"; }

float dot(const float* a, const float* b, std::size_t n) noexcept {
  float result = 0.0f;
  for (std::size_t i = 0; i < n; ++i) result += a[i] * b[i];
  return result;
}

float sum(const float* a, std::size_t n) noexcept {
  float result = 0.0f;
  for (std::size_t i = 0; i < n; ++i) result += a[i];
  return result;
}

void axpy(float alpha, const float* x, float* y, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void add(const float* a, const float* b, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

void mul(const float* a, const float* b, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void relu(const float* a, float* out, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = a[i] > 0.0f ? a[i] : 0.0f;
}

}  // namespace kernels
}  // namespace minipaddle
