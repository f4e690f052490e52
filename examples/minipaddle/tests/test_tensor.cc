#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "minipaddle/minipaddle.h"

using minipaddle::Tensor;

TEST(Tensor, ConstructionAndShape) {
  Tensor t({2, 3}, 1.5f);
  EXPECT_EQ(t.ndim(), 2u);
  EXPECT_EQ(t.size(), 6u);
  EXPECT_EQ(t.rows(), 2u);
  EXPECT_EQ(t.cols(), 3u);
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_FLOAT_EQ(t.at(i), 1.5f);
  EXPECT_EQ(minipaddle::shape_to_string(t.shape()), "(2, 3)");
  EXPECT_EQ(Tensor::zeros({4}).values(), std::vector<float>(4, 0.0f));
  EXPECT_EQ(Tensor::ones({2, 2}).values(), std::vector<float>(4, 1.0f));
}

TEST(Tensor, DataMustMatchShape) {
  EXPECT_THROW(Tensor({2, 2}, std::vector<float>{1, 2, 3}), std::invalid_argument);
  EXPECT_NO_THROW(Tensor({3}, std::vector<float>{1, 2, 3}));
}

TEST(Tensor, ElementAccess) {
  Tensor t({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  EXPECT_FLOAT_EQ(t.at(1, 2), 6.0f);
  t.at(0, 1) = 20.0f;
  EXPECT_FLOAT_EQ(t.at(1), 20.0f);
  EXPECT_THROW(t.at(6), std::out_of_range);
  EXPECT_THROW(t.at(2, 0), std::out_of_range);
}

TEST(Tensor, ReshapeAndTranspose) {
  Tensor t({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor r = t.reshape({3, 2});
  EXPECT_EQ(r.shape(), (minipaddle::Shape{3, 2}));
  EXPECT_EQ(r.values(), t.values());
  EXPECT_THROW(t.reshape({4, 2}), std::invalid_argument);
  Tensor tt = t.transpose();
  EXPECT_EQ(tt.shape(), (minipaddle::Shape{3, 2}));
  EXPECT_EQ(tt.values(), (std::vector<float>{1, 4, 2, 5, 3, 6}));
}

TEST(Ops, AddMulScale) {
  Tensor a({3}, std::vector<float>{1, 2, 3});
  Tensor b({3}, std::vector<float>{4, 5, 6});
  EXPECT_EQ((a + b).values(), (std::vector<float>{5, 7, 9}));
  EXPECT_EQ((a * b).values(), (std::vector<float>{4, 10, 18}));
  EXPECT_EQ(minipaddle::scale(a, -2.0f).values(), (std::vector<float>{-2, -4, -6}));
  EXPECT_THROW(minipaddle::add(a, Tensor({4})), std::invalid_argument);
  EXPECT_THROW(minipaddle::mul(a, Tensor({3, 1})), std::invalid_argument);
}

TEST(Ops, ReluSumDot) {
  Tensor a({4}, std::vector<float>{-1, 2, -3, 4});
  EXPECT_EQ(minipaddle::relu(a).values(), (std::vector<float>{0, 2, 0, 4}));
  EXPECT_FLOAT_EQ(minipaddle::sum(a), 2.0f);
  Tensor x = Tensor::from_vector({1, 2, 3});
  Tensor y = Tensor::from_vector({4, 5, 6});
  EXPECT_FLOAT_EQ(minipaddle::dot(x, y), 32.0f);
  EXPECT_THROW(minipaddle::dot(x, a), std::invalid_argument);
}

TEST(Ops, Matmul) {
  Tensor a({2, 3}, std::vector<float>{1, 2, 3, 4, 5, 6});
  Tensor b({3, 2}, std::vector<float>{7, 8, 9, 10, 11, 12});
  Tensor c = minipaddle::matmul(a, b);
  EXPECT_EQ(c.shape(), (minipaddle::Shape{2, 2}));
  EXPECT_EQ(c.values(), (std::vector<float>{58, 64, 139, 154}));
  EXPECT_THROW(minipaddle::matmul(a, a), std::invalid_argument);
}

TEST(Ops, MatmulLargeMatchesNaive) {
  // Sizes that exercise the vector body and the scalar tail of the kernels.
  const std::size_t m = 5, k = 7, n = 19;
  minipaddle::Lcg rng(7);
  Tensor a({m, k}), b({k, n});
  for (std::size_t i = 0; i < a.size(); ++i) a.data()[i] = rng.uniform(-1, 1);
  for (std::size_t i = 0; i < b.size(); ++i) b.data()[i] = rng.uniform(-1, 1);
  Tensor c = minipaddle::matmul(a, b);
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      float expected = 0.0f;
      for (std::size_t p = 0; p < k; ++p) expected += a.at(i, p) * b.at(p, j);
      EXPECT_NEAR(c.at(i, j), expected, 1e-5f);
    }
  }
}
