#pragma once
// In-place parameter initialisation (torch.nn.init's names and formulas). Each writes into the
// given tensor under ad::NoGradGuard (so it works on parameters that require grad), bumps its
// version, and returns the same handle. Random ones draw from an explicit generator, passed
// right after the tensor, so the same seed gives the same values.
#include <cstdint>
#include <utility>

#include "adgraph/autodiff/autodiff.h"

namespace ad::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };

// The recommended gain for a nonlinearity: 1 (Linear, Sigmoid), 5/3 (Tanh), sqrt(2) (ReLU),
// sqrt(2 / (1 + slope^2)) (LeakyReLU, slope = `param`), 3/4 (SELU).
double calculate_gain(Nonlinearity nl, double param = 0.01);
// For a weight [out, in, k...] (PyTorch's layout): fan_in = in * prod(k), fan_out = out * prod(k).
// Needs at least 2 dims.
std::pair<std::int64_t, std::int64_t> calculate_fan_in_and_fan_out(const ad::Tensor& t);

ad::Tensor zeros_(ad::Tensor t);
ad::Tensor ones_(ad::Tensor t);
ad::Tensor constant_(ad::Tensor t, double value);
// U[a, b); a == b fills with a.
ad::Tensor uniform_(ad::Tensor t, ad::Generator& gen, double a = 0.0, double b = 1.0);
// N(mean, std^2); std == 0 fills with mean.
ad::Tensor normal_(ad::Tensor t, ad::Generator& gen, double mean = 0.0, double std = 1.0);
// Glorot: U(-bound, bound) with bound = gain sqrt(6 / (fan_in + fan_out)).
ad::Tensor xavier_uniform_(ad::Tensor t, ad::Generator& gen, double gain = 1.0);
// Glorot: N(0, std^2) with std = gain sqrt(2 / (fan_in + fan_out)).
ad::Tensor xavier_normal_(ad::Tensor t, ad::Generator& gen, double gain = 1.0);
// He: with fan = fan_in (or fan_out) and gain = calculate_gain(nonlinearity, a), std = gain / sqrt(fan).
// The defaults (a = 0, leaky_relu) give ReLU's gain sqrt(2): std = sqrt(2 / fan_in).
// kaiming_uniform_ draws U(-bound, bound) with bound = sqrt(3) std; kaiming_normal_ N(0, std^2).
ad::Tensor kaiming_uniform_(ad::Tensor t, ad::Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                            Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);
ad::Tensor kaiming_normal_(ad::Tensor t, ad::Generator& gen, double a = 0.0, FanMode mode = FanMode::FanIn,
                           Nonlinearity nonlinearity = Nonlinearity::LeakyReLU);

}  // namespace ad::nn::init
