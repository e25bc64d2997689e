#pragma once
#include <cstdint>
#include <random>

#include "adgraph/autodiff/tensor.h"

namespace ad {

// A seeded random source. Every random function takes one explicitly, or uses the
// thread's default generator (seeded by manual_seed) when none is given.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 5489u) : eng_(seed) {}
  void seed(std::uint64_t s) { eng_.seed(s); }
  std::mt19937_64& engine() { return eng_; }
  // The engine's whole state (Int64 [313]: the 312 words of the Mersenne twister, bit for bit,
  // then its position), for checkpoints: set_state(state()) continues the same sequence.
  // set_state checks the shape, dtype and position and throws ad::Error without changing anything.
  Tensor state() const;
  void set_state(const Tensor& state);
  static constexpr std::int64_t kStateSize = 313;
  double uniform(double lo = 0.0, double hi = 1.0);  // [lo, hi)
  double normal(double mean = 0.0, double std = 1.0);

 private:
  std::mt19937_64 eng_;
};

Generator& default_generator();  // thread-local
void manual_seed(std::uint64_t seed);

Tensor rand(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);   // U[0, 1)
Tensor randn(const Shape& shape, TensorOptions opt = {}, Generator* gen = nullptr);  // N(0, 1)
Tensor uniform(const Shape& shape, double lo, double hi, TensorOptions opt = {}, Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double std, TensorOptions opt = {}, Generator* gen = nullptr);
// Integers in [lo, hi) as Int64.
Tensor randint(std::int64_t lo, std::int64_t hi, const Shape& shape, Generator* gen = nullptr);
// A random permutation of 0..n-1 as Int64.
Tensor randperm(std::int64_t n, Generator* gen = nullptr);

}  // namespace ad
