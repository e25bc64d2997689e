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
  return ad::dropout(x, p_, is_training(), gen_);
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p_;
  return os.str();
}

}  // namespace ad::nn
