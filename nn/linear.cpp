#include "adgraph/nn/linear.h"

#include <cmath>

namespace ad::nn {

Linear::Linear(std::int64_t in, std::int64_t out, bool bias, ad::Dtype dtype, ad::Generator* gen) : has_bias_(bias) {
  if (in <= 0 || out <= 0)
    throw ad::Error("Linear: sizes must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  if (!ad::is_floating(dtype))
    throw ad::Error(std::string("Linear: parameters need a floating dtype, got ") + ad::dtype_name(dtype) +
                    "; use ad::kFloat32 or ad::kFloat64");
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  register_parameter("weight", ad::uniform({out, in}, -bound, bound, ad::dtype(dtype), gen));
  if (bias) register_parameter("bias", ad::uniform({out}, -bound, bound, ad::dtype(dtype), gen));
}

ad::Tensor Linear::forward(const ad::Tensor& x) const {
  const ad::Tensor& w = weight();
  if (!x.defined()) throw ad::Error("Linear: the input is an undefined tensor");
  if (x.dim() == 0 || x.size(-1) != w.size(1))
    throw ad::Error("Linear: input of shape " + ad::shape_str(x.shape()) + " needs a last dim of " +
                    std::to_string(w.size(1)) + " (the layer's in_features)");
  if (x.dtype() != w.dtype())
    throw ad::Error(std::string("Linear: input dtype ") + ad::dtype_name(x.dtype()) + " " + ad::shape_str(x.shape()) +
                    " does not match the layer's " + ad::dtype_name(w.dtype()) + "; convert the input with .to(" +
                    "ad::k" + ad::dtype_name(w.dtype()) + ") or build the layer with that dtype");
  // x @ W^T with W read transposed in place by BLAS; a 1-D input is a single row.
  ad::Tensor y =
      x.dim() >= 2 ? ad::matmul_t(x, w, false, true) : ad::matmul_t(x.unsqueeze(0), w, false, true).squeeze(0);
  return has_bias_ ? y + bias() : y;
}

std::string Linear::extra_repr() const {
  return "in_features=" + std::to_string(in_features()) + ", out_features=" + std::to_string(out_features()) +
         ", bias=" + (has_bias_ ? "true" : "false");
}

}  // namespace ad::nn
