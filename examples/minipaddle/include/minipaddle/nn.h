/// @file
/// @brief Neural-network pieces: Dense layer, MSE loss, SGD, and a tiny training loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "minipaddle/tensor.h"

namespace minipaddle {

/// Deterministic 32-bit linear congruential generator (Numerical Recipes
/// constants), so synthetic data is bit-identical on every platform.
class Lcg {
 public:
  /// A generator starting from seed.
  explicit Lcg(std::uint32_t seed = 42) noexcept : state_(seed) {}
  /// The next 32-bit value.
  std::uint32_t next_u32() noexcept {
    state_ = state_ * 1664525u + 1013904223u;
    return state_;
  }
  /// Uniform in [0, 1) with 24 random bits.
  float uniform() noexcept { return static_cast<float>(next_u32() >> 8) * (1.0f / 16777216.0f); }
  /// Uniform in [lo, hi).
  float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }

 private:
  std::uint32_t state_;
};

/// Fully connected layer: y = x W + b, x: (batch x in), W: (in x out), b: (out).
class Dense {
 public:
  /// Weights uniform in [-1/sqrt(in), 1/sqrt(in)) from an Lcg(seed), bias 0.
  Dense(std::size_t in_features, std::size_t out_features, std::uint32_t seed = 1);
  /// Explicit parameters. Throws std::invalid_argument on shape mismatch.
  Dense(Tensor weight, Tensor bias);

  /// y = x W + b for x of shape (batch x in); remembers x for backward().
  Tensor forward(const Tensor& x);
  /// Given dL/dy, stores dL/dW and dL/db and returns dL/dx. Uses the input of
  /// the last forward() call.
  Tensor backward(const Tensor& grad_out);

  /// The number of inputs.
  std::size_t in_features() const noexcept { return weight_.rows(); }
  /// The number of outputs.
  std::size_t out_features() const noexcept { return weight_.cols(); }
  /// W, of shape (in x out).
  Tensor& weight() noexcept { return weight_; }
  /// b, of shape (out).
  Tensor& bias() noexcept { return bias_; }
  /// W, of shape (in x out) (read-only).
  const Tensor& weight() const noexcept { return weight_; }
  /// b, of shape (out) (read-only).
  const Tensor& bias() const noexcept { return bias_; }
  /// dL/dW from the last backward().
  const Tensor& weight_grad() const noexcept { return weight_grad_; }
  /// dL/db from the last backward().
  const Tensor& bias_grad() const noexcept { return bias_grad_; }

 private:
  Tensor weight_, bias_;
  Tensor weight_grad_, bias_grad_;
  Tensor last_input_;
};

/// Mean squared error over all elements: mean((pred - target)^2).
float mse_loss(const Tensor& pred, const Tensor& target);
/// d mse_loss / d pred = 2 (pred - target) / N.
Tensor mse_loss_grad(const Tensor& pred, const Tensor& target);

/// Plain stochastic gradient descent: param -= lr * grad.
class SGD {
 public:
  /// An optimizer with learning rate lr.
  explicit SGD(float lr) : lr_(lr) {}
  /// param -= lr * grad.
  void step(Tensor& param, const Tensor& grad) const;
  void step(Dense& layer) const;  ///< updates weight and bias from their grads
  /// The learning rate.
  float lr() const noexcept { return lr_; }

 private:
  float lr_;
};

/// Linear regression on deterministic synthetic data:
///   x ~ U[-1, 1)^(samples x 3), y = x . [2, -3, 0.5] + 1 + U[-noise, noise)
/// trained with full-batch gradient descent on a Dense(3, 1) layer.
struct TrainConfig {
  int steps = 200;             ///< Gradient steps.
  float lr = 0.1f;             ///< Learning rate.
  std::uint32_t seed = 42;     ///< Seed of the Lcg that makes the data and the initial weights.
  std::size_t samples = 64;    ///< Rows of synthetic data.
  float noise = 0.01f;         ///< Half-width of the uniform noise added to y.
};

/// What train_linear_regression() learned, and how the loss went.
struct TrainResult {
  int steps = 0;                   ///< Steps run.
  float initial_loss = 0.0f;       ///< Loss before the first update.
  float final_loss = 0.0f;         ///< loss after the last update
  std::vector<float> weights;      ///< learned W (3 values)
  float bias = 0.0f;               ///< learned b
  std::vector<float> true_weights; ///< [2, -3, 0.5]
  float true_bias = 0.0f;          ///< 1
  std::vector<float> loss_history; ///< loss before each step
};

/// Trains a Dense(3, 1) layer on the synthetic data of config (see TrainConfig); the same on every machine.
TrainResult train_linear_regression(const TrainConfig& config = TrainConfig());

}  // namespace minipaddle
