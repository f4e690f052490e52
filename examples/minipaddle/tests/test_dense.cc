#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <vector>

#include "minipaddle/minipaddle.h"

using minipaddle::Dense;
using minipaddle::Tensor;

TEST(Lcg, IsDeterministic) {
  minipaddle::Lcg a(42), b(42);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(a.next_u32(), b.next_u32());
  minipaddle::Lcg c(0);
  EXPECT_EQ(c.next_u32(), 1013904223u);
  for (int i = 0; i < 1000; ++i) {
    const float u = c.uniform();
    EXPECT_GE(u, 0.0f);
    EXPECT_LT(u, 1.0f);
  }
}

TEST(Dense, ForwardComputesXWPlusB) {
  Dense layer(Tensor({2, 2}, std::vector<float>{1, 2, 3, 4}), Tensor({2}, std::vector<float>{0.5f, -1}));
  Tensor x({1, 2}, std::vector<float>{1, 1});
  Tensor y = layer.forward(x);
  EXPECT_EQ(y.shape(), (minipaddle::Shape{1, 2}));
  EXPECT_FLOAT_EQ(y.at(0, 0), 4.5f);
  EXPECT_FLOAT_EQ(y.at(0, 1), 5.0f);
  EXPECT_THROW(layer.forward(Tensor({1, 3})), std::invalid_argument);
  EXPECT_THROW(Dense(Tensor({2, 2}), Tensor({3})), std::invalid_argument);
}

TEST(Dense, RandomInitIsDeterministicAndBounded) {
  Dense a(4, 3, 7), b(4, 3, 7);
  EXPECT_EQ(a.weight().values(), b.weight().values());
  for (float w : a.weight().values()) EXPECT_LE(std::fabs(w), 0.5f);
  for (float v : a.bias().values()) EXPECT_EQ(v, 0.0f);
}

TEST(Loss, MseAndGradient) {
  Tensor pred({2, 1}, std::vector<float>{1, 3});
  Tensor target({2, 1}, std::vector<float>{0, 1});
  EXPECT_FLOAT_EQ(minipaddle::mse_loss(pred, target), 2.5f);  // (1 + 4) / 2
  Tensor g = minipaddle::mse_loss_grad(pred, target);
  EXPECT_FLOAT_EQ(g.at(0), 1.0f);  // 2 * 1 / 2
  EXPECT_FLOAT_EQ(g.at(1), 2.0f);  // 2 * 2 / 2
  EXPECT_THROW(minipaddle::mse_loss(pred, Tensor({1, 2})), std::invalid_argument);
}

TEST(Dense, BackwardMatchesFiniteDifferences) {
  Dense layer(3, 2, 5);
  minipaddle::Lcg rng(11);
  Tensor x({4, 3}), target({4, 2});
  for (std::size_t i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform(-1, 1);
  for (std::size_t i = 0; i < target.size(); ++i) target.data()[i] = rng.uniform(-1, 1);

  auto loss = [&]() { return minipaddle::mse_loss(layer.forward(x), target); };
  Tensor pred = layer.forward(x);
  Tensor dx = layer.backward(minipaddle::mse_loss_grad(pred, target));
  const Tensor wg = layer.weight_grad();
  const Tensor bg = layer.bias_grad();
  EXPECT_EQ(dx.shape(), x.shape());

  const float eps = 1e-2f;
  for (std::size_t i = 0; i < layer.weight().size(); ++i) {
    float& w = layer.weight().data()[i];
    const float saved = w;
    w = saved + eps;
    const float up = loss();
    w = saved - eps;
    const float down = loss();
    w = saved;
    EXPECT_NEAR(wg.at(i), (up - down) / (2 * eps), 1e-3f) << "weight " << i;
  }
  for (std::size_t i = 0; i < layer.bias().size(); ++i) {
    float& b = layer.bias().data()[i];
    const float saved = b;
    b = saved + eps;
    const float up = loss();
    b = saved - eps;
    const float down = loss();
    b = saved;
    EXPECT_NEAR(bg.at(i), (up - down) / (2 * eps), 1e-3f) << "bias " << i;
  }
}

TEST(SGD, StepMovesAgainstGradient) {
  Tensor p({3}, std::vector<float>{1, 1, 1});
  Tensor g({3}, std::vector<float>{1, -2, 0});
  minipaddle::SGD(0.5f).step(p, g);
  EXPECT_EQ(p.values(), (std::vector<float>{0.5f, 2.0f, 1.0f}));
  EXPECT_THROW(minipaddle::SGD(0.1f).step(p, Tensor({2})), std::invalid_argument);
}

TEST(Train, LinearRegressionConverges) {
  const minipaddle::TrainResult r = minipaddle::train_linear_regression();
  EXPECT_EQ(r.steps, 200);
  ASSERT_EQ(r.loss_history.size(), 200u);
  ASSERT_EQ(r.weights.size(), 3u);
  EXPECT_GT(r.initial_loss, 1.0f);
  EXPECT_LT(r.final_loss, 1e-4f);
  for (std::size_t i = 1; i < r.loss_history.size(); ++i) EXPECT_LE(r.loss_history[i], r.loss_history[i - 1]);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(r.weights[i], r.true_weights[i], 0.01f);
  EXPECT_NEAR(r.bias, r.true_bias, 0.01f);
}

TEST(Train, IsDeterministic) {
  minipaddle::TrainConfig cfg;
  cfg.steps = 50;
  const auto a = minipaddle::train_linear_regression(cfg);
  const auto b = minipaddle::train_linear_regression(cfg);
  EXPECT_EQ(a.loss_history, b.loss_history);
  EXPECT_EQ(a.weights, b.weights);
  cfg.seed = 43;
  const auto c = minipaddle::train_linear_regression(cfg);
  EXPECT_NE(a.loss_history, c.loss_history);
}
