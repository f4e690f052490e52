/// @file
/// @brief A small dense float tensor: shape + contiguous row-major storage.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <vector>

namespace minipaddle {

/// The extent of each dimension of a Tensor, outermost first.
using Shape = std::vector<std::size_t>;

/// A dense float tensor: a Shape and contiguous row-major storage.
class Tensor {
 public:
  /// An empty tensor (no dimensions, no elements).
  Tensor() = default;
  /// Tensor of the given shape, every element set to `fill`.
  explicit Tensor(Shape shape, float fill = 0.0f);
  /// Tensor of the given shape with the given row-major data.
  /// Throws std::invalid_argument if data.size() != product(shape).
  Tensor(Shape shape, std::vector<float> data);

  /// A tensor of the given shape filled with 0.
  static Tensor zeros(Shape shape) { return Tensor(std::move(shape), 0.0f); }
  /// A tensor of the given shape filled with 1.
  static Tensor ones(Shape shape) { return Tensor(std::move(shape), 1.0f); }
  /// 1-D tensor from values.
  static Tensor from_vector(std::vector<float> values);

  /// The tensor's shape.
  const Shape& shape() const noexcept { return shape_; }
  /// The number of dimensions.
  std::size_t ndim() const noexcept { return shape_.size(); }
  /// The number of elements.
  std::size_t size() const noexcept { return data_.size(); }
  std::size_t rows() const;  ///< shape[0] of a 2-D tensor
  std::size_t cols() const;  ///< shape[1] of a 2-D tensor

  /// The first element of the row-major storage.
  float* data() noexcept { return data_.data(); }
  /// The first element of the row-major storage (read-only).
  const float* data() const noexcept { return data_.data(); }
  /// The row-major values.
  const std::vector<float>& values() const noexcept { return data_; }

  /// Flat (row-major) element access, bounds-checked.
  float& at(std::size_t i);
  /// Flat (row-major) element access, bounds-checked (std::out_of_range).
  float at(std::size_t i) const;
  /// 2-D element access, bounds-checked.
  float& at(std::size_t r, std::size_t c);
  /// 2-D element access, bounds-checked (std::out_of_range).
  float at(std::size_t r, std::size_t c) const;

  Tensor reshape(Shape shape) const;  ///< same number of elements
  Tensor transpose() const;           ///< 2-D only
  std::string to_string() const;  ///< A printable form: shape and values.

 private:
  Shape shape_;
  std::vector<float> data_;
};

/// The number of elements of a tensor of this shape (the product of its extents).
std::size_t numel(const Shape& shape) noexcept;
/// A shape as text, e.g. "(2, 3)".
std::string shape_to_string(const Shape& shape);

/// Element-wise ops; shapes must match exactly (std::invalid_argument otherwise).
Tensor add(const Tensor& a, const Tensor& b);
/// Element-wise product; shapes must match exactly (std::invalid_argument otherwise).
Tensor mul(const Tensor& a, const Tensor& b);
/// Every element multiplied by s.
Tensor scale(const Tensor& a, float s);
/// max(x, 0) element-wise.
Tensor relu(const Tensor& a);
/// (m x k) @ (k x n) -> (m x n)
Tensor matmul(const Tensor& a, const Tensor& b);
/// Sum of all elements.
float sum(const Tensor& a);
/// Inner product of two tensors with the same number of elements.
float dot(const Tensor& a, const Tensor& b);

/// Same as add(a, b).
inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
/// Same as mul(a, b).
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }

}  // namespace minipaddle
