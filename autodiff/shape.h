#pragma once
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ad {

using Shape = std::vector<std::int64_t>;

// The dims a reduction runs over, as PyTorch takes them: one dim (sum(x, 1)), a list
// (sum(x, {0, 2})), or none ({}: all dims).
struct Dims : Shape {
  Dims() = default;
  Dims(std::int64_t d) : Shape{d} {}  // NOLINT(google-explicit-constructor): sum(x, 1)
  Dims(std::initializer_list<std::int64_t> l) : Shape(l) {}
  Dims(const Shape& s) : Shape(s) {}  // NOLINT(google-explicit-constructor)
};

// The element count of a shape already known to be valid (a tensor's own shape).
std::int64_t numel_of(const Shape& s);
// The element count of a shape given by a user or computed from one: throws naming `op` when a
// size is negative, or when the sizes (zeros left out, so every sub-shape fits as well) multiply
// past what int64 elements of 8 bytes can address (2^60 elements).
std::int64_t checked_numel(const Shape& s, const char* op);
// Row-major strides in elements: the last dim has stride 1.
Shape contiguous_strides(const Shape& s);
// "[2, 3]"; "[]" for a 0-d tensor.
std::string shape_str(const Shape& s);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// True when a tensor of shape `from` can be broadcast to `to`.
bool broadcastable_to(const Shape& from, const Shape& to);
// Wraps a possibly negative dim into [0, rank); throws naming `op` when out of range. A 0-d
// tensor has no dim: every dim is out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op);
// The same, except that a 0-d tensor accepts dim 0 and -1 (returned as 0) as in PyTorch, for ops
// where a scalar has one obvious meaning (reductions, softmax, squeeze, transpose).
std::int64_t wrap_dim_scalar(std::int64_t dim, std::int64_t rank, const char* op);
// The dims of a reduction as a mask over [0, rank): throws naming `op` on a dim out of range or
// given twice. Empty `dims` selects nothing (callers treat it as "all"); a 0-d tensor accepts
// 0 / -1 and gets an empty mask.
std::vector<bool> dim_mask(const Shape& dims, std::int64_t rank, const char* op);
// Strides of a contiguous `in` laid over the broadcast shape `out` (0 along broadcast dims).
Shape broadcast_strides(const Shape& in, const Shape& out);
// The same for a tensor of shape `in` with the given strides (a view).
Shape broadcast_strides(const Shape& in, const Shape& in_strides, const Shape& out);
// True when the strides are row-major without gaps (dims of size 1 may have any stride).
bool is_contiguous_layout(const Shape& shape, const Shape& strides);

}  // namespace ad
