// The fused optimizer updates (fused_step.cpp, kernels/step.cpp) against the in-place ops they
// replace, bit for bit, on every instruction set the CPU has, in float32 and float64, on a size
// that runs in one piece and one that is split among threads (with a tail that is not a whole
// vector); and their refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/fused_step.h"
#include "adgraph/autodiff/kernels/simd.h"
#include "tests/test_util.h"

namespace {

using ad::Tensor;

std::vector<std::string> isas_here() {
  std::vector<std::string> out;
  for (const char* isa : {"AVX3", "AVX2", "SCALAR"}) {
    ad::kernels::limit_simd(isa);
    if (ad::simd_isa() == isa) out.push_back(isa);
  }
  const char* cap = std::getenv("ADGRAPH_MAX_ISA");
  ad::kernels::limit_simd(cap ? cap : "");
  return out;
}

Tensor copy(const Tensor& t) { return t.clone(); }

bool same_bits(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], sizeof(double)) != 0 && !(std::isnan(x[i]) && std::isnan(y[i]))) return false;
  return true;
}

struct Inputs {
  Tensor p, g;
  Inputs(std::int64_t n, ad::Dtype dt, int seed) {
    ad::Generator gen(static_cast<std::uint64_t>(seed));
    p = ad::randn({n}, ad::dtype(dt), &gen);
    g = ad::randn({n}, ad::dtype(dt), &gen);
  }
};

// What Adam::update does with in-place ops (optim/adam.cpp), for one step t.
void adam_ops(Tensor& p, const Tensor& grad, Tensor& m, Tensor& v, Tensor* vmax, const ad::AdamStep& s) {
  Tensor g = grad;
  if (s.weight_decay != 0.0) {
    if (s.decoupled_weight_decay)
      p.mul_(1.0 - s.lr * s.weight_decay);
    else
      g = grad + p * s.weight_decay;
  }
  m.lerp_(g, 1.0 - s.beta1);
  v.mul_(s.beta2).addcmul_(g, g, 1.0 - s.beta2);
  const auto t = static_cast<double>(s.step);
  const double bc1 = 1.0 - std::pow(s.beta1, t), bc2s = std::sqrt(1.0 - std::pow(s.beta2, t));
  const Tensor* second = &v;
  if (vmax) {
    vmax->copy_(ad::maximum(*vmax, v));
    second = vmax;
  }
  Tensor denom = ad::sqrt(*second);
  denom.mul_(1.0 / bc2s).add_(s.eps);
  p.addcdiv_(m, denom, -s.lr / bc1);
}

void sgd_ops(Tensor& p, const Tensor& grad, Tensor* b, bool first, const ad::SgdStep& s) {
  Tensor g = s.weight_decay != 0.0 ? grad + p * s.weight_decay : grad;
  if (b) {
    if (first)
      *b = g.clone();
    else
      b->mul_(s.momentum).add_(g, 1.0 - s.dampening);
    g = s.nesterov ? g + *b * s.momentum : *b;
  }
  p.sub_(g, s.lr);
}

void rmsprop_ops(Tensor& p, const Tensor& grad, Tensor& v, Tensor* m, Tensor* b, const ad::RmspropStep& s) {
  const Tensor g = s.weight_decay != 0.0 ? grad + p * s.weight_decay : grad;
  v.mul_(s.alpha).add_(g * g, 1.0 - s.alpha);
  Tensor d;
  if (m) {
    m->mul_(s.alpha).add_(g, 1.0 - s.alpha);
    d = ad::sqrt(v - *m * *m);
  } else {
    d = ad::sqrt(v);
  }
  d.add_(s.eps);
  if (b) {
    b->mul_(s.momentum).add_(g / d);
    p.sub_(*b, s.lr);
  } else {
    p.sub_(g / d, s.lr);
  }
}

template <class Body>
void for_every_case(Body body) {
  for (const std::string& isa : isas_here()) {
    ad::kernels::limit_simd(isa);
    for (ad::Dtype dt : {ad::kFloat32, ad::kFloat64})
      for (std::int64_t n : {std::int64_t{5}, std::int64_t{33'001}}) {  // the second is split among threads
        SCOPED_TRACE(isa + " " + ad::dtype_name(dt) + " n=" + std::to_string(n));
        body(dt, n);
      }
  }
  const char* cap = std::getenv("ADGRAPH_MAX_ISA");
  ad::kernels::limit_simd(cap ? cap : "");
}

TEST(FusedStep, AdamAndAdamWTakeTheStepsOfTheInPlaceOps) {
  ad::NoGradGuard no_grad;
  for (bool ams : {false, true})
    for (bool decoupled : {false, true})
      for (double wd : {0.0, 0.1})
        for_every_case([&](ad::Dtype dt, std::int64_t n) {
          Inputs in(n, dt, 1);
          Tensor p1 = copy(in.p), m1 = ad::zeros_like(in.p), v1 = ad::zeros_like(in.p), x1 = ad::zeros_like(in.p);
          Tensor p2 = copy(in.p), m2 = ad::zeros_like(in.p), v2 = ad::zeros_like(in.p), x2 = ad::zeros_like(in.p);
          for (std::int64_t t = 1; t <= 3; ++t) {
            const Tensor g = in.g * static_cast<double>(t) - in.p * 0.5;
            const ad::AdamStep s{.lr = 0.01, .weight_decay = wd, .decoupled_weight_decay = decoupled, .step = t};
            ad::adam_step_(p1, g, m1, v1, ams ? &x1 : nullptr, s);
            adam_ops(p2, g, m2, v2, ams ? &x2 : nullptr, s);
            ASSERT_TRUE(same_bits(p1, p2) && same_bits(m1, m2) && same_bits(v1, v2) && same_bits(x1, x2))
                << "step " << t << " amsgrad " << ams << " decoupled " << decoupled << " wd " << wd;
          }
          EXPECT_FALSE(same_bits(p1, in.p));
        });
}

TEST(FusedStep, SgdTakesTheStepsOfTheInPlaceOps) {
  ad::NoGradGuard no_grad;
  struct Opt {
    double momentum, dampening, wd;
    bool nesterov;
  };
  for (const Opt& o : {Opt{0, 0, 0, false}, Opt{0, 0, 0.01, false}, Opt{0.9, 0, 0, false}, Opt{0.5, 0.3, 0.01, false},
                       Opt{0.9, 0, 0.01, true}})
    for_every_case([&](ad::Dtype dt, std::int64_t n) {
      Inputs in(n, dt, 2);
      Tensor p1 = copy(in.p), p2 = copy(in.p), b1 = ad::zeros_like(in.p), b2;
      const bool mom = o.momentum != 0.0;
      for (int t = 1; t <= 3; ++t) {
        const Tensor g = in.g * static_cast<double>(t) - in.p * 0.5;
        const ad::SgdStep s{
            .lr = 0.05, .momentum = o.momentum, .dampening = o.dampening, .weight_decay = o.wd, .nesterov = o.nesterov};
        ad::sgd_step_(p1, g, mom ? &b1 : nullptr, t == 1, s);
        sgd_ops(p2, g, mom ? &b2 : nullptr, t == 1, s);
        ASSERT_TRUE(same_bits(p1, p2) && (!mom || same_bits(b1, b2))) << "step " << t << " momentum " << o.momentum;
      }
    });
}

TEST(FusedStep, RmspropTakesTheStepsOfTheInPlaceOps) {
  ad::NoGradGuard no_grad;
  for (bool centered : {false, true})
    for (double momentum : {0.0, 0.9})
      for (double wd : {0.0, 0.01})
        for_every_case([&](ad::Dtype dt, std::int64_t n) {
          Inputs in(n, dt, 3);
          Tensor p1 = copy(in.p), v1 = ad::zeros_like(in.p), m1 = ad::zeros_like(in.p), b1 = ad::zeros_like(in.p);
          Tensor p2 = copy(in.p), v2 = ad::zeros_like(in.p), m2 = ad::zeros_like(in.p), b2 = ad::zeros_like(in.p);
          for (int t = 1; t <= 3; ++t) {
            const Tensor g = in.g * static_cast<double>(t) - in.p * 0.5;
            const ad::RmspropStep s{.lr = 0.01, .weight_decay = wd, .momentum = momentum};
            ad::rmsprop_step_(p1, g, v1, centered ? &m1 : nullptr, momentum > 0 ? &b1 : nullptr, s);
            rmsprop_ops(p2, g, v2, centered ? &m2 : nullptr, momentum > 0 ? &b2 : nullptr, s);
            ASSERT_TRUE(same_bits(p1, p2) && same_bits(v1, v2) && same_bits(m1, m2) && same_bits(b1, b2))
                << "step " << t << " centered " << centered << " momentum " << momentum << " wd " << wd;
          }
        });
}

TEST(FusedStep, EachWriteBumpsTheVersionAndOneThreadGivesTheBitsOfTwo) {
  ad::NoGradGuard no_grad;
  const int before = ad::get_num_threads();
  Inputs in(200'001, ad::kFloat32, 4);
  Tensor results[2];
  for (int threads : {1, 2}) {
    ad::set_num_threads(threads);
    Tensor p = copy(in.p), m = ad::zeros_like(in.p), v = ad::zeros_like(in.p);
    const std::uint64_t pv = p.version(), mv = m.version(), vv = v.version();
    ad::adam_step_(p, in.g, m, v, nullptr, {});
    EXPECT_EQ(p.version(), pv + 1);
    EXPECT_EQ(m.version(), mv + 1);
    EXPECT_EQ(v.version(), vv + 1);
    results[threads - 1] = p;
  }
  ad::set_num_threads(before);
  EXPECT_TRUE(same_bits(results[0], results[1]));
}

TEST(FusedStep, SupportedOnlyForContiguousFloatingTensorsOfOneShapeAndDtype) {
  const Tensor p = ad::zeros({3, 2}), g = ad::zeros({3, 2});
  EXPECT_TRUE(ad::fused_step_supported({&p, &g}));
  const Tensor t = ad::zeros({2, 3}).t(), other = ad::zeros({6}), d = ad::zeros({3, 2}, ad::dtype(ad::kFloat64));
  const Tensor i = ad::zeros({3, 2}, ad::dtype(ad::kInt64));
  EXPECT_FALSE(ad::fused_step_supported({&p, &t}));
  EXPECT_FALSE(ad::fused_step_supported({&p, &other}));
  EXPECT_FALSE(ad::fused_step_supported({&p, &d}));
  EXPECT_FALSE(ad::fused_step_supported({&i, &i}));
}

}  // namespace
