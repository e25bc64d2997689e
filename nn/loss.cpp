#include "adgraph/nn/loss.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

namespace ad::nn {

namespace {

std::string desc(const ad::Tensor& t) {
  return std::string(ad::dtype_name(t.dtype())) + " " + ad::shape_str(t.shape());
}

void check_defined(const ad::Tensor& t, const char* loss, const char* what) {
  if (!t.defined()) throw ad::Error(std::string(loss) + ": the " + what + " is an undefined tensor");
}

void check_floating(const ad::Tensor& t, const char* loss, const char* what) {
  if (!ad::is_floating(t.dtype()))
    throw ad::Error(std::string(loss) + ": the " + what + " must be Float32 or Float64, got " + desc(t) +
                    "; convert it with .to(ad::kFloat64)");
}

// Elementwise losses: same shape, same floating dtype.
void check_pair(const ad::Tensor& input, const ad::Tensor& target, const char* loss) {
  check_defined(input, loss, "input");
  check_defined(target, loss, "target");
  check_floating(input, loss, "input");
  check_floating(target, loss, "target");
  if (input.shape() != target.shape())
    throw ad::Error(std::string(loss) + ": input " + ad::shape_str(input.shape()) + " and target " +
                    ad::shape_str(target.shape()) +
                    " must have the same shape (no broadcasting, which would silently pair the wrong elements); "
                    "reshape one of them, e.g. target.reshape(input.shape())");
  if (input.dtype() != target.dtype())
    throw ad::Error(std::string(loss) + ": input " + desc(input) + " and target " + desc(target) +
                    " have different dtypes; convert the target with .to(ad::k" + ad::dtype_name(input.dtype()) + ")");
}

ad::Tensor reduce(const ad::Tensor& t, Reduction r) {
  switch (r) {
    case Reduction::Mean:
      return ad::mean(t);
    case Reduction::Sum:
      return ad::sum(t);
    case Reduction::None:
      return t;
  }
  throw ad::Error("loss: unknown reduction");
}

// True when pred holds for every value of a floating tensor.
template <class F>
bool all_of(const ad::Tensor& t, F pred) {
  bool ok = true;
  const ad::Tensor tc = t.contiguous();
  ad::dispatch_float(t.dtype(), "loss", [&]<class T>() {
    const T* p = tc.data_ptr<T>();
    for (std::int64_t i = 0, n = t.numel(); i < n && ok; ++i) ok = pred(static_cast<double>(p[i]));
  });
  return ok;
}

// log(1 + z) for z >= 0, accurate for tiny z (Kahan's trick): with u = 1 + z rounded,
// log1p(z) = log(u) z / (u - 1), and z itself when u == 1. Both branches are engine ops, and
// where() sends no gradient (hence no NaN) into the 0/0 of the branch not taken.
ad::Tensor log1p_nonneg(const ad::Tensor& z) {
  const ad::Tensor u = 1.0 + z;
  const ad::Tensor d = u - 1.0;
  return ad::where(d > 0.0, ad::log(u) * z / d, z);
}

// Class losses: input [N, C] or [C], floating, with at least one class.
void check_class_input(const ad::Tensor& input, const char* loss) {
  check_defined(input, loss, "input");
  check_floating(input, loss, "input");
  if (input.dim() != 1 && input.dim() != 2)
    throw ad::Error(std::string(loss) +
                    ": the input must be [N, C] (a batch of N rows of C class scores) or [C], got " +
                    ad::shape_str(input.shape()) + "; flatten extra dims, e.g. input.reshape({-1, C})");
  if (input.size(-1) == 0)
    throw ad::Error(std::string(loss) + ": the input " + ad::shape_str(input.shape()) + " has no classes");
}

void check_indices(const ad::Tensor& input, const ad::Tensor& target, const char* loss) {
  const bool batched = input.dim() == 2;
  const ad::Shape want = batched ? ad::Shape{input.size(0)} : ad::Shape{};
  // One sample ([C]) also takes a [1] target: ad::index_tensor({k}) is 1-D.
  const bool ok = target.shape() == want || (!batched && target.shape() == ad::Shape{1});
  if (!ok)
    throw ad::Error(std::string(loss) + ": class-index target " + ad::shape_str(target.shape()) +
                    " does not fit input " + ad::shape_str(input.shape()) + "; it must be Int64 of shape " +
                    ad::shape_str(want) +
                    std::string(batched ? " (one class index per sample)" : " or [1] (the class index)") +
                    (target.numel() == input.numel() ? ", or pass one-hot/probability targets of the input's shape"
                                                       " and dtype to cross_entropy"
                                                     : ""));
  const std::int64_t c = input.size(-1);
  const ad::Tensor tc = target.contiguous();
  const std::int64_t* p = tc.data_ptr<std::int64_t>();
  for (std::int64_t i = 0, n = target.numel(); i < n; ++i)
    if (p[i] < 0 || p[i] >= c)
      throw ad::Error(std::string(loss) + ": target[" + std::to_string(i) + "] = " + std::to_string(p[i]) +
                      " is not a class index in [0, " + std::to_string(c) + ") for input " +
                      ad::shape_str(input.shape()));
}

}  // namespace

ad::Tensor mse_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_pair(input, target, "mse_loss");
  const ad::Tensor r = input - target;
  return reduce(r * r, reduction);
}

ad::Tensor l1_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_pair(input, target, "l1_loss");
  return reduce(ad::abs(input - target), reduction);
}

ad::Tensor huber_loss(const ad::Tensor& input, const ad::Tensor& target, double delta, Reduction reduction) {
  check_pair(input, target, "huber_loss");
  if (!(delta > 0.0) || !std::isfinite(delta)) {
    std::ostringstream os;
    os << "huber_loss: delta must be positive and finite, got " << delta;
    throw ad::Error(os.str());
  }
  const ad::Tensor r = input - target;
  const ad::Tensor a = ad::abs(r);
  const ad::Tensor loss = ad::where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta));
  return reduce(loss, reduction);
}

ad::Tensor binary_cross_entropy(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_pair(input, target, "binary_cross_entropy");
  if (!all_of(input, [](double v) { return v >= 0.0 && v <= 1.0; }))
    throw ad::Error("binary_cross_entropy: the input " + desc(input) +
                    " must hold probabilities in [0, 1]; for raw scores (logits) use "
                    "binary_cross_entropy_with_logits, or apply ad::sigmoid first");
  return reduce(ad::binary_cross_entropy_terms(input, target), reduction);
}

ad::Tensor binary_cross_entropy_with_logits(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_pair(input, target, "binary_cross_entropy_with_logits");
  const double inf = std::numeric_limits<double>::infinity();
  // x >= 0: x (1 - y) + log1p(exp(-x));  x < 0: -x y + log1p(exp(x)). Each branch sees x clamped
  // to its own side (clamp passes the gradient at 0), so neither overflows.
  const ad::Tensor xp = ad::clamp(input, 0.0, inf);
  const ad::Tensor xn = ad::clamp(input, -inf, 0.0);
  const ad::Tensor pos = xp * (1.0 - target) + log1p_nonneg(ad::exp(-xp));
  const ad::Tensor neg = -(xn * target) + log1p_nonneg(ad::exp(xn));
  return reduce(ad::where(input >= 0.0, pos, neg), reduction);
}

ad::Tensor nll_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_class_input(input, "nll_loss");
  check_defined(target, "nll_loss", "target");
  if (target.dtype() != ad::kInt64)
    throw ad::Error("nll_loss: the target must hold Int64 class indices, got " + desc(target) +
                    "; build it with ad::index_tensor, or use cross_entropy for one-hot/probability targets");
  check_indices(input, target, "nll_loss");
  ad::Tensor picked;
  if (input.dim() == 2)
    picked = ad::gather(input, 1, target.unsqueeze(1)).reshape({input.size(0)});  // [N]
  else
    picked = ad::gather(input, 0, target.reshape({1})).reshape({});  // []
  return reduce(-picked, reduction);
}

ad::Tensor cross_entropy(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  check_class_input(input, "cross_entropy");
  check_defined(target, "cross_entropy", "target");
  if (target.dtype() == ad::kInt64) {
    check_indices(input, target, "cross_entropy");
    return nll_loss(ad::log_softmax(input, -1), target, reduction);
  }
  if (target.shape() != input.shape())
    throw ad::Error("cross_entropy: target " + desc(target) + " does not fit input " + desc(input) +
                    "; pass Int64 class indices of shape " +
                    ad::shape_str(input.dim() == 2 ? ad::Shape{input.size(0)} : ad::Shape{}) +
                    ", or one-hot/probability targets of the input's shape " + ad::shape_str(input.shape()));
  if (target.dtype() != input.dtype())
    throw ad::Error("cross_entropy: probability target " + desc(target) + " and input " + desc(input) +
                    " have different dtypes; convert the target with .to(ad::k" + ad::dtype_name(input.dtype()) + ")");
  // Per sample: -sum_c y_c log_softmax(x)_c (log_softmax is finite at any finite logits).
  const ad::Tensor per_sample = -ad::sum(target * ad::log_softmax(input, -1), {input.dim() - 1});
  return reduce(per_sample, reduction);
}

}  // namespace ad::nn
