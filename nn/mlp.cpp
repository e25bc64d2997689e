#include "adgraph/nn/mlp.h"

namespace ad::nn {

namespace {
std::string sizes_str(const std::vector<std::int64_t>& s) {
  std::string out = "{";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "}";
}
}  // namespace

MLP::MLP(std::vector<std::int64_t> sizes, Activation hidden, Activation output, ad::Dtype dtype, ad::Generator* gen,
         double slope)
    : sizes_(std::move(sizes)) {
  if (sizes_.size() < 2)
    throw ad::Error(
        "MLP: sizes " + sizes_str(sizes_) +
        " needs at least an input and an output size, e.g. {2, 4, 1} for 2 inputs, 4 hidden units, 1 output");
  for (std::int64_t s : sizes_)
    if (s <= 0) throw ad::Error("MLP: every size must be positive, got " + sizes_str(sizes_));
  for (std::size_t i = 0; i + 1 < sizes_.size(); ++i) {
    auto lin = std::make_shared<Linear>(sizes_[i], sizes_[i + 1], true, dtype, gen);
    linears_.push_back(lin);
    push_back(lin);
    const bool last = i + 2 == sizes_.size();
    if (auto act = make_activation(last ? output : hidden, slope)) push_back(act);
  }
}

std::shared_ptr<Linear> MLP::linear(std::size_t i) const {
  if (i >= linears_.size())
    throw ad::Error("MLP::linear: index " + std::to_string(i) + " out of range for " + std::to_string(linears_.size()) +
                    " Linear layers");
  return linears_[i];
}

}  // namespace ad::nn
