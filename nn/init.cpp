#include "adgraph/nn/init.h"

#include <cmath>
#include <sstream>
#include <string>

namespace ad::nn::init {

namespace {

void check_tensor(const ad::Tensor& t, const char* fn) {
  if (!t.defined()) throw ad::Error(std::string("ad::nn::init::") + fn + ": undefined tensor");
  if (!ad::is_floating(t.dtype()))
    throw ad::Error(std::string("ad::nn::init::") + fn + ": needs a Float32/Float64 tensor, got " +
                    ad::dtype_name(t.dtype()) + " " + ad::shape_str(t.shape()));
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

ad::Tensor fill(ad::Tensor t, double v) {
  ad::NoGradGuard ng;
  t.fill_(v);
  return t;
}

ad::Tensor copy_in(ad::Tensor t, const ad::Tensor& values) {
  ad::NoGradGuard ng;
  t.copy_(values);
  return t;
}

double fan(const ad::Tensor& t, FanMode mode) {
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return static_cast<double>(mode == FanMode::FanIn ? in : out);
}

}  // namespace

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::SELU:
      return 0.75;
  }
  throw ad::Error("ad::nn::init::calculate_gain: unknown nonlinearity");
}

std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const ad::Tensor& t) {
  if (!t.defined() || t.dim() < 2)
    throw ad::Error("ad::nn::init: fan in and fan out need a tensor with at least 2 dims ([out, in, ...]), got " +
                    ad::shape_str(t.defined() ? t.shape() : ad::Shape{}) +
                    "; initialise biases with zeros_, constant_ or uniform_");
  if (t.numel() == 0)
    throw ad::Error("ad::nn::init: cannot compute fan in and fan out of the empty tensor " + ad::shape_str(t.shape()));
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < t.dim(); ++d) receptive *= t.size(d);
  return {t.size(1) * receptive, t.size(0) * receptive};
}

ad::Tensor zeros_(ad::Tensor t) {
  check_tensor(t, "zeros_");
  return fill(std::move(t), 0.0);
}

ad::Tensor ones_(ad::Tensor t) {
  check_tensor(t, "ones_");
  return fill(std::move(t), 1.0);
}

ad::Tensor constant_(ad::Tensor t, double value) {
  check_tensor(t, "constant_");
  return fill(std::move(t), value);
}

ad::Tensor uniform_(ad::Tensor t, ad::Generator& gen, double a, double b) {
  check_tensor(t, "uniform_");
  if (!(a <= b) || !std::isfinite(a) || !std::isfinite(b))
    throw ad::Error("ad::nn::init::uniform_: need finite a <= b, got a=" + num(a) + " b=" + num(b));
  if (a == b) return fill(std::move(t), a);
  return copy_in(t, ad::uniform(t.shape(), a, b, ad::dtype(t.dtype()), &gen));
}

ad::Tensor normal_(ad::Tensor t, ad::Generator& gen, double mean, double std) {
  check_tensor(t, "normal_");
  if (!(std >= 0.0) || !std::isfinite(std) || !std::isfinite(mean))
    throw ad::Error("ad::nn::init::normal_: need a finite mean and std >= 0, got mean=" + num(mean) +
                    " std=" + num(std));
  if (std == 0.0) return fill(std::move(t), mean);
  return copy_in(t, ad::normal(t.shape(), mean, std, ad::dtype(t.dtype()), &gen));
}

ad::Tensor xavier_uniform_(ad::Tensor t, ad::Generator& gen, double gain) {
  check_tensor(t, "xavier_uniform_");
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  const double bound = gain * std::sqrt(6.0 / static_cast<double>(in + out));
  return uniform_(std::move(t), gen, -bound, bound);
}

ad::Tensor xavier_normal_(ad::Tensor t, ad::Generator& gen, double gain) {
  check_tensor(t, "xavier_normal_");
  const auto [in, out] = calculate_fan_in_and_fan_out(t);
  return normal_(std::move(t), gen, 0.0, gain * std::sqrt(2.0 / static_cast<double>(in + out)));
}

ad::Tensor kaiming_uniform_(ad::Tensor t, ad::Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_tensor(t, "kaiming_uniform_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
  const double bound = std::sqrt(3.0) * std;
  return uniform_(std::move(t), gen, -bound, bound);
}

ad::Tensor kaiming_normal_(ad::Tensor t, ad::Generator& gen, double a, FanMode mode, Nonlinearity nonlinearity) {
  check_tensor(t, "kaiming_normal_");
  const double std = calculate_gain(nonlinearity, a) / std::sqrt(fan(t, mode));
  return normal_(std::move(t), gen, 0.0, std);
}

}  // namespace ad::nn::init
