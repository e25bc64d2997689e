#include "nn/linear.h"

#include <cmath>

namespace nn {

Linear::Linear(std::int64_t in, std::int64_t out, bool bias, ad::Dtype dtype, ad::Generator* gen) : has_bias_(bias) {
  if (in <= 0 || out <= 0)
    throw ad::Error("Linear: sizes must be positive, got in=" + std::to_string(in) + " out=" + std::to_string(out));
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  register_parameter("weight", ad::uniform({out, in}, -bound, bound, ad::dtype(dtype), gen));
  if (bias) register_parameter("bias", ad::uniform({out}, -bound, bound, ad::dtype(dtype), gen));
}

ad::Tensor Linear::forward(const ad::Tensor& x) const {
  if (x.dim() == 0 || x.size(-1) != weight().size(1))
    throw ad::Error("Linear: input of shape " + ad::shape_str(x.shape()) + " needs a last dim of " +
                    std::to_string(weight().size(1)) + " (the layer's in_features)");
  ad::Tensor y = x.dim() >= 2 ? ad::matmul_t(x, weight(), false, true) : ad::matmul(x, weight().t());
  return has_bias_ ? y + bias() : y;
}

}  // namespace nn
