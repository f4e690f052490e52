#include "minipaddle/tensor.h"

#include <sstream>
#include <stdexcept>
#include <utility>

#include "minipaddle/kernels.h"

namespace minipaddle {

std::size_t numel(const Shape& shape) noexcept {
  std::size_t n = 1;
  for (std::size_t d : shape) n *= d;
  return n;
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

Tensor::Tensor(Shape shape, float fill) : shape_(std::move(shape)), data_(numel(shape_), fill) {}

Tensor::Tensor(Shape shape, std::vector<float> data) : shape_(std::move(shape)), data_(std::move(data)) {
  if (data_.size() != numel(shape_)) {
    throw std::invalid_argument("Tensor: " + std::to_string(data_.size()) +
                                " values do not match shape " + shape_to_string(shape_));
  }
}

Tensor Tensor::from_vector(std::vector<float> values) {
  Shape shape{values.size()};
  return Tensor(std::move(shape), std::move(values));
}

std::size_t Tensor::rows() const {
  if (ndim() != 2) throw std::invalid_argument("Tensor::rows: tensor is not 2-D");
  return shape_[0];
}

std::size_t Tensor::cols() const {
  if (ndim() != 2) throw std::invalid_argument("Tensor::cols: tensor is not 2-D");
  return shape_[1];
}

float& Tensor::at(std::size_t i) {
  if (i >= data_.size()) throw std::out_of_range("Tensor::at: index out of range");
  return data_[i];
}

float Tensor::at(std::size_t i) const {
  if (i >= data_.size()) throw std::out_of_range("Tensor::at: index out of range");
  return data_[i];
}

float& Tensor::at(std::size_t r, std::size_t c) {
  if (r >= rows() || c >= cols()) throw std::out_of_range("Tensor::at: index out of range");
  return data_[r * shape_[1] + c];
}

float Tensor::at(std::size_t r, std::size_t c) const {
  if (r >= rows() || c >= cols()) throw std::out_of_range("Tensor::at: index out of range");
  return data_[r * shape_[1] + c];
}

Tensor Tensor::reshape(Shape shape) const {
  if (numel(shape) != size()) {
    throw std::invalid_argument("Tensor::reshape: cannot reshape " + shape_to_string(shape_) +
                                " to " + shape_to_string(shape));
  }
  return Tensor(std::move(shape), data_);
}

Tensor Tensor::transpose() const {
  const std::size_t r = rows(), c = cols();
  Tensor out({c, r});
  for (std::size_t i = 0; i < r; ++i)
    for (std::size_t j = 0; j < c; ++j) out.data_[j * r + i] = data_[i * c + j];
  return out;
}

std::string Tensor::to_string() const {
  std::ostringstream os;
  os << "Tensor(shape=" << shape_to_string(shape_) << ", data=[";
  for (std::size_t i = 0; i < data_.size(); ++i) os << (i ? ", " : "") << data_[i];
  os << "])";
  return os.str();
}

namespace {

void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw std::invalid_argument(std::string(op) + ": shape mismatch " + shape_to_string(a.shape()) +
                                " vs " + shape_to_string(b.shape()));
  }
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_same_shape("add", a, b);
  Tensor out(a.shape());
  kernels::add(a.data(), b.data(), out.data(), a.size());
  return out;
}

Tensor mul(const Tensor& a, const Tensor& b) {
  check_same_shape("mul", a, b);
  Tensor out(a.shape());
  kernels::mul(a.data(), b.data(), out.data(), a.size());
  return out;
}

Tensor scale(const Tensor& a, float s) {
  Tensor out(a.shape());
  kernels::axpy(s, a.data(), out.data(), a.size());
  return out;
}

Tensor relu(const Tensor& a) {
  Tensor out(a.shape());
  kernels::relu(a.data(), out.data(), a.size());
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  if (a.ndim() != 2 || b.ndim() != 2 || a.cols() != b.rows()) {
    throw std::invalid_argument("matmul: incompatible shapes " + shape_to_string(a.shape()) + " @ " +
                                shape_to_string(b.shape()));
  }
  const std::size_t m = a.rows(), k = a.cols(), n = b.cols();
  Tensor out({m, n});
  // Row i of the result is sum_p a[i, p] * b[p, :]  (vectorised via axpy).
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t p = 0; p < k; ++p) kernels::axpy(a.data()[i * k + p], b.data() + p * n, out.data() + i * n, n);
  return out;
}

float sum(const Tensor& a) { return kernels::sum(a.data(), a.size()); }

float dot(const Tensor& a, const Tensor& b) {
  if (a.size() != b.size()) {
    throw std::invalid_argument("dot: size mismatch " + std::to_string(a.size()) + " vs " +
                                std::to_string(b.size()));
  }
  return kernels::dot(a.data(), b.data(), a.size());
}

}  // namespace minipaddle
