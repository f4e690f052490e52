// Built only with WITH_GPU=ON; ctest label "gpu". Every test is skipped when
// no CUDA device is usable, so `ctest` passes on machines without a GPU.
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "minipaddle/minipaddle.h"

#define REQUIRE_GPU()                                                        \
  do {                                                                       \
    if (!minipaddle::gpu_available())                                        \
      GTEST_SKIP() << "no CUDA device: " << minipaddle::gpu_device_info();   \
  } while (0)

TEST(Gpu, CompiledIn) {
  EXPECT_TRUE(minipaddle::gpu_compiled());
#ifndef MINIPADDLE_WITH_GPU
  ADD_FAILURE() << "MINIPADDLE_WITH_GPU not defined in a WITH_GPU build";
#endif
}

TEST(Gpu, DeviceQuery) {
  REQUIRE_GPU();
  EXPECT_GT(minipaddle::gpu_device_count(), 0);
  EXPECT_FALSE(minipaddle::gpu_device_info().empty());
}

TEST(Gpu, SaxpyMatchesCpu) {
  REQUIRE_GPU();
  const std::size_t n = 100003;  // not a multiple of the block size
  std::vector<float> x(n), y(n);
  minipaddle::Lcg rng(3);
  for (std::size_t i = 0; i < n; ++i) {
    x[i] = rng.uniform(-1, 1);
    y[i] = rng.uniform(-1, 1);
  }
  const std::vector<float> out = minipaddle::saxpy_gpu(2.5f, x, y);
  ASSERT_EQ(out.size(), n);
  for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(out[i], 2.5f * x[i] + y[i], 1e-5f) << "i=" << i;
}

TEST(Gpu, SaxpySmallAndEmpty) {
  REQUIRE_GPU();
  EXPECT_EQ(minipaddle::saxpy_gpu(2.0f, {1, 2, 3}, {10, 20, 30}), (std::vector<float>{12, 24, 36}));
  EXPECT_TRUE(minipaddle::saxpy_gpu(2.0f, {}, {}).empty());
  EXPECT_THROW(minipaddle::saxpy_gpu(2.0f, {1}, {1, 2}), std::invalid_argument);
}

TEST(Gpu, WithoutDeviceSaxpyThrows) {
  if (minipaddle::gpu_available()) GTEST_SKIP() << "a device is present";
  EXPECT_FALSE(minipaddle::gpu_device_info().empty());
  EXPECT_THROW(minipaddle::saxpy_gpu(1.0f, {1}, {1}), std::runtime_error);
}
