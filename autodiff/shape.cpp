#include "adgraph/autodiff/shape.h"

#include "adgraph/autodiff/dtype.h"

namespace ad {

std::int64_t numel_of(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

std::int64_t checked_numel(const Shape& s, const char* op) {
  constexpr std::int64_t kMax = std::int64_t{1} << 60;  // elements of 8 bytes a 64-bit size can address
  std::int64_t nonzero = 1;
  bool has_zero = false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const std::int64_t d = s[i];
    if (d < 0)
      throw Error(std::string(op) + ": negative size " + std::to_string(d) + " in dim " + std::to_string(i) +
                  " of shape " + shape_str(s) + "; sizes are >= 0 (-1 is only allowed where a size is inferred)");
    if (d == 0) {
      has_zero = true;
      continue;
    }
    if (__builtin_mul_overflow(nonzero, d, &nonzero) || nonzero > kMax)
      throw Error(std::string(op) + ": shape " + shape_str(s) +
                  " has more elements than a tensor can hold (2^60); check the sizes (an unset or garbage size?)");
  }
  return has_zero ? 0 : nonzero;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  std::int64_t acc = 1;
  for (std::size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const std::int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const std::int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1)
      throw Error(std::string(op) + ": shapes " + shape_str(a) + " and " + shape_str(b) + " cannot be broadcast (dim " +
                  std::to_string(i) + ": " + std::to_string(da) + " vs " + std::to_string(db) +
                  "); sizes must match or be 1 — reshape or unsqueeze one operand");
    out[i] = da == 1 ? db : da;
  }
  checked_numel(out, op);  // [2^40, 1] and [1, 2^40] broadcast to more elements than fit
  return out;
}

bool broadcastable_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const std::size_t off = to.size() - from.size();
  for (std::size_t i = 0; i < from.size(); ++i)
    if (from[i] != 1 && from[i] != to[i + off]) return false;
  return true;
}

namespace {
std::string dim_range_error(std::int64_t dim, std::int64_t rank, const char* op) {
  if (rank == 0)
    return std::string(op) + ": dim " + std::to_string(dim) +
           " given for a 0-d tensor (a scalar has no dims); reshape it to [1] or unsqueeze(0) first";
  return std::string(op) + ": dim " + std::to_string(dim) + " is out of range for a tensor of rank " +
         std::to_string(rank) + " (valid: " + std::to_string(-rank) + " .. " + std::to_string(rank - 1) + ")";
}
}  // namespace

std::int64_t wrap_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  if (dim < -rank || dim >= rank) throw Error(dim_range_error(dim, rank, op));
  return dim < 0 ? dim + rank : dim;
}

std::int64_t wrap_dim_scalar(std::int64_t dim, std::int64_t rank, const char* op) {
  if (rank == 0) {
    if (dim != 0 && dim != -1)
      throw Error(std::string(op) + ": dim " + std::to_string(dim) +
                  " is out of range for a 0-d tensor (valid: -1 .. 0, as if it had one dim)");
    return 0;
  }
  return wrap_dim(dim, rank, op);
}

std::vector<bool> dim_mask(const Shape& dims, std::int64_t rank, const char* op) {
  std::vector<bool> mask(static_cast<std::size_t>(rank), false);
  std::vector<bool> seen(rank == 0 ? 1 : static_cast<std::size_t>(rank), false);
  for (auto d : dims) {
    const auto w = static_cast<std::size_t>(wrap_dim_scalar(d, rank, op));
    if (seen[w])
      throw Error(std::string(op) + ": dim " + std::to_string(w) + " appears more than once in dims " +
                  shape_str(dims) + "; give each dim once");
    seen[w] = true;
    if (rank > 0) mask[w] = true;
  }
  return mask;
}

Shape broadcast_strides(const Shape& in, const Shape& out) {
  Shape st(out.size(), 0);
  const Shape cs = contiguous_strides(in);
  const std::size_t off = out.size() - in.size();
  for (std::size_t i = 0; i < in.size(); ++i) st[i + off] = in[i] == 1 ? 0 : cs[i];
  return st;
}

Shape broadcast_strides(const Shape& in, const Shape& in_strides, const Shape& out) {
  Shape st(out.size(), 0);
  const std::size_t off = out.size() - in.size();
  for (std::size_t i = 0; i < in.size(); ++i) st[i + off] = in[i] == 1 ? 0 : in_strides[i];
  return st;
}

bool is_contiguous_layout(const Shape& shape, const Shape& strides) {
  std::int64_t expected = 1;
  for (std::size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 0) return true;
    if (shape[i] != 1 && strides[i] != expected) return false;
    expected *= shape[i];
  }
  return true;
}

}  // namespace ad
