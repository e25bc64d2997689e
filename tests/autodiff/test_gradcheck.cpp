// The checker itself: it must catch wrong derivatives, not just pass right ones.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "adgraph/autodiff/autodiff.h"

namespace {

// square with a deliberately wrong backward: g*x instead of 2*g*x.
ad::Tensor bad_square(const ad::Tensor& x) {
  ad::Tensor out;
  {
    ad::NoGradGuard ng;
    out = x * x;
  }
  return ad::record("bad_square", out, {x}, [sx = ad::SavedTensor(x)](const ad::Tensor& g, const ad::Tensor&) {
    return ad::GradList{g * sx.get()};
  });
}

// exp whose backward returns all zeros.
ad::Tensor zero_grad_exp(const ad::Tensor& x) {
  ad::Tensor out;
  {
    ad::NoGradGuard ng;
    out = ad::exp(x);
  }
  return ad::record("zero_exp", out, {x},
                    [](const ad::Tensor& g, const ad::Tensor&) { return ad::GradList{ad::zeros_like(g)}; });
}

ad::Tensor input(std::uint64_t seed) {
  ad::Generator gen(seed);
  return ad::randn({2, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
}

TEST(Gradcheck, PassesOnACorrectDerivative) {
  const auto r = ad::gradcheck([](const std::vector<ad::Tensor>& in) { return in[0] * in[0]; }, {input(1)});
  EXPECT_TRUE(r.ok) << r.report;
}

TEST(Gradcheck, FailsOnAWrongDerivativeAndSaysWhere) {
  const auto r = ad::gradcheck([](const std::vector<ad::Tensor>& in) { return bad_square(in[0]); }, {input(2)});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("input 0"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("numeric"), std::string::npos) << r.report;
  EXPECT_NE(r.report.find("analytic"), std::string::npos) << r.report;
}

TEST(Gradcheck, AnAllZeroAnalyticGradientDoesNotPass) {
  const auto r = ad::gradcheck([](const std::vector<ad::Tensor>& in) { return zero_grad_exp(in[0]); }, {input(3)});
  EXPECT_FALSE(r.ok) << r.report;
}

TEST(Gradcheck, GradgradcheckCatchesAWrongSecondDerivative) {
  // First derivative right, second wrong: backward of bad_square is used inside the first
  // derivative of f(x) = bad_square(x) * 1 only through gradgradcheck of x*x whose backward
  // calls bad_square.
  auto f = [](const std::vector<ad::Tensor>& in) {
    ad::Tensor x = in[0];
    ad::Tensor out;
    {
      ad::NoGradGuard ng;
      out = ad::pow(x, 3.0);
    }
    // d x^3 = 3 g x^2, but written with bad_square, whose own derivative is wrong.
    return ad::record("cube", out, {x}, [sx = ad::SavedTensor(x)](const ad::Tensor& g, const ad::Tensor&) {
      return ad::GradList{3.0 * g * bad_square(sx.get())};
    });
  };
  EXPECT_TRUE(ad::gradcheck(f, {input(4)}).ok);
  const auto r = ad::gradgradcheck(f, {input(4)});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("second derivatives"), std::string::npos) << r.report;
}

TEST(Gradcheck, WarnsAboutFloat32Inputs) {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  ad::Tensor x = ad::tensor({0.5, 1.5}, ad::dtype(ad::kFloat32)).requires_grad_();
  (void)ad::gradcheck([](const std::vector<ad::Tensor>& in) { return ad::exp(in[0]); }, {x},
                      {.eps = 1e-3, .atol = 1e-2, .rtol = 1e-2});
  spdlog::set_default_logger(previous);
  EXPECT_NE(log.str().find("Float32"), std::string::npos) << log.str();
}

TEST(Gradcheck, LeavesTheCallersInputsUntouched) {
  ad::Tensor x = input(5);
  const auto before = x.to_vector();
  const auto version = x.version();
  (void)ad::gradcheck([](const std::vector<ad::Tensor>& in) { return ad::sin(in[0]); }, {x});
  EXPECT_EQ(x.to_vector(), before);
  EXPECT_EQ(x.version(), version);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Gradcheck, NeedsAnInputThatRequiresGrad) {
  const auto r = ad::gradcheck([](const std::vector<ad::Tensor>& in) { return in[0]; }, {ad::ones({2})});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("requires_grad"), std::string::npos);
}

}  // namespace
