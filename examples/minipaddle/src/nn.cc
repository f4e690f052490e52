#include "minipaddle/nn.h"

#include <cmath>
#include <stdexcept>
#include <utility>

#include "minipaddle/kernels.h"
#include "nn_internal.h"

namespace minipaddle {

Dense::Dense(std::size_t in_features, std::size_t out_features, std::uint32_t seed)
    : weight_({in_features, out_features}), bias_({out_features}) {
  if (in_features == 0 || out_features == 0) throw std::invalid_argument("Dense: zero-sized layer");
  Lcg rng(seed);
  const float limit = 1.0f / std::sqrt(static_cast<float>(in_features));
  for (std::size_t i = 0; i < weight_.size(); ++i) weight_.data()[i] = rng.uniform(-limit, limit);
}

Dense::Dense(Tensor weight, Tensor bias) : weight_(std::move(weight)), bias_(std::move(bias)) {
  if (weight_.ndim() != 2 || bias_.ndim() != 1 || bias_.size() != weight_.cols()) {
    throw std::invalid_argument("Dense: weight must be (in, out) and bias (out,), got " +
                                shape_to_string(weight_.shape()) + " and " + shape_to_string(bias_.shape()));
  }
}

Tensor Dense::forward(const Tensor& x) {
  if (x.ndim() != 2 || x.cols() != in_features()) {
    throw std::invalid_argument("Dense::forward: expected input (batch, " + std::to_string(in_features()) +
                                "), got " + shape_to_string(x.shape()));
  }
  last_input_ = x;
  Tensor y = matmul(x, weight_);
  const std::size_t out = out_features();
  for (std::size_t r = 0; r < y.rows(); ++r) kernels::add(y.data() + r * out, bias_.data(), y.data() + r * out, out);
  return y;
}

Tensor Dense::backward(const Tensor& grad_out) {
  if (last_input_.size() == 0) throw std::logic_error("Dense::backward called before forward");
  if (grad_out.ndim() != 2 || grad_out.rows() != last_input_.rows() || grad_out.cols() != out_features()) {
    throw std::invalid_argument("Dense::backward: bad gradient shape " + shape_to_string(grad_out.shape()));
  }
  weight_grad_ = matmul(last_input_.transpose(), grad_out);
  bias_grad_ = Tensor({out_features()});
  const std::size_t out = out_features();
  for (std::size_t r = 0; r < grad_out.rows(); ++r) {
    kernels::add(bias_grad_.data(), grad_out.data() + r * out, bias_grad_.data(), out);
  }
  return matmul(grad_out, weight_.transpose());
}

float mse_loss(const Tensor& pred, const Tensor& target) {
  if (pred.shape() != target.shape()) throw std::invalid_argument("mse_loss: shape mismatch");
  if (pred.size() == 0) throw std::invalid_argument("mse_loss: empty tensors");
  Tensor diff = add(pred, scale(target, -1.0f));
  return dot(diff, diff) / static_cast<float>(diff.size());
}

Tensor mse_loss_grad(const Tensor& pred, const Tensor& target) {
  if (pred.shape() != target.shape()) throw std::invalid_argument("mse_loss_grad: shape mismatch");
  if (pred.size() == 0) throw std::invalid_argument("mse_loss_grad: empty tensors");
  Tensor diff = add(pred, scale(target, -1.0f));
  return scale(diff, 2.0f / static_cast<float>(diff.size()));
}

void SGD::step(Tensor& param, const Tensor& grad) const {
  if (param.shape() != grad.shape()) throw std::invalid_argument("SGD::step: shape mismatch");
  kernels::axpy(-lr_, grad.data(), param.data(), param.size());
}

void SGD::step(Dense& layer) const {
  step(layer.weight(), layer.weight_grad());
  step(layer.bias(), layer.bias_grad());
}

namespace detail {

void linear_regression_data(const TrainConfig& config, Tensor& x, Tensor& y) {
  const std::vector<float>& true_w = true_weights();
  const std::size_t features = true_w.size();
  Lcg rng(config.seed);
  x = Tensor({config.samples, features});
  y = Tensor({config.samples, 1});
  for (std::size_t i = 0; i < config.samples; ++i) {
    float target = kTrueBias;
    for (std::size_t j = 0; j < features; ++j) {
      const float v = rng.uniform(-1.0f, 1.0f);
      x.at(i, j) = v;
      target += v * true_w[j];
    }
    y.at(i, 0) = target + config.noise * rng.uniform(-1.0f, 1.0f);
  }
}

}  // namespace detail

TrainResult train_linear_regression(const TrainConfig& config) {
  if (config.steps < 0) throw std::invalid_argument("train: steps must be >= 0");
  if (config.samples == 0) throw std::invalid_argument("train: samples must be > 0");
  Tensor x, y;
  detail::linear_regression_data(config, x, y);

  Dense layer(x.cols(), 1, config.seed + 1);
  SGD sgd(config.lr);
  TrainResult result;
  result.steps = config.steps;
  result.true_weights = detail::true_weights();
  result.true_bias = detail::kTrueBias;
  result.loss_history.reserve(static_cast<std::size_t>(config.steps));
  for (int step = 0; step < config.steps; ++step) {
    Tensor pred = layer.forward(x);
    result.loss_history.push_back(mse_loss(pred, y));
    layer.backward(mse_loss_grad(pred, y));
    sgd.step(layer);
  }
  result.initial_loss = result.loss_history.empty() ? mse_loss(layer.forward(x), y) : result.loss_history.front();
  result.final_loss = mse_loss(layer.forward(x), y);
  result.weights = layer.weight().values();
  result.bias = layer.bias().at(0);
  return result;
}

}  // namespace minipaddle
