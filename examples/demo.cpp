// The main demo: a small graph with its value and gradients, gradcheck, the graph as DOT/SVG,
// the scalar fast path, logistic regression, a small network on two moons and a digit classifier,
// all trained with gradients from the engine. The examples 01-07 show each step at length.
//   usage: demo [output-dir]   (default: out)
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/sgd.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"

namespace {

void section(const char* title) { std::printf("\n== %s ==\n", title); }

void computation_graph(const std::filesystem::path& out_dir) {
  section("1. A computation graph: J = 3(a + b*c) at a=5, b=3, c=2");
  ad::DrawGuard draw;  // keep the values and labels the picture shows
  ad::Tensor a = ad::scalar_tensor(5).requires_grad_().set_label("a");
  ad::Tensor b = ad::scalar_tensor(3).requires_grad_().set_label("b");
  ad::Tensor c = ad::scalar_tensor(2).requires_grad_().set_label("c");
  ad::Tensor u = b * c;
  ad::Tensor v = a + u;
  ad::Tensor J = 3.0 * v;
  u.retain_grad();
  v.retain_grad();
  J.backward();
  std::printf("J = %g   (u = bc = %g, v = a + u = %g)\n", J.item(), u.item(), v.item());
  std::printf("dJ/da = %g, dJ/db = %g, dJ/dc = %g   (by hand: 3, 3c = 6, 3b = 9)\n", a.grad().item(), b.grad().item(),
              c.grad().item());

  const std::string dot = (out_dir / "computation_graph.dot").string();
  ad::write_dot(dot, J, {.title = "J = 3(a + b*c)"});
  std::printf("graph written to %s\n", dot.c_str());
  const std::string svg = (out_dir / "computation_graph.svg").string();
  if (ad::render_svg(dot, svg))
    std::printf("rendered to %s\n", svg.c_str());
  else
    std::printf("(install graphviz to render it: apt-get install graphviz)\n");
}

void verify_derivatives() {
  section("2. Verifying derivatives: gradcheck against central differences (float64)");
  ad::Generator gen(42);
  ad::Tensor x = ad::randn({4, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  ad::Tensor w = ad::randn({3, 2}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  auto f = [](const std::vector<ad::Tensor>& in) { return ad::log_softmax(ad::tanh(ad::matmul(in[0], in[1])), 1); };
  std::cout << "f(x, W) = log_softmax(tanh(x @ W)) =\n" << f({x, w}) << "\n";
  const auto first = ad::gradcheck(f, {x, w});
  const auto second = ad::gradgradcheck(f, {x, w});
  std::printf("%s\n%s\n", first.report.c_str(), second.report.c_str());
}

void scalar_fast_path() {
  section("3. The scalar fast path (a tape of Var)");
  ad::ScalarTapeScope scope;
  ad::Var x = 1.5, y = 0.5;
  ad::Var f = ad::sin(x) * y + ad::exp(x * y);
  f.backward();
  std::printf("f = sin(x) y + exp(xy) = %.6f at x=1.5, y=0.5\n", f.value());
  std::printf("df/dx = %.6f (cos(x) y + y exp(xy)),  df/dy = %.6f (sin(x) + x exp(xy))\n", x.grad(), y.grad());
}

void train_logistic_regression(const std::filesystem::path& out_dir) {
  section("4. Logistic regression trained by gradient descent");
  // Two Gaussian blobs: class 1 around (+1.5, +1.5), class 0 around (-1.5, -1.5).
  ad::Generator gen(7);
  const std::int64_t n = 200;
  ad::Tensor labels =
      ad::cat({ad::ones({n / 2, 1}, ad::dtype(ad::kFloat64)), ad::zeros({n / 2, 1}, ad::dtype(ad::kFloat64))});
  ad::Tensor centers = (labels * 2.0 - 1.0) * 1.5;
  ad::Tensor x = ad::randn({n, 2}, ad::dtype(ad::kFloat64), &gen) + centers;

  ad::nn::Linear model(2, 1, true, ad::kFloat64, &gen);
  ad::optim::SGD opt(model.parameters(), {.lr = 0.5});
  for (int epoch = 0; epoch <= 100; ++epoch) {
    opt.zero_grad();
    const ad::Tensor p = ad::sigmoid(model.forward(x));
    const ad::Tensor loss = -ad::mean(labels * ad::log(p) + (1.0 - labels) * ad::log(1.0 - p));
    loss.backward();
    opt.step();
    if (epoch % 25 == 0) std::printf("epoch %3d  loss %.4f\n", epoch, loss.item());
  }
  ad::NoGradGuard no_grad;
  const ad::Tensor predicted = ad::sigmoid(model.forward(x)) > 0.5;
  const double accuracy = ad::mean(ad::eq(predicted, labels).to(ad::kFloat32)).item();
  std::printf("accuracy %.2f on %lld points\n", accuracy, static_cast<long long>(n));

  ad::plot::Figure fig(560, 460);
  fig.title("logistic regression: P(class 1), boundary p = 0.5")
      .xlabel("x1")
      .ylabel("x2")
      .decision_boundary(
          ad::plot::Field::evaluate(ad::plot::GridSpec::around(x, 0.5),
                                    [&](const ad::Tensor& pts) { return ad::sigmoid(model.forward(pts)); }),
          x, labels);
  const std::string png = (out_dir / "logistic_regression.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
}

void train_moons_network(const std::filesystem::path& out_dir) {
  section("5. A small neural network on two moons (2-16-1, tanh, Adam)");
  ad::Generator gen(3);
  const auto [X, y] = ad::data::make_moons(400, 0.2, gen);
  const ad::data::Split s = ad::data::train_test_split(X, y, 0.3, gen);
  const ad::Tensor y_train = ad::data::float_labels(s.y_train), y_test = ad::data::float_labels(s.y_test);
  ad::nn::MLP model({2, 16, 1}, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &gen);
  ad::optim::Adam opt(model.parameters(), {.lr = 0.02});
  for (int epoch = 0; epoch <= 400; ++epoch) {
    opt.zero_grad();
    const ad::Tensor loss = ad::nn::binary_cross_entropy_with_logits(model(s.X_train), y_train);
    loss.backward();
    opt.step();
    if (epoch % 100 == 0) std::printf("epoch %3d  loss %.4f\n", epoch, loss.item());
  }
  ad::NoGradGuard no_grad;
  const double test_acc = ad::mean(ad::eq(model(s.X_test) > 0.0, y_test).to(ad::kFloat32)).item();
  std::printf("moons: test accuracy %.3f on %lld held-out points\n", test_acc,
              static_cast<long long>(s.X_test.size(0)));
  const ad::plot::Field p = ad::plot::Field::evaluate(ad::plot::GridSpec::around(X, 0.4),
                                                      [&](const ad::Tensor& pts) { return ad::sigmoid(model(pts)); });
  ad::plot::Figure fig(560, 460);
  fig.title("2-16-1 network: decision boundary on two moons").xlabel("x1").ylabel("x2").decision_boundary(p, X, y);
  const std::string png = (out_dir / "moons_boundary.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
}

void train_digits(const std::filesystem::path& out_dir) {
  section("6. Handwritten digits: MLP 64-64-10, ReLU, cross-entropy, Adam, mini-batches");
  auto [X, y] = ad::data::load_csv_dataset(ad::data::project_file("digits.csv"));
  ad::Generator gen(1);
  ad::data::Split s = ad::data::train_test_split(X.to(ad::kFloat32), y, 0.2, gen);
  ad::data::standardize(s);
  ad::nn::MLP model({64, 64, 10}, ad::nn::Activation::ReLU, ad::nn::Activation::None, ad::kFloat32, &gen);
  ad::optim::Adam opt(model.parameters(), {.lr = 3e-3});
  ad::data::DataLoader loader(s.X_train, s.y_train, 32, /*shuffle=*/true, &gen);
  auto accuracy = [&](const ad::Tensor& features, const ad::Tensor& labels) {
    ad::NoGradGuard no_grad;
    const std::vector<double> pred = ad::argmax(model(features), 1).to_vector(), truth = labels.to_vector();
    std::size_t right = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) right += pred[i] == truth[i];
    return static_cast<double>(right) / static_cast<double>(pred.size());
  };
  // On a terminal, a progress line with the ETA; the history goes to CSV and PNG either way.
  const int epochs = 8;
  ad::report::Progress progress("digits", epochs);
  ad::report::History history;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    double total = 0;
    for (auto [xb, yb] : loader) {
      opt.zero_grad();
      const ad::Tensor loss = ad::nn::cross_entropy(model(xb), yb);
      loss.backward();
      opt.step();
      total += loss.item() * static_cast<double>(xb.size(0));
    }
    const ad::report::Metrics metrics = {{"loss", total / static_cast<double>(s.X_train.size(0))},
                                         {"test_acc", accuracy(s.X_test, s.y_test)}};
    history.record(epoch, metrics);
    progress.update(epoch, metrics);
  }
  const std::vector<double> losses = history.values("loss");
  std::printf("loss %.4f after epoch 1, %.4f after epoch %d\n", losses.front(), losses.back(), epochs);
  history.save((out_dir / "digits_history").string(), "demo: digits, MLP 64-64-10");
  std::printf("history: %s/digits_history.csv, picture: %s/digits_history.png\n", out_dir.string().c_str(),
              out_dir.string().c_str());
  std::printf("digits: test accuracy %.3f on %lld held-out images\n", accuracy(s.X_test, s.y_test),
              static_cast<long long>(s.X_test.size(0)));
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path out_dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(out_dir);
    computation_graph(out_dir);
    verify_derivatives();
    scalar_fast_path();
    train_logistic_regression(out_dir);
    train_moons_network(out_dir);
    train_digits(out_dir);
    std::printf("\nDone. Pictures and graphs are in %s/\n", out_dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "demo failed: %s\n", e.what());
    return 1;
  }
}
