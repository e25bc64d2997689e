// bench_tape: the scalar tape (ad::Var) on four workloads, beside ADOL-C (Debian's libadolc-dev,
// when installed) and a hand-coded floor (the same function and its gradient written out by hand
// in doubles). Each figure is ns per elementary op: (record + reverse sweep) / the number of
// elementary operations (+, -, *, /, exp, log, sin, relu, ...) the workload's source performs,
// best of several runs.
//   1. chain y = y * 1.000001 + 0.5, 10^6 steps from x = 0.5 (2 ops a step)
//   2. chain alternating y = sin(y) and y = y * 1.000001 + 0.5, 10^6 steps from x = 0.5
//   3. logistic loss sum_i log(1 + exp(-y_i (w . x_i + b))) over 1000 fixed points, 10 features
//   4. micrograd's demo net: MLP 2-16-16-1 with ReLU hidden units, max-margin loss
//      relu(1 - y * score) averaged over 100 points, plus 1e-4 times the sum of squares of its 337
//      parameters
// Every run checks its gradient against the hand-coded one (relative error printed).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "adgraph/autodiff/scalar.h"
#ifdef AD_HAVE_ADOLC
#include <adolc/adolc.h>
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kRate = 1.000001, kShift = 0.5, kX0 = 0.5;
constexpr int kChainSteps = 1'000'000;
constexpr int kPoints = 1000, kFeatures = 10;
constexpr int kNetPoints = 100, kHidden = 16;

// ---- the workloads, written once for Var, ADOL-C's adouble and double (the value the floor
// differentiates by hand)

using std::exp;
using std::log;
using std::sin;

double relu_of(double x) { return x > 0 ? x : 0.0; }
ad::Var relu_of(const ad::Var& x) { return ad::relu(x); }
#ifdef AD_HAVE_ADOLC
adouble relu_of(const adouble& x) { return fmax(x, 0.0); }
#endif

template <class S>
S chain1(const S& x) {
  S y = x;
  for (int i = 0; i < kChainSteps; ++i) y = y * kRate + kShift;
  return y;
}

template <class S>
S chain2(const S& x) {
  S y = x;
  for (int i = 0; i < kChainSteps; ++i) {
    if (i % 2 == 0)
      y = sin(y);
    else
      y = y * kRate + kShift;
  }
  return y;
}

struct Data {
  std::vector<double> x, y;  // logistic: [kPoints][kFeatures], labels +-1
  std::vector<double> nx, ny;  // net: [kNetPoints][2], labels +-1
  Data() {
    std::mt19937_64 gen(7);
    std::normal_distribution<double> n(0.0, 1.0);
    for (int i = 0; i < kPoints * kFeatures; ++i) x.push_back(n(gen));
    for (int i = 0; i < kPoints; ++i) y.push_back(n(gen) > 0 ? 1.0 : -1.0);
    for (int i = 0; i < kNetPoints; ++i) {  // two interleaved half moons, as micrograd's make_moons
      const double t = 3.14159265358979 * (i % 50) / 49.0;
      const bool upper = i < 50;
      nx.push_back((upper ? std::cos(t) : 1.0 - std::cos(t)) + 0.1 * n(gen));
      nx.push_back((upper ? std::sin(t) : 0.5 - std::sin(t)) + 0.1 * n(gen));
      ny.push_back(upper ? 1.0 : -1.0);
    }
  }
};
const Data& data() {
  static const Data d;
  return d;
}

template <class S>
S logistic(const std::vector<S>& p) {  // p = w[0..9], b
  const Data& d = data();
  S loss = 0.0;
  for (int i = 0; i < kPoints; ++i) {
    S z = p[kFeatures];
    for (int k = 0; k < kFeatures; ++k) z += p[k] * d.x[i * kFeatures + k];
    loss += log(1.0 + exp(-d.y[i] * z));
  }
  return loss;
}
constexpr double kLogisticOps = kPoints * (2.0 * kFeatures + 6);  // dot and bias, * y, -, exp, +, log, sum

constexpr int kNetParams = 2 * kHidden + kHidden + kHidden * kHidden + kHidden + kHidden + 1;
static_assert(kNetParams == 337);

// p: layer 1 weights [16][2] and biases, layer 2 [16][16] and biases, output [16] and bias.
template <class S>
S net_loss(const std::vector<S>& p) {
  const Data& d = data();
  const S* w1 = p.data();
  const S* b1 = w1 + 2 * kHidden;
  const S* w2 = b1 + kHidden;
  const S* b2 = w2 + kHidden * kHidden;
  const S* w3 = b2 + kHidden;
  const S* b3 = w3 + kHidden;
  S total = 0.0;
  std::vector<S> h1(kHidden), h2(kHidden);
  for (int i = 0; i < kNetPoints; ++i) {
    const double x0 = d.nx[2 * i], x1 = d.nx[2 * i + 1];
    for (int j = 0; j < kHidden; ++j) h1[j] = relu_of(w1[2 * j] * x0 + w1[2 * j + 1] * x1 + b1[j]);
    for (int j = 0; j < kHidden; ++j) {
      S a = b2[j];
      for (int k = 0; k < kHidden; ++k) a += w2[j * kHidden + k] * h1[k];
      h2[j] = relu_of(a);
    }
    S score = *b3;
    for (int k = 0; k < kHidden; ++k) score += w3[k] * h2[k];
    total += relu_of(1.0 - d.ny[i] * score);
  }
  S reg = 0.0;
  for (int k = 0; k < kNetParams; ++k) reg += p[k] * p[k];
  return total / static_cast<double>(kNetPoints) + 1e-4 * reg;
}
// per point: layer 1 16 * (2 mul, 2 add, relu), layer 2 16 * (16 mul, 16 add, relu), output 16 mul +
// 16 add, loss mul, sub, relu, add; then the mean, the 337 squares and sums, the 1e-4 *, the +
constexpr double kNetOps = kNetPoints * (16 * 5 + 16 * 33 + 32 + 4) + 1 + 2 * kNetParams + 2;

std::vector<double> initial_params(int n, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> p(static_cast<std::size_t>(n));
  for (double& v : p) v = u(gen);
  return p;
}

// ---- the hand-coded floor: forward in doubles, then the gradient by hand

std::vector<double> hand_chain1() {
  double y = kX0, g = 1.0;
  for (int i = 0; i < kChainSteps; ++i) y = y * kRate + kShift;
  for (int i = 0; i < kChainSteps; ++i) g *= kRate;
  return {y, g};
}

std::vector<double> hand_chain2() {
  std::vector<double> ys(kChainSteps);
  double y = kX0;
  for (int i = 0; i < kChainSteps; ++i) {
    ys[i] = y;
    y = i % 2 == 0 ? std::sin(y) : y * kRate + kShift;
  }
  double g = 1.0;
  for (int i = kChainSteps - 1; i >= 0; --i) g *= i % 2 == 0 ? std::cos(ys[i]) : kRate;
  return {y, g};
}

std::vector<double> hand_logistic(const std::vector<double>& p) {
  const Data& d = data();
  std::vector<double> out(kFeatures + 2, 0.0);  // loss, then the gradient
  for (int i = 0; i < kPoints; ++i) {
    double z = p[kFeatures];
    for (int k = 0; k < kFeatures; ++k) z += p[k] * d.x[i * kFeatures + k];
    const double e = std::exp(-d.y[i] * z);
    out[0] += std::log(1.0 + e);
    const double dz = -d.y[i] * e / (1.0 + e);
    for (int k = 0; k < kFeatures; ++k) out[1 + k] += dz * d.x[i * kFeatures + k];
    out[1 + kFeatures] += dz;
  }
  return out;
}

std::vector<double> hand_net(const std::vector<double>& p) {
  const Data& d = data();
  const double *w1 = p.data(), *b1 = w1 + 2 * kHidden, *w2 = b1 + kHidden, *b2 = w2 + kHidden * kHidden,
               *w3 = b2 + kHidden, *b3 = w3 + kHidden;
  std::vector<double> grad(kNetParams, 0.0);
  double *gw1 = grad.data(), *gb1 = gw1 + 2 * kHidden, *gw2 = gb1 + kHidden, *gb2 = gw2 + kHidden * kHidden,
         *gw3 = gb2 + kHidden, *gb3 = gw3 + kHidden;
  double total = 0;
  double h1[kHidden], h2[kHidden], a1[kHidden], a2[kHidden];
  for (int i = 0; i < kNetPoints; ++i) {
    const double x0 = d.nx[2 * i], x1 = d.nx[2 * i + 1];
    for (int j = 0; j < kHidden; ++j) {
      a1[j] = w1[2 * j] * x0 + w1[2 * j + 1] * x1 + b1[j];
      h1[j] = relu_of(a1[j]);
    }
    for (int j = 0; j < kHidden; ++j) {
      a2[j] = b2[j];
      for (int k = 0; k < kHidden; ++k) a2[j] += w2[j * kHidden + k] * h1[k];
      h2[j] = relu_of(a2[j]);
    }
    double score = *b3;
    for (int k = 0; k < kHidden; ++k) score += w3[k] * h2[k];
    const double margin = 1.0 - d.ny[i] * score;
    total += relu_of(margin);
    if (margin <= 0) continue;
    const double ds = -d.ny[i] / kNetPoints;
    double dh2[kHidden], dh1[kHidden] = {};
    *gb3 += ds;
    for (int k = 0; k < kHidden; ++k) {
      gw3[k] += ds * h2[k];
      dh2[k] = a2[k] > 0 ? ds * w3[k] : 0.0;
    }
    for (int j = 0; j < kHidden; ++j) {
      gb2[j] += dh2[j];
      for (int k = 0; k < kHidden; ++k) {
        gw2[j * kHidden + k] += dh2[j] * h1[k];
        dh1[k] += dh2[j] * w2[j * kHidden + k];
      }
    }
    for (int j = 0; j < kHidden; ++j) {
      const double da = a1[j] > 0 ? dh1[j] : 0.0;
      gb1[j] += da;
      gw1[2 * j] += da * x0;
      gw1[2 * j + 1] += da * x1;
    }
  }
  double reg = 0;
  for (int k = 0; k < kNetParams; ++k) {
    reg += p[k] * p[k];
    grad[k] += 2e-4 * p[k];
  }
  grad.insert(grad.begin(), total / kNetPoints + 1e-4 * reg);
  return grad;
}

// ---- ours and ADOL-C: the value, then the gradient w.r.t. the inputs

std::vector<double> var_run(const std::vector<double>& x0, const std::function<ad::Var(const std::vector<ad::Var>&)>& f) {
  ad::ScalarTapeScope scope;
  std::vector<ad::Var> x(x0.begin(), x0.end());
  const ad::Var y = f(x);
  y.backward();
  std::vector<double> out{y.value()};
  for (const ad::Var& v : x) out.push_back(v.grad());
  return out;
}

#ifdef AD_HAVE_ADOLC
std::vector<double> adolc_run(const std::vector<double>& x0,
                              const std::function<adouble(const std::vector<adouble>&)>& f, std::size_t ops) {
  constexpr short kTag = 3;
  const auto buffer = static_cast<std::size_t>(8 * ops + 4096);
  trace_on(kTag, 1, buffer, buffer, buffer, buffer);
  std::vector<adouble> x(x0.size());
  for (std::size_t i = 0; i < x0.size(); ++i) x[i] <<= x0[i];
  adouble y = f(x);
  double value = 0;
  y >>= value;
  trace_off();
  std::vector<double> out{value};
  out.resize(1 + x0.size());
  double seed = 1.0;
  fos_reverse(kTag, 1, static_cast<int>(x0.size()), &seed, out.data() + 1);
  return out;
}
#endif

double max_rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]) / std::max(1e-300, std::abs(b[i])));
  return e;
}

template <class F>
double best_ms(int reps, F f) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    const Clock::time_point t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

void row(const char* name, double ops, int reps, const std::vector<double>& x0,
         const std::function<ad::Var(const std::vector<ad::Var>&)>& var_f,
#ifdef AD_HAVE_ADOLC
         const std::function<adouble(const std::vector<adouble>&)>& adolc_f,
#endif
         const std::function<std::vector<double>()>& hand) {
  const std::vector<double> want = hand();
  std::vector<double> ours;
  const double ms_ours = best_ms(reps, [&] { ours = var_run(x0, var_f); });
  const double ms_hand = best_ms(reps, [&] { (void)hand(); });
  const double ns = 1e6 / ops;
  std::printf("%-26s %9.0f  %7.2f", name, ops, ms_ours * ns);
#ifdef AD_HAVE_ADOLC
  std::vector<double> theirs;
  const double ms_adolc = best_ms(reps, [&] { theirs = adolc_run(x0, adolc_f, static_cast<std::size_t>(ops)); });
  std::printf("  %7.2f", ms_adolc * ns);
#else
  std::printf("  %7s", "-");
#endif
  std::printf("  %7.2f   %.1e", ms_hand * ns, max_rel_err(ours, want));
#ifdef AD_HAVE_ADOLC
  std::printf(" / %.1e", max_rel_err(theirs, want));
#endif
  std::printf("\n");
}

}  // namespace

int main() {
  std::printf("bench_tape: ns per elementary op (record + reverse), best of several runs\n");
  std::printf("%-26s %9s  %7s  %7s  %7s   %s\n", "workload", "ops", "ad::Var", "ADOL-C", "by hand",
              "grad rel. err vs by hand (ours / ADOL-C)");
  const std::vector<double> p_log = initial_params(kFeatures + 1, 1), p_net = initial_params(kNetParams, 2);
  row("chain y*1.000001+0.5", 2.0 * kChainSteps, 5, {kX0},
      [](const std::vector<ad::Var>& x) { return chain1(x[0]); },
#ifdef AD_HAVE_ADOLC
      [](const std::vector<adouble>& x) { return chain1(x[0]); },
#endif
      hand_chain1);
  row("chain sin / mul-add", 1.5 * kChainSteps, 5, {kX0},
      [](const std::vector<ad::Var>& x) { return chain2(x[0]); },
#ifdef AD_HAVE_ADOLC
      [](const std::vector<adouble>& x) { return chain2(x[0]); },
#endif
      hand_chain2);
  row("logistic 1000x10", kLogisticOps, 200, p_log, [](const std::vector<ad::Var>& p) { return logistic(p); },
#ifdef AD_HAVE_ADOLC
      [](const std::vector<adouble>& p) { return logistic(p); },
#endif
      [&] { return hand_logistic(p_log); });
  row("MLP 2-16-16-1, 100 points", kNetOps, 200, p_net, [](const std::vector<ad::Var>& p) { return net_loss(p); },
#ifdef AD_HAVE_ADOLC
      [](const std::vector<adouble>& p) { return net_loss(p); },
#endif
      [&] { return hand_net(p_net); });
#ifndef AD_HAVE_ADOLC
  std::printf("  ADOL-C not installed (apt-get install libadolc-dev): its column is skipped\n");
#endif
  std::printf(
      "  CoDiPack (not buildable here; the issue's figures on a Xeon): 3.5 / 7.7 / 3.3 / 2.9 ns per op\n");
  return 0;
}
