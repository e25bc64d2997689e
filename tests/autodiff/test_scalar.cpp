// ad::Var, the scalar tape: values and gradients of every op, chain rule, sharing, long chains, stale
// Vars and per-thread tapes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adgraph/autodiff/scalar.h"

namespace {

using ad::Var;

// Every test records on a fresh tape and leaves it empty behind.
class ScalarTest : public ::testing::Test {
 protected:
  void SetUp() override { ad::ScalarTape::release_memory(); }
  void TearDown() override { ad::ScalarTape::release_memory(); }
};

// Central difference of a function of one double.
double central_diff(const std::function<double(double)>& f, double x, double h = 1e-6) {
  return (f(x + h) - f(x - h)) / (2 * h);
}

struct UnaryCase {
  std::string name;
  std::function<Var(const Var&)> op;
  std::function<double(double)> value;
  std::function<double(double)> derivative;  // by hand
  std::vector<double> points;
};

double sigmoid_ref(double x) { return 1.0 / (1.0 + std::exp(-x)); }

std::vector<UnaryCase> unary_cases() {
  return {
      {"exp",
       [](const Var& x) { return ad::exp(x); },
       [](double x) { return std::exp(x); },
       [](double x) { return std::exp(x); },
       {-2.0, 0.0, 0.7, 3.0}},
      {"log",
       [](const Var& x) { return ad::log(x); },
       [](double x) { return std::log(x); },
       [](double x) { return 1.0 / x; },
       {0.1, 1.0, 2.5, 40.0}},
      {"sqrt",
       [](const Var& x) { return ad::sqrt(x); },
       [](double x) { return std::sqrt(x); },
       [](double x) { return 0.5 / std::sqrt(x); },
       {0.04, 1.0, 9.0}},
      {"sin",
       [](const Var& x) { return ad::sin(x); },
       [](double x) { return std::sin(x); },
       [](double x) { return std::cos(x); },
       {-1.0, 0.0, 0.5, 2.0}},
      {"cos",
       [](const Var& x) { return ad::cos(x); },
       [](double x) { return std::cos(x); },
       [](double x) { return -std::sin(x); },
       {-1.0, 0.0, 0.5, 2.0}},
      {"tanh",
       [](const Var& x) { return ad::tanh(x); },
       [](double x) { return std::tanh(x); },
       [](double x) { return 1.0 - std::tanh(x) * std::tanh(x); },
       {-3.0, -0.2, 0.0, 1.5}},
      {"sigmoid",
       [](const Var& x) { return ad::sigmoid(x); },
       sigmoid_ref,
       [](double x) { return sigmoid_ref(x) * (1.0 - sigmoid_ref(x)); },
       {-4.0, -0.5, 0.0, 2.0}},
      {"relu",
       [](const Var& x) { return ad::relu(x); },
       [](double x) { return x > 0 ? x : 0.0; },
       [](double x) { return x > 0 ? 1.0 : 0.0; },
       {-2.0, -0.1, 0.3, 5.0}},
      {"abs",
       [](const Var& x) { return ad::abs(x); },
       [](double x) { return std::fabs(x); },
       [](double x) { return x > 0 ? 1.0 : -1.0; },
       {-2.0, -0.1, 0.3, 5.0}},
      {"neg", [](const Var& x) { return -x; }, [](double x) { return -x; }, [](double) { return -1.0; }, {-1.0, 2.0}},
      {"pow(x, 3)",
       [](const Var& x) { return ad::pow(x, 3.0); },
       [](double x) { return x * x * x; },
       [](double x) { return 3 * x * x; },
       {-1.5, 0.5, 2.0}},
      {"pow(x, 0.5)",
       [](const Var& x) { return ad::pow(x, 0.5); },
       [](double x) { return std::sqrt(x); },
       [](double x) { return 0.5 / std::sqrt(x); },
       {0.25, 4.0}},
      {"pow(2, x)",
       [](const Var& x) { return ad::pow(2.0, x); },
       [](double x) { return std::pow(2.0, x); },
       [](double x) { return std::pow(2.0, x) * std::log(2.0); },
       {-1.0, 0.0, 3.0}},
      {"x + 2",
       [](const Var& x) { return x + 2.0; },
       [](double x) { return x + 2; },
       [](double) { return 1.0; },
       {1.0}},
      {"2 + x",
       [](const Var& x) { return 2.0 + x; },
       [](double x) { return 2 + x; },
       [](double) { return 1.0; },
       {1.0}},
      {"x - 2",
       [](const Var& x) { return x - 2.0; },
       [](double x) { return x - 2; },
       [](double) { return 1.0; },
       {1.0}},
      {"2 - x",
       [](const Var& x) { return 2.0 - x; },
       [](double x) { return 2 - x; },
       [](double) { return -1.0; },
       {1.0}},
      {"x * 3",
       [](const Var& x) { return x * 3.0; },
       [](double x) { return x * 3; },
       [](double) { return 3.0; },
       {1.0}},
      {"3 * x",
       [](const Var& x) { return 3.0 * x; },
       [](double x) { return 3 * x; },
       [](double) { return 3.0; },
       {1.0}},
      {"x / 4",
       [](const Var& x) { return x / 4.0; },
       [](double x) { return x / 4; },
       [](double) { return 0.25; },
       {1.0}},
      {"4 / x",
       [](const Var& x) { return 4.0 / x; },
       [](double x) { return 4 / x; },
       [](double x) { return -4 / (x * x); },
       {0.5, -2.0}},
  };
}

TEST_F(ScalarTest, UnaryOpsMatchHandFormulasAndCentralDifferences) {
  for (const UnaryCase& c : unary_cases()) {
    for (double x0 : c.points) {
      SCOPED_TRACE(c.name + " at x = " + std::to_string(x0));
      ad::ScalarTapeScope scope;
      Var x = x0;
      Var y = c.op(x);
      y.backward();
      EXPECT_DOUBLE_EQ(y.value(), c.value(x0));
      EXPECT_NEAR(x.grad(), c.derivative(x0), 1e-12 * (1 + std::fabs(c.derivative(x0))));
      EXPECT_NEAR(x.grad(), central_diff(c.value, x0), 1e-6 * (1 + std::fabs(x.grad())));
    }
  }
}

struct BinaryCase {
  std::string name;
  std::function<Var(const Var&, const Var&)> op;
  std::function<double(double, double)> value;
  std::function<double(double, double)> dx;  // by hand
  std::function<double(double, double)> dy;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"x + y", [](const Var& x, const Var& y) { return x + y; }, [](double x, double y) { return x + y; },
       [](double, double) { return 1.0; }, [](double, double) { return 1.0; }},
      {"x - y", [](const Var& x, const Var& y) { return x - y; }, [](double x, double y) { return x - y; },
       [](double, double) { return 1.0; }, [](double, double) { return -1.0; }},
      {"x * y", [](const Var& x, const Var& y) { return x * y; }, [](double x, double y) { return x * y; },
       [](double, double y) { return y; }, [](double x, double) { return x; }},
      {"x / y", [](const Var& x, const Var& y) { return x / y; }, [](double x, double y) { return x / y; },
       [](double, double y) { return 1.0 / y; }, [](double x, double y) { return -x / (y * y); }},
      {"pow(x, y)", [](const Var& x, const Var& y) { return ad::pow(x, y); },
       [](double x, double y) { return std::pow(x, y); }, [](double x, double y) { return y * std::pow(x, y - 1); },
       [](double x, double y) { return std::pow(x, y) * std::log(x); }},
  };
}

TEST_F(ScalarTest, BinaryOpsMatchHandFormulasAndCentralDifferences) {
  const std::vector<std::pair<double, double>> points = {{1.5, 2.0}, {0.3, -1.2}, {4.0, 0.5}};
  for (const BinaryCase& c : binary_cases()) {
    for (const auto& point : points) {
      const double x0 = point.first, y0 = point.second;  // named, not bound: clang 14 captures no bindings
      SCOPED_TRACE(c.name + " at (" + std::to_string(x0) + ", " + std::to_string(y0) + ")");
      ad::ScalarTapeScope scope;
      Var x = x0;
      Var y = y0;
      Var z = c.op(x, y);
      z.backward();
      EXPECT_DOUBLE_EQ(z.value(), c.value(x0, y0));
      EXPECT_NEAR(x.grad(), c.dx(x0, y0), 1e-12 * (1 + std::fabs(c.dx(x0, y0))));
      EXPECT_NEAR(y.grad(), c.dy(x0, y0), 1e-12 * (1 + std::fabs(c.dy(x0, y0))));
      const double fdx = central_diff([&](double t) { return c.value(t, y0); }, x0);
      const double fdy = central_diff([&](double t) { return c.value(x0, t); }, y0);
      EXPECT_NEAR(x.grad(), fdx, 1e-6 * (1 + std::fabs(fdx)));
      EXPECT_NEAR(y.grad(), fdy, 1e-6 * (1 + std::fabs(fdy)));
    }
  }
}

TEST_F(ScalarTest, GradientsAtKinksAreZero) {
  Var x = 0.0;
  Var r = ad::relu(x);
  r.backward();
  EXPECT_EQ(r.value(), 0.0);
  EXPECT_EQ(x.grad(), 0.0);

  Var a = ad::abs(x);
  a.backward();
  EXPECT_EQ(a.value(), 0.0);
  EXPECT_EQ(x.grad(), 0.0);
}

TEST_F(ScalarTest, StepIsPiecewiseConstantWithZeroGradient) {
  for (double x0 : {-1.0, 0.0, 2.0}) {
    Var x = x0;
    Var s = ad::step(x);
    s.backward();
    EXPECT_EQ(s.value(), x0 > 0 ? 1.0 : 0.0);
    EXPECT_EQ(x.grad(), 0.0);
  }
}

TEST_F(ScalarTest, PowAtZeroBaseHasFiniteExponentGradient) {
  Var x = 0.0;
  Var y = 2.0;
  Var z = ad::pow(x, y);
  z.backward();
  EXPECT_EQ(z.value(), 0.0);
  EXPECT_EQ(x.grad(), 0.0);  // 2 * 0^1
  EXPECT_EQ(y.grad(), 0.0);  // 0^y log 0 taken as 0
}

TEST_F(ScalarTest, CompoundAssignment) {
  Var x = 2.0;
  Var y = 5.0;
  Var z = x;
  z += y;    // x + y
  z *= x;    // (x + y) x
  z -= 1.0;  // (x + y) x - 1
  z /= y;    // ((x + y) x - 1) / y
  z += 3.0;
  z *= 2.0;
  z -= y;
  z /= 4.0;  // (2 (((x + y) x - 1) / y + 3) - y) / 4
  z.backward();
  const double f = (2 * (((2.0 + 5.0) * 2.0 - 1) / 5.0 + 3) - 5.0) / 4;
  EXPECT_DOUBLE_EQ(z.value(), f);
  EXPECT_DOUBLE_EQ(x.grad(), 2 * (2 * 2.0 + 5.0) / 5.0 / 4);            // d/dx: 2 (2x + y) / y / 4
  EXPECT_DOUBLE_EQ(y.grad(), (2 * (2.0 / 5.0 - 13.0 / 25.0) - 1) / 4);  // d/dy: (2 (x/y - (x^2 - 1)/y^2) - 1) / 4
}

TEST_F(ScalarTest, LinearCombination) {
  // J = 3(a + b c)
  Var a = 5.0;
  Var b = 3.0;
  Var c = 2.0;
  Var j = 3.0 * (a + b * c);
  j.backward();
  EXPECT_EQ(j.value(), 33.0);
  EXPECT_EQ(a.grad(), 3.0);
  EXPECT_EQ(b.grad(), 6.0);
  EXPECT_EQ(c.grad(), 9.0);
}

TEST_F(ScalarTest, ChainRule) {
  // f = (3x^2 + 2)^4, f' = 4 (3x^2 + 2)^3 6x
  const double x0 = 1.5;
  Var x = x0;
  Var f = ad::pow(3.0 * x * x + 2.0, 4.0);
  f.backward();
  const double inner = 3 * x0 * x0 + 2;
  EXPECT_DOUBLE_EQ(f.value(), std::pow(inner, 4));
  EXPECT_NEAR(x.grad(), 4 * std::pow(inner, 3) * 6 * x0, 1e-12 * std::pow(inner, 3) * 24 * x0);
}

TEST_F(ScalarTest, FanOutAccumulates) {
  Var a = 1.0;
  Var b = a + a;
  Var c = b + b;
  c.backward();
  EXPECT_EQ(c.value(), 4.0);
  EXPECT_EQ(a.grad(), 4.0);
  EXPECT_EQ(b.grad(), 2.0);
}

TEST_F(ScalarTest, Diamond) {
  // a -> (b = sin a, c = a^2) -> d = b c: dd/da = cos(a) a^2 + sin(a) 2a
  const double a0 = 0.8;
  Var a = a0;
  Var b = ad::sin(a);
  Var c = a * a;
  Var d = b * c;
  d.backward();
  EXPECT_DOUBLE_EQ(d.value(), std::sin(a0) * a0 * a0);
  EXPECT_NEAR(a.grad(), std::cos(a0) * a0 * a0 + std::sin(a0) * 2 * a0, 1e-14);
  EXPECT_DOUBLE_EQ(b.grad(), a0 * a0);
  EXPECT_DOUBLE_EQ(c.grad(), std::sin(a0));
}

TEST_F(ScalarTest, RepeatedDoublingIsLinearTime) {
  Var x = 1.0;
  Var y = x;
  for (int i = 0; i < 30; ++i) y = y + y;
  EXPECT_EQ(ad::ScalarTape::size(), 31u);
  y.backward();
  EXPECT_EQ(y.value(), std::ldexp(1.0, 30));
  EXPECT_EQ(x.grad(), std::ldexp(1.0, 30));
}

TEST_F(ScalarTest, MillionStepChain) {
  const int n = 1'000'000;
  Var x = 1.0;
  Var y = x;
  for (int i = 0; i < n; ++i) y = y * 1.000001 + 0.0;
  EXPECT_EQ(ad::ScalarTape::size(), 1u * n + 1);  // one statement per assignment, not one per operator
  y.backward();
  const double expected = std::pow(1.000001, n);
  EXPECT_NEAR(x.grad(), expected, 1e-9 * expected);
  EXPECT_NEAR(y.value(), expected, 1e-9 * expected);
  // per statement: its argument (partial 8 bytes, index 4, padded to 16), its count (4) and its
  // adjoint (8)
  EXPECT_GE(ad::ScalarTape::bytes(), 28u * ad::ScalarTape::size());
  EXPECT_LT(ad::ScalarTape::bytes(), 36u * ad::ScalarTape::size());
}

// An expression is recorded as one statement when it is assigned: the partials of every Var it
// reads, multiplied out along the expression.
TEST_F(ScalarTest, AnAssignmentIsOneStatement) {
  Var x = 0.7, y = 1.3;
  const std::size_t before = ad::ScalarTape::size();
  Var f = ad::sin(x) * y + ad::exp(x / y) - 2.0 * x * x;
  EXPECT_EQ(ad::ScalarTape::size(), before + 1);
  f.backward();
  const double x0 = 0.7, y0 = 1.3;
  EXPECT_NEAR(f.value(), std::sin(x0) * y0 + std::exp(x0 / y0) - 2 * x0 * x0, 1e-15);
  EXPECT_NEAR(x.grad(), std::cos(x0) * y0 + std::exp(x0 / y0) / y0 - 4 * x0, 1e-14);
  EXPECT_NEAR(y.grad(), std::sin(x0) - std::exp(x0 / y0) * x0 / (y0 * y0), 1e-14);
}

// An expression keeps copies of the Vars it reads: it may be stored with auto and assigned later,
// once or twice (each assignment is its own statement).
TEST_F(ScalarTest, AStoredExpressionIsRecordedWhereItIsAssigned) {
  Var x = 3.0;
  const auto e = x * x + 1.0;
  Var a = e, b = e;
  EXPECT_EQ(a.value(), 10.0);
  EXPECT_NE(a.index(), b.index());
  Var f = a * b;
  f.backward();
  EXPECT_EQ(x.grad(), 2 * 10.0 * 6.0);
}

// Inside one expression as on the tape, a zero weight stops the chain rule: 0 * sqrt(x) at x = 0
// has derivative 0, not 0 * inf = NaN.
TEST_F(ScalarTest, AZeroWeightInsideAnExpressionStopsThere) {
  Var x = 0.0;
  Var y = 0.0 * ad::sqrt(x) + 3.0 * x;
  y.backward();
  EXPECT_EQ(x.grad(), 3.0);
}

TEST_F(ScalarTest, BackwardComputesFreshGradients) {
  Var x = 3.0;
  Var y = x * x;
  y.backward();
  y.backward();
  EXPECT_EQ(x.grad(), 6.0);  // not 12: backward does not accumulate

  Var z = 5.0 * x;  // a second output on the same tape
  z.backward();
  EXPECT_EQ(x.grad(), 5.0);
  EXPECT_EQ(z.grad(), 1.0);
  EXPECT_EQ(y.grad(), 0.0);  // y is not on z's path
}

TEST_F(ScalarTest, UnreachedNodesDoNotPoisonGradients) {
  Var x = 0.0;
  Var unused = ad::sqrt(x);  // infinite partial, but not on the path to y
  Var y = 2.0 * x;
  y.backward();
  EXPECT_EQ(unused.value(), 0.0);
  EXPECT_EQ(x.grad(), 2.0);
}

TEST_F(ScalarTest, GradBeforeBackwardIsZero) {
  Var x = 1.0;
  Var y = x * 2.0;
  EXPECT_EQ(x.grad(), 0.0);
  EXPECT_EQ(y.grad(), 0.0);
}

TEST_F(ScalarTest, StaleVarThrows) {
  Var x;
  {
    ad::ScalarTapeScope scope;
    x = Var(2.0);
    Var y = x * x;
    y.backward();
    EXPECT_EQ(x.grad(), 4.0);
  }
  EXPECT_EQ(ad::ScalarTape::size(), 0u);
  EXPECT_EQ(x.value(), 2.0);  // the value stays readable
  try {
    (void)x.grad();
    FAIL() << "expected ad::Error";
  } catch (const ad::Error& e) {
    EXPECT_NE(std::string(e.what()).find("ScalarTapeScope"), std::string::npos) << e.what();
  }
  EXPECT_THROW(x.backward(), ad::Error);
  EXPECT_THROW((void)(x * 2.0), ad::Error);
  EXPECT_THROW((void)(x + Var(1.0)), ad::Error);
  EXPECT_THROW((void)ad::exp(x), ad::Error);
}

TEST_F(ScalarTest, ResetKeepsMemoryAndReleaseFreesIt) {
  Var y = 1.0;
  for (int i = 0; i < 300'000; ++i) y = y + 1.0;
  const std::size_t big = ad::ScalarTape::bytes();
  EXPECT_GE(big, 20u * 300'000);  // y + 1.0: one argument
  ad::ScalarTape::reset();
  EXPECT_EQ(ad::ScalarTape::size(), 0u);
  EXPECT_EQ(ad::ScalarTape::bytes(), big);  // kept for the next recording
  Var z = 2.0;
  Var w = z * z;
  w.backward();
  EXPECT_EQ(z.grad(), 4.0);

  ad::ScalarTape::release_memory();
  EXPECT_EQ(ad::ScalarTape::size(), 0u);
  EXPECT_LT(ad::ScalarTape::bytes(), big);
  EXPECT_THROW((void)z.grad(), ad::Error);
  Var u = 3.0;
  Var v = u * u;
  v.backward();
  EXPECT_EQ(u.grad(), 6.0);
  EXPECT_EQ(ad::ScalarTape::size(), 2u);
}

TEST_F(ScalarTest, Printing) {
  Var x = 3.5;
  Var y = x * 1.0;
  y.backward();
  std::ostringstream os;
  os << x;
  EXPECT_EQ(os.str(), "Var(3.5, grad=1)");
}

TEST_F(ScalarTest, VarIsSixteenBytes) { EXPECT_EQ(sizeof(Var), 16u); }

// A small function with every kind of op; returns (f, df/dx, df/dy) on the calling thread's tape.
std::vector<double> evaluate_on_own_tape(double x0, double y0, int repeats) {
  std::vector<double> out;
  for (int r = 0; r < repeats; ++r) {
    ad::ScalarTapeScope scope;
    Var x = x0 + r;
    Var y = y0;
    Var f = ad::tanh(x * y) + ad::exp(ad::sin(x)) / (1.0 + y * y) + ad::pow(ad::sigmoid(y), x);
    for (int i = 0; i < 1000; ++i) f = f * 0.999 + ad::sqrt(ad::abs(x) + 1.0);
    f.backward();
    out.insert(out.end(), {f.value(), x.grad(), y.grad()});
  }
  return out;
}

TEST_F(ScalarTest, EachThreadHasItsOwnTape) {
  const std::vector<double> serial_a = evaluate_on_own_tape(0.3, 1.7, 50);
  const std::vector<double> serial_b = evaluate_on_own_tape(-1.1, 0.4, 50);
  std::vector<double> par_a;
  std::vector<double> par_b;
  std::thread ta([&] { par_a = evaluate_on_own_tape(0.3, 1.7, 50); });
  std::thread tb([&] { par_b = evaluate_on_own_tape(-1.1, 0.4, 50); });
  ta.join();
  tb.join();
  EXPECT_EQ(par_a, serial_a);
  EXPECT_EQ(par_b, serial_b);
}

TEST_F(ScalarTest, VarFromAnotherThreadIsRejected) {
  Var x = 1.0;
  bool threw = false;
  std::thread t([&] {
    try {
      (void)(x * 2.0);
    } catch (const ad::Error&) {
      threw = true;
    }
  });
  t.join();
  EXPECT_TRUE(threw);
}

}  // namespace
