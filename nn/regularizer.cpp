#include "adgraph/nn/regularizer.h"

#include <string>

namespace ad::nn {

namespace {

template <class F>
ad::Tensor penalty(const std::vector<ad::Tensor>& params, const char* name, F term) {
  if (params.empty())
    throw ad::Error(std::string(name) +
                    ": no tensors given; pass the parameters to penalise, e.g. ad::nn::weights(model) or "
                    "model.parameters()");
  ad::Tensor total;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const ad::Tensor& p = params[i];
    if (!p.defined()) throw ad::Error(std::string(name) + ": tensor " + std::to_string(i) + " is undefined");
    if (!ad::is_floating(p.dtype()))
      throw ad::Error(std::string(name) + ": tensor " + std::to_string(i) + " is " + ad::dtype_name(p.dtype()) + " " +
                      ad::shape_str(p.shape()) + "; penalties apply to Float32/Float64 parameters");
    if (total.defined() && p.dtype() != total.dtype())
      throw ad::Error(std::string(name) + ": tensor " + std::to_string(i) + " is " + ad::dtype_name(p.dtype()) + " " +
                      ad::shape_str(p.shape()) + " but the earlier ones are " + ad::dtype_name(total.dtype()) +
                      "; use one dtype for the whole model");
    const ad::Tensor s = ad::sum(term(p));
    total = total.defined() ? total + s : s;
  }
  return total;
}

}  // namespace

ad::Tensor l1_penalty(const std::vector<ad::Tensor>& params) {
  return penalty(params, "l1_penalty", [](const ad::Tensor& w) { return ad::abs(w); });
}

ad::Tensor l2_penalty(const std::vector<ad::Tensor>& params) {
  return penalty(params, "l2_penalty", [](const ad::Tensor& w) { return w * w; });
}

std::vector<ad::Tensor> weights(const Module& m) {
  std::vector<ad::Tensor> out;
  for (const auto& [name, t] : m.named_parameters()) {
    const auto dot = name.rfind('.');
    if ((dot == std::string::npos ? name : name.substr(dot + 1)) == "weight") out.push_back(t);
  }
  return out;
}

}  // namespace ad::nn
