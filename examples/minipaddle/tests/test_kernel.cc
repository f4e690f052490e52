#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "minipaddle/minipaddle.h"

namespace k = minipaddle::kernels;

namespace {

std::vector<float> random_vector(std::size_t n, std::uint32_t seed) {
  minipaddle::Lcg rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(-2.0f, 2.0f);
  return v;
}

// Lengths around the 8- and 16-wide AVX blocks.
const std::size_t kLengths[] = {0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 64, 100, 1023};

}  // namespace

TEST(Kernel, CompiledKernelIsTheConfiguredOne) {
  EXPECT_STREQ(k::name(), MINIPADDLE_EXPECTED_KERNEL);
  EXPECT_STREQ(minipaddle::kernel(), MINIPADDLE_EXPECTED_KERNEL);
  EXPECT_STREQ(MINIPADDLE_KERNEL_NAME, MINIPADDLE_EXPECTED_KERNEL);
#ifdef MINIPADDLE_WITH_AVX
  EXPECT_STREQ(k::name(), "avx");
#else
  EXPECT_STREQ(k::name(), "scalar");
#endif
}

TEST(Kernel, DotAndSumMatchReference) {
  for (std::size_t n : kLengths) {
    const auto a = random_vector(n, 1), b = random_vector(n, 2);
    double dot_ref = 0.0, sum_ref = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      dot_ref += static_cast<double>(a[i]) * b[i];
      sum_ref += a[i];
    }
    EXPECT_NEAR(k::dot(a.data(), b.data(), n), dot_ref, 1e-3) << "n=" << n;
    EXPECT_NEAR(k::sum(a.data(), n), sum_ref, 1e-3) << "n=" << n;
  }
}

TEST(Kernel, ElementwiseMatchReference) {
  for (std::size_t n : kLengths) {
    const auto a = random_vector(n, 3), b = random_vector(n, 4);
    std::vector<float> out(n), y(b);
    k::add(a.data(), b.data(), out.data(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(out[i], a[i] + b[i]);
    k::mul(a.data(), b.data(), out.data(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(out[i], a[i] * b[i]);
    k::relu(a.data(), out.data(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(out[i], a[i] > 0 ? a[i] : 0.0f);
    k::axpy(0.5f, a.data(), y.data(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[i], b[i] + 0.5f * a[i]);
  }
}

TEST(Kernel, InPlaceAliasing) {
  std::vector<float> a = {1, -2, 3, -4, 5, -6, 7, -8, 9, -10};
  k::add(a.data(), a.data(), a.data(), a.size());
  EXPECT_FLOAT_EQ(a[9], -20.0f);
  k::relu(a.data(), a.data(), a.size());
  EXPECT_FLOAT_EQ(a[8], 18.0f);
  EXPECT_FLOAT_EQ(a[9], 0.0f);
}

TEST(Kernel, DotExampleFromTheCli) {
  const float a[] = {1, 2, 3}, b[] = {4, 5, 6};
  EXPECT_FLOAT_EQ(k::dot(a, b, 3), 32.0f);
}
