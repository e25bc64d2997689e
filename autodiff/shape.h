#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ad {

using Shape = std::vector<std::int64_t>;

std::int64_t numel_of(const Shape& s);
// Row-major strides in elements: the last dim has stride 1.
Shape contiguous_strides(const Shape& s);
// "[2, 3]"; "[]" for a 0-d tensor.
std::string shape_str(const Shape& s);
// NumPy broadcasting of two shapes; throws naming `op` and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// True when a tensor of shape `from` can be broadcast to `to`.
bool broadcastable_to(const Shape& from, const Shape& to);
// Wraps a possibly negative dim into [0, rank); throws naming `op` when out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op);
// Strides of `in` laid over the broadcast shape `out` (0 along broadcast dims).
Shape broadcast_strides(const Shape& in, const Shape& out);

}  // namespace ad
