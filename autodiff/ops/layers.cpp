// Functional forms of layers: embedding, one_hot, dropout, and the running sum cumsum. Only
// cumsum has a rule of its own (its gradient, the running sum from the end, is cumsum between
// two reversals, so it is differentiable again); the others compose recorded ops.
#include <algorithm>
#include <limits>
#include <sstream>

#include "adgraph/autodiff/ops/common.h"
#include "adgraph/autodiff/random.h"

namespace ad {
namespace {

// The index's values as a contiguous Int64 vector, each checked against [0, n).
std::vector<std::int64_t> checked_indices(const Tensor& index, std::int64_t n, const char* op, const char* what) {
  if (!index.defined()) throw Error(std::string(op) + ": the index is an undefined Tensor");
  if (index.dtype() != kInt64)
    throw Error(std::string(op) + ": the index must be an Int64 tensor, got " + dtype_name(index.dtype()) +
                "; build it with ad::index_tensor or .to(ad::kInt64)");
  const Tensor ic = index.contiguous();
  const std::int64_t* p = ic.data_ptr<std::int64_t>();
  std::vector<std::int64_t> v(p, p + ic.numel());
  for (std::int64_t i : v)
    if (i < 0 || i >= n)
      throw Error(std::string(op) + ": index " + std::to_string(i) + " is out of range for " + what + " (valid: 0 .. " +
                  std::to_string(n - 1) + ")");
  return v;
}

}  // namespace

// y[..., :] = weight[index[...], :]   (index_select's rule: the gradient rows added into weight's)
Tensor embedding(const Tensor& index, const Tensor& weight, std::int64_t padding_idx) {
  if (!weight.defined() || weight.dim() != 2 || !is_floating(weight.dtype()))
    throw Error("embedding: the weight must be a floating [num_embeddings, dim] tensor, got " +
                (weight.defined() ? shape_str(weight.shape()) + " " + dtype_name(weight.dtype()) : "undefined"));
  const std::int64_t rows = weight.size(0);
  if (padding_idx >= rows || padding_idx < -rows - 1)
    throw Error("embedding: padding_idx " + std::to_string(padding_idx) + " is out of range for " +
                std::to_string(rows) + " embeddings");
  checked_indices(index, rows, "embedding", ("a weight of " + std::to_string(rows) + " rows").c_str());
  const Tensor flat = index.reshape({index.numel()});
  Shape out_shape = index.shape();
  out_shape.push_back(weight.size(1));
  Tensor rows_of = index_select(weight, 0, flat);
  if (padding_idx >= 0 && weight.requires_grad()) {  // the padding row's uses take no gradient
    const Tensor pad = eq(flat, scalar_tensor(static_cast<double>(padding_idx), dtype(kInt64))).unsqueeze(1);
    rows_of = where(pad, index_select(weight.detach(), 0, flat), rows_of);
  }
  return rows_of.reshape(out_shape);
}

Tensor one_hot(const Tensor& index, std::int64_t num_classes) {
  if (!index.defined() || index.dtype() != kInt64)
    throw Error("one_hot: the index must be an Int64 tensor, got " +
                (index.defined() ? std::string(dtype_name(index.dtype())) : std::string("undefined")));
  std::int64_t n = num_classes;
  std::vector<std::int64_t> v;
  if (n == -1) {  // max + 1, the indices checked only for being >= 0
    if (index.numel() == 0) throw Error("one_hot: cannot infer num_classes from an empty index; pass it");
    v = checked_indices(index, std::numeric_limits<std::int64_t>::max(), "one_hot", "class numbers (>= 0)");
    n = *std::max_element(v.begin(), v.end()) + 1;
  } else {
    if (n < 1) throw Error("one_hot: num_classes must be >= 1 (or -1 to infer it), got " + std::to_string(n));
    v = checked_indices(index, n, "one_hot", ("num_classes = " + std::to_string(n)).c_str());
  }
  Shape shape = index.shape();
  shape.push_back(n);
  Tensor out = zeros(shape, dtype(kInt64));
  std::int64_t* o = out.data_ptr<std::int64_t>();
  for (std::size_t i = 0; i < v.size(); ++i) o[static_cast<std::int64_t>(i) * n + v[i]] = 1;
  return out;
}

// y = x * mask / (1 - p), mask ~ Bernoulli(1 - p)
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  if (!(p >= 0.0 && p < 1.0)) {
    std::ostringstream os;
    os << "dropout: p must be in [0, 1), got " << p << " (p is the probability of zeroing an element)";
    throw Error(os.str());
  }
  if (!x.defined()) throw Error("dropout: the input is an undefined tensor");
  if (!is_floating(x.dtype()))
    throw Error(std::string("dropout: needs a floating input, got ") + dtype_name(x.dtype()) + " " +
                shape_str(x.shape()));
  if (!training || p == 0.0) return x;
  const double keep = 1.0 - p;
  // Drawn and compared in Float64 whatever x's dtype: the same seed gives the same mask, and a
  // Float32 draw just below 1 cannot round up to 1.
  Tensor scale;
  {
    NoGradGuard ng;
    scale = ((rand(x.shape(), dtype(kFloat64), gen) < keep).to(kFloat64) / keep).to(x.dtype());
  }
  return x * scale;
}

// y_i = sum_{j <= i} a_j along dim;  d cumsum(a)_j = sum_{i >= j} g_i, the running sum of g from the end
Tensor cumsum(const Tensor& a_in, std::int64_t dim) {
  const std::int64_t d = wrap_dim(dim, a_in.dim(), "cumsum");
  const Tensor a = a_in.contiguous();
  std::int64_t outer = 1, n = a.dim() == 0 ? 1 : a.size(d), inner = 1;
  for (std::int64_t k = 0; k < d; ++k) outer *= a.size(k);
  for (std::int64_t k = d + 1; k < a.dim(); ++k) inner *= a.size(k);
  Tensor out = detail::empty_for(a.shape(), a.dtype(), "cumsum");
  bool ok = true;
  dispatch_numeric(a.dtype(), "cumsum", [&]<class T>() {
    const T* src = a.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    for (std::int64_t o = 0; o < outer; ++o)
      for (std::int64_t k = 0; k < n; ++k)
        for (std::int64_t i = 0; i < inner; ++i) {
          const std::int64_t at = (o * n + k) * inner + i;
          if (k == 0) {
            dst[at] = src[at];
          } else if constexpr (std::is_integral_v<T>) {
            dst[at] = detail::int_add(dst[at - inner], src[at], ok);
          } else {
            dst[at] = dst[at - inner] + src[at];
          }
        }
  });
  if (!ok)
    throw Error("cumsum: the Int64 running sum overflows for an input of shape " + shape_str(a_in.shape()) +
                "; convert to .to(ad::kFloat64) first");
  return record("cumsum", out, {a_in}, [d, n](const Tensor& g, const Tensor&) {
    if (g.dim() == 0) return GradList{g};
    std::vector<std::int64_t> back(static_cast<std::size_t>(n));  // n-1, ..., 0
    for (std::int64_t k = 0; k < n; ++k) back[static_cast<std::size_t>(k)] = n - 1 - k;
    const Tensor rev = index_tensor(back);
    return GradList{index_select(cumsum(index_select(g, d, rev), d), d, rev)};
  });
}

}  // namespace ad
