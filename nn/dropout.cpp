#include "adgraph/nn/dropout.h"

#include <sstream>

namespace ad::nn {

Dropout::Dropout(double p, ad::Generator* gen) : p_(p), gen_(gen) {
  if (!(p >= 0.0 && p < 1.0)) {
    std::ostringstream os;
    os << "Dropout: p must be in [0, 1), got " << p << " (p is the probability of zeroing an element)";
    throw ad::Error(os.str());
  }
}

ad::Tensor Dropout::forward(const ad::Tensor& x) const {
  if (!x.defined()) throw ad::Error("Dropout: the input is an undefined tensor");
  if (!ad::is_floating(x.dtype()))
    throw ad::Error(std::string("Dropout: needs a floating input, got ") + ad::dtype_name(x.dtype()) + " " +
                    ad::shape_str(x.shape()));
  if (!is_training() || p_ == 0.0) return x;
  const double keep = 1.0 - p_;
  // Drawn and compared in Float64 whatever x's dtype: the same seed gives the same mask, and a
  // Float32 draw just below 1 cannot round up to 1.
  ad::Tensor scale;
  {
    ad::NoGradGuard ng;
    scale = ((ad::rand(x.shape(), ad::dtype(ad::kFloat64), gen_) < keep).to(ad::kFloat64) / keep).to(x.dtype());
  }
  return x * scale;
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p_;
  return os.str();
}

}  // namespace ad::nn
