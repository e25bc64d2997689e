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

void check_indices(const ad::Tensor& input, const ad::Tensor& target, const char* loss,
                   std::int64_t ignore_index = -100) {
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
    if ((p[i] < 0 || p[i] >= c) && p[i] != ignore_index)
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
  return binary_cross_entropy_with_logits(input, target, BceWithLogitsOptions{.reduction = reduction});
}

// (1 - y) x + w softplus(-x), w = 1 + (pos_weight - 1) y, written per sign of x without
// cancellation: x >= 0: (1 - y) x + w log1p(exp(-x));  x < 0: -pos_weight y x + w log1p(exp(x)).
// Each branch sees x clamped to its own side (clamp passes the gradient at 0), so neither
// overflows and the gradient has no kink at 0.
ad::Tensor binary_cross_entropy_with_logits(const ad::Tensor& input, const ad::Tensor& target,
                                            const BceWithLogitsOptions& opt) {
  const char* loss = "binary_cross_entropy_with_logits";
  check_pair(input, target, loss);
  for (const auto& [t, what] : {std::pair{&opt.weight, "weight"}, std::pair{&opt.pos_weight, "pos_weight"}})
    if (t->defined() && (t->dtype() != input.dtype() || !ad::broadcastable_to(t->shape(), input.shape())))
      throw ad::Error(std::string(loss) + ": " + what + " " + desc(*t) + " must broadcast to the input " + desc(input) +
                      " (e.g. [C] for the last dim) in its dtype");
  const double inf = std::numeric_limits<double>::infinity();
  const ad::Tensor xp = ad::clamp(input, 0.0, inf);
  const ad::Tensor xn = ad::clamp(input, -inf, 0.0);
  ad::Tensor pos = xp * (1.0 - target), neg = -(xn * target);
  ad::Tensor sp_pos = log1p_nonneg(ad::exp(-xp)), sp_neg = log1p_nonneg(ad::exp(xn));
  if (opt.pos_weight.defined()) {
    const ad::Tensor w = 1.0 + (opt.pos_weight - 1.0) * target;
    neg = neg * opt.pos_weight;
    sp_pos = w * sp_pos;
    sp_neg = w * sp_neg;
  }
  ad::Tensor l = ad::where(input >= 0.0, pos + sp_pos, neg + sp_neg);
  if (opt.weight.defined()) l = l * opt.weight;
  return reduce(l, opt.reduction);
}

namespace {

// Class losses with options. `logp` holds log-probabilities [N, C] or [C]; per sample n with a
// class index: l_n = -w[y_n] ((1 - s) logp[n, y_n] + s / C sum_c w_c / w[y_n] logp[n, c]) as
// PyTorch, 0 where y_n == ignore_index; Mean divides by the sum of w[y_n] over kept samples.
ad::Tensor class_loss(const ad::Tensor& logp, const ad::Tensor& target, const ClassLossOptions& opt, const char* loss) {
  const bool batched = logp.dim() == 2;
  const std::int64_t c = logp.size(-1);
  const ad::Tensor lp = batched ? logp : logp.unsqueeze(0);  // [N, C]
  const ad::Tensor y = target.reshape({lp.size(0)});
  const ad::Tensor keep = ad::ne(y, ad::scalar_tensor(static_cast<double>(opt.ignore_index), ad::dtype(ad::kInt64)));
  const ad::Tensor safe = ad::where(keep, y, ad::zeros_like(y));  // any valid class where ignored
  const ad::Tensor keepf = keep.to(lp.dtype());
  const ad::Tensor w = opt.weight.defined() ? opt.weight : ad::ones({c}, ad::dtype(lp.dtype()));
  const ad::Tensor wy = ad::index_select(w, 0, safe) * keepf;                       // [N]
  ad::Tensor l = -ad::gather(lp, 1, safe.unsqueeze(1)).reshape({lp.size(0)}) * wy;  // [N]
  if (opt.label_smoothing > 0.0) {
    const ad::Tensor smooth = -ad::sum(lp * w, {1}) * keepf;  // -sum_c w_c logp_c
    l = (1.0 - opt.label_smoothing) * l + (opt.label_smoothing / static_cast<double>(c)) * smooth;
  }
  switch (opt.reduction) {
    case Reduction::Mean:
      return ad::sum(l) / ad::sum(wy);  // 0/0 = NaN when every target is ignored, as PyTorch
    case Reduction::Sum:
      return ad::sum(l);
    case Reduction::None:
      return batched ? l : l.reshape({});
  }
  throw ad::Error(std::string(loss) + ": unknown reduction");
}

void check_class_options(const ad::Tensor& input, const ClassLossOptions& opt, const char* loss) {
  const std::int64_t c = input.size(-1);
  if (opt.weight.defined() && (opt.weight.shape() != ad::Shape{c} || opt.weight.dtype() != input.dtype()))
    throw ad::Error(std::string(loss) + ": weight " + desc(opt.weight) + " must be [" + std::to_string(c) + "] " +
                    ad::dtype_name(input.dtype()) + ", one weight per class of the input " + desc(input));
  if (!(opt.label_smoothing >= 0.0 && opt.label_smoothing <= 1.0)) {
    std::ostringstream os;
    os << loss << ": label_smoothing must be in [0, 1], got " << opt.label_smoothing;
    throw ad::Error(os.str());
  }
}

}  // namespace

ad::Tensor nll_loss(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  return nll_loss(input, target, ClassLossOptions{.reduction = reduction});
}

ad::Tensor nll_loss(const ad::Tensor& input, const ad::Tensor& target, const ClassLossOptions& opt) {
  check_class_input(input, "nll_loss");
  check_defined(target, "nll_loss", "target");
  if (target.dtype() != ad::kInt64)
    throw ad::Error("nll_loss: the target must hold Int64 class indices, got " + desc(target) +
                    "; build it with ad::index_tensor, or use cross_entropy for one-hot/probability targets");
  check_indices(input, target, "nll_loss", opt.ignore_index);
  check_class_options(input, opt, "nll_loss");
  if (opt.label_smoothing != 0.0)
    throw ad::Error("nll_loss: label_smoothing applies to cross_entropy (nll_loss takes log-probabilities as given)");
  return class_loss(input, target, opt, "nll_loss");
}

ad::Tensor cross_entropy(const ad::Tensor& input, const ad::Tensor& target, Reduction reduction) {
  return cross_entropy(input, target, ClassLossOptions{.reduction = reduction});
}

ad::Tensor cross_entropy(const ad::Tensor& input, const ad::Tensor& target, const ClassLossOptions& opt) {
  check_class_input(input, "cross_entropy");
  check_defined(target, "cross_entropy", "target");
  check_class_options(input, opt, "cross_entropy");
  if (target.dtype() == ad::kInt64) {
    check_indices(input, target, "cross_entropy", opt.ignore_index);
    return class_loss(ad::log_softmax(input, -1), target, opt, "cross_entropy");
  }
  if (target.shape() != input.shape())
    throw ad::Error("cross_entropy: target " + desc(target) + " does not fit input " + desc(input) +
                    "; pass Int64 class indices of shape " +
                    ad::shape_str(input.dim() == 2 ? ad::Shape{input.size(0)} : ad::Shape{}) +
                    ", or one-hot/probability targets of the input's shape " + ad::shape_str(input.shape()));
  if (target.dtype() != input.dtype())
    throw ad::Error("cross_entropy: probability target " + desc(target) + " and input " + desc(input) +
                    " have different dtypes; convert the target with .to(ad::k" + ad::dtype_name(input.dtype()) + ")");
  // Per sample: -sum_c w_c y_c log_softmax(x)_c (log_softmax is finite at any finite logits);
  // smoothing mixes y with the uniform distribution. Mean averages over the samples.
  const double s = opt.label_smoothing;
  const ad::Tensor y = s > 0.0 ? target * (1.0 - s) + s / static_cast<double>(input.size(-1)) : target;
  ad::Tensor terms = y * ad::log_softmax(input, -1);
  if (opt.weight.defined()) terms = terms * opt.weight;
  return reduce(-ad::sum(terms, {input.dim() - 1}), opt.reduction);
}

}  // namespace ad::nn
