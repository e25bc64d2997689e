// Printing: nested brackets, a common number format per tensor, large tensors summarised with
// "...", and a footer with dtype, shape and autograd state.
#include <cmath>
#include <cstdio>
#include <ostream>
#include <sstream>

#include "adgraph/autodiff/node.h"
#include "adgraph/autodiff/tensor.h"

namespace ad {
namespace {

constexpr std::int64_t kSummariseAbove = 1000;  // elements
constexpr std::int64_t kEdgeItems = 3;          // shown at each end of a summarised dim

struct Printer {
  const std::vector<double>& v;
  const Shape& shape;
  Shape strides;
  bool summarise;
  bool integral;
  bool boolean;  // True / False, as PyTorch prints masks
  bool scientific = false;
  int width = 0;

  std::string number(double x) const {
    char buf[64];
    if (boolean) return x != 0 ? " True" : "False";
    if (integral)
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(x));
    else if (scientific)
      std::snprintf(buf, sizeof buf, "%.4e", x);
    else
      std::snprintf(buf, sizeof buf, "%.4f", x);
    return buf;
  }

  bool shown(std::int64_t i, std::int64_t n) const {
    return !summarise || n <= 2 * kEdgeItems || i < kEdgeItems || i >= n - kEdgeItems;
  }

  // Calls f on every shown flat offset.
  template <class F>
  void each_shown(std::size_t d, std::int64_t off, F& f) const {
    if (d == shape.size()) return f(off);
    for (std::int64_t i = 0; i < shape[d]; ++i)
      if (shown(i, shape[d])) each_shown(d + 1, off + i * strides[d], f);
  }

  void layout() {
    double amax = 0, amin_nz = INFINITY;
    auto scan = [&](std::int64_t off) {
      const double a = std::abs(v[static_cast<std::size_t>(off)]);
      if (std::isfinite(a)) {
        amax = std::max(amax, a);
        if (a > 0) amin_nz = std::min(amin_nz, a);
      }
    };
    each_shown(0, 0, scan);
    scientific = !integral && (amax >= 1e5 || (amin_nz < 1e-4 && amin_nz > 0));
    auto measure = [&](std::int64_t off) {
      width = std::max(width, static_cast<int>(number(v[static_cast<std::size_t>(off)]).size()));
    };
    each_shown(0, 0, measure);
  }

  void print(std::ostream& os, std::size_t d, std::int64_t off, int indent) const {
    if (d == shape.size()) {
      const std::string s = number(v[static_cast<std::size_t>(off)]);
      os << std::string(static_cast<std::size_t>(width) - s.size(), ' ') << s;
      return;
    }
    os << '[';
    const std::int64_t n = shape[d];
    bool first = true;
    for (std::int64_t i = 0; i < n; ++i) {
      if (!shown(i, n)) {
        if (i == kEdgeItems) {
          os << (d + 1 == shape.size() ? ", ..."
                                       : ",\n" + std::string(static_cast<std::size_t>(indent + 1), ' ') + "...");
        }
        continue;
      }
      if (!first) {
        if (d + 1 == shape.size())
          os << ", ";
        else
          os << ',' << std::string(shape.size() - d - 1, '\n')
             << std::string(static_cast<std::size_t>(indent + 1), ' ');
      }
      first = false;
      print(os, d + 1, off + i * strides[d], indent + 1);
    }
    os << ']';
  }
};

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "[ undefined Tensor ]";
  std::ostringstream os;
  const std::vector<double> v = to_vector();
  Printer p{v, shape(), contiguous_strides(shape()), numel() > kSummariseAbove, dtype() == kInt64, dtype() == kBool};
  if (numel() > 0) {
    p.layout();
    p.print(os, 0, 0, 0);
  } else {
    os << "[]";
  }
  os << "\n[ " << dtype_name(dtype()) << '{';
  for (std::size_t i = 0; i < shape().size(); ++i) os << (i ? ", " : "") << shape()[i];
  os << '}';
  if (grad_fn())
    os << ", grad_fn=<" << grad_fn()->name << '>';
  else if (requires_grad())
    os << ", requires_grad";
  os << " ]";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace ad
