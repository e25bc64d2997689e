#include "adgraph/optim/clip_grad.h"

#include <cmath>
#include <sstream>

namespace ad::optim {
namespace {
std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}
}  // namespace

double clip_grad_norm_(const std::vector<ad::Tensor>& params, double max_norm, const ClipGradNormOptions& opt) {
  if (!(max_norm >= 0.0)) throw ad::Error("clip_grad_norm_: max_norm must be >= 0, got " + num(max_norm));
  const double p = opt.norm_type;
  if (!(p > 0.0)) throw ad::Error("clip_grad_norm_: norm_type must be > 0 (or INFINITY), got " + num(p));
  ad::NoGradGuard ng;
  // sum of |g|^p (or the max |g|) over every gradient, each gradient's norm taken in Float64
  double acc = 0.0;
  for (const ad::Tensor& t : params) {
    const ad::Tensor g = t.grad();
    if (!g.defined()) continue;
    const double n = ad::norm(g.to(ad::kFloat64), p).item();
    acc = std::isinf(p) ? std::max(acc, n) : acc + std::pow(n, p);
    if (std::isnan(n)) acc = n;
  }
  const double total = std::isinf(p) ? acc : std::pow(acc, 1.0 / p);
  if (opt.error_if_nonfinite && !std::isfinite(total))
    throw ad::Error("clip_grad_norm_: the total norm of the gradients is " + num(total) + " (order " + num(p) +
                    "), so they cannot be clipped; nothing was changed. Look for NaN or Inf "
                    "in the loss, or set error_if_nonfinite = false");
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0)
    for (const ad::Tensor& t : params)
      if (ad::Tensor g = t.grad(); g.defined()) g.mul_(coef);
  return total;
}

void clip_grad_value_(const std::vector<ad::Tensor>& params, double clip_value) {
  if (!(clip_value >= 0.0)) throw ad::Error("clip_grad_value_: clip_value must be >= 0, got " + num(clip_value));
  ad::NoGradGuard ng;
  for (const ad::Tensor& t : params)
    if (ad::Tensor g = t.grad(); g.defined()) g.copy_(ad::clamp(g, -clip_value, clip_value));
}

}  // namespace ad::optim
