// Internal to libminipaddle: pieces src/nn.cc shares with src/distributed.cc.
#pragma once

#include <vector>

#include "minipaddle/nn.h"

namespace minipaddle {
namespace detail {

// The true parameters of the synthetic linear-regression data.
inline const std::vector<float>& true_weights() {
  static const std::vector<float> w = {2.0f, -3.0f, 0.5f};
  return w;
}
constexpr float kTrueBias = 1.0f;

// The synthetic data set of train_linear_regression: x (samples x 3), y (samples x 1), from Lcg(seed).
void linear_regression_data(const TrainConfig& config, Tensor& x, Tensor& y);

}  // namespace detail
}  // namespace minipaddle
