// The classic 2-2-2 backpropagation worked example: inputs 0.05, 0.10; targets 0.01, 0.99;
// weights w1..w8 = 0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55; biases 0.35 (hidden) and
// 0.60 (output); sigmoid everywhere; squared error E = sum 1/2 (target - out)^2; one gradient
// step with learning rate 0.5 (biases held fixed, as in the original). Every derivative comes
// from the engine; the program checks the published figures and exits non-zero on a mismatch.
#include <cmath>
#include <cstdio>

#include "adgraph/autodiff/autodiff.h"

namespace {

bool check(const char* what, double got, double want, double tol = 1e-8) {
  const bool ok = std::abs(got - want) <= tol;
  std::printf("  %-8s = %.9f   (worked example: %.9f)%s\n", what, got, want, ok ? "" : "   <-- MISMATCH");
  return ok;
}

}  // namespace

int main() {
  const ad::TensorOptions f64 = ad::dtype(ad::kFloat64);
  const ad::Tensor x = ad::tensor({0.05, 0.10}, f64).set_label("x");
  const ad::Tensor target = ad::tensor({0.01, 0.99}, f64).set_label("target");
  // Rows are the receiving units: h1 = w1 i1 + w2 i2 + b1, h2 = w3 i1 + w4 i2 + b1.
  ad::Tensor w_hidden = ad::tensor({0.15, 0.20, 0.25, 0.30}, {2, 2}, f64).requires_grad_().set_label("W1");
  ad::Tensor w_out = ad::tensor({0.40, 0.45, 0.50, 0.55}, {2, 2}, f64).requires_grad_().set_label("W2");
  const ad::Tensor b_hidden = ad::scalar_tensor(0.35).set_label("b1");
  const ad::Tensor b_out = ad::scalar_tensor(0.60).set_label("b2");

  const ad::Tensor hidden = ad::sigmoid(ad::matmul(w_hidden, x) + b_hidden);
  const ad::Tensor out = ad::sigmoid(ad::matmul(w_out, hidden) + b_out);
  const ad::Tensor error = (ad::pow(target - out, 2.0) * 0.5).sum();
  error.backward();

  bool ok = true;
  std::printf("forward pass\n");
  ok &= check("out_h1", hidden.at({0}), 0.593269992);
  ok &= check("out_h2", hidden.at({1}), 0.596884378);
  ok &= check("out_o1", out.at({0}), 0.751365070);
  ok &= check("out_o2", out.at({1}), 0.772928465);
  ok &= check("E_total", error.item(), 0.298371109);
  std::printf("gradients from the engine\n");
  ok &= check("dE/dw5", w_out.grad().at({0, 0}), 0.082167041);
  ok &= check("dE/dw1", w_hidden.grad().at({0, 0}), 0.000438568);

  {
    ad::NoGradGuard no_grad;  // the gradient step: w -= 0.5 * dE/dw
    w_hidden.sub_(w_hidden.grad(), 0.5);
    w_out.sub_(w_out.grad(), 0.5);
  }
  std::printf("weights after one step (learning rate 0.5)\n");
  const char* names[] = {"w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8"};
  const double expected[] = {0.149780716, 0.19956143,  0.24975114,  0.29950229,
                             0.35891648,  0.408666186, 0.511301270, 0.561370121};
  const auto wh = w_hidden.to_vector(), wo = w_out.to_vector();
  for (int i = 0; i < 8; ++i) ok &= check(names[i], i < 4 ? wh[i] : wo[i - 4], expected[i]);

  std::printf(ok ? "all values match the worked example\n" : "MISMATCH with the worked example\n");
  return ok ? 0 : 1;
}
