// Loss terms whose PyTorch definitions clamp in a way a composition cannot reproduce: the
// clamped log of binary_cross_entropy has gradient 0 where the clamp is active, but PyTorch's
// rule divides by max(p (1 - p), 1e-12) instead, so a saturated wrong prediction still learns.
#include <limits>

#include "adgraph/autodiff/ops/common.h"

namespace ad {

// l = -(y max(log p, -100) + (1 - y) max(log(1 - p), -100))
// dl/dp = (p - y) / max(p (1 - p), 1e-12);  dl/dy = max(log(1 - p), -100) - max(log p, -100)
Tensor binary_cross_entropy_terms(const Tensor& p, const Tensor& y) {
  if (!p.defined() || !y.defined() || !is_floating(p.dtype()) || p.dtype() != y.dtype())
    throw Error("binary_cross_entropy: probabilities and targets must be floating tensors of one dtype, got " +
                (p.defined() ? std::string(dtype_name(p.dtype())) : "undefined") + " and " +
                (y.defined() ? std::string(dtype_name(y.dtype())) : "undefined"));
  constexpr double kFloor = -100.0, kEps = 1e-12, kInf = std::numeric_limits<double>::infinity();
  Tensor out;
  {
    NoGradGuard ng;
    out = -(y * clamp(log(p), kFloor, kInf) + (1.0 - y) * clamp(log(1.0 - p), kFloor, kInf));
  }
  const bool gy = y.requires_grad();
  return record("binary_cross_entropy", out, {p, y},
                [sp = SavedTensor(p), sy = SavedTensor(y), gy](const Tensor& g, const Tensor&) {
                  const Tensor &pv = sp.get(), &yv = sy.get();
                  Tensor dp = mul_grad(g, (pv - yv) / clamp(pv * (1.0 - pv), kEps, kInf));
                  Tensor dy;
                  if (gy) dy = mul_grad(g, clamp(log(1.0 - pv), kFloor, kInf) - clamp(log(pv), kFloor, kInf));
                  return GradList{std::move(dp), std::move(dy)};
                });
}

}  // namespace ad
