// A BP (back-propagation) network on noisy two moons: ad::nn::MLP({2, h, 1}) with tanh hidden units
// and one output logit z, trained on the binary cross-entropy of sigma(z):
//   forward:  a1 = tanh(X W1^T + b1),  z = a1 W2^T + b2,  L = mean BCE(sigma(z), y)
//   backward: delta2 = dL/dz = (sigma(z) - y) / n,  dL/dW2 = delta2^T a1,
//             delta1 = (delta2 W2) * (1 - a1^2),     dL/dW1 = delta1^T X
// The engine derives these deltas from the recorded graph; nothing here writes them by hand.
// Hidden sizes 1, 2, 4, 10, 20, 50 side by side show how the boundary gains freedom with h.
// Any other layer structure can be given on the command line, e.g. 2,8,8,1 (tanh between layers).
// Each run shows a progress line on a terminal; the loss and training accuracy per epoch of all
// runs go to moons_history.csv / .png (moons_<layers>_history.* for a structure given).
//   usage: 05_bp_moons [output-dir] [layer sizes, e.g. 2,8,8,1]
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/optim/adam.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"

namespace {

const int kEpochs = 600;

struct Result {
  ad::report::History history;  // per epoch: "loss" and "train_acc", before that epoch's step
  double train_acc = 0, test_acc = 0;
  ad::plot::Field probability;
};

std::string sizes_str(const std::vector<std::int64_t>& sizes) {
  std::string s;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (i) s += '-';
    s += std::to_string(sizes[i]);
  }
  return s;
}

// Full-batch training with Adam; the same data and the same seed for every structure.
Result train(const std::vector<std::int64_t>& sizes, const ad::data::Split& s, const ad::plot::GridSpec& grid) {
  ad::Generator gen(7);
  ad::nn::MLP model(sizes, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &gen);
  ad::optim::Adam opt(model.parameters(), {.lr = 0.02});
  const ad::Tensor y_train = ad::data::float_labels(s.y_train), y_test = ad::data::float_labels(s.y_test);
  Result r;
  ad::report::Progress progress("layers " + sizes_str(sizes), kEpochs);
  for (int epoch = 0; epoch < kEpochs; ++epoch) {
    opt.zero_grad();
    const ad::Tensor logits = model(s.X_train);
    const ad::Tensor loss = ad::nn::binary_cross_entropy_with_logits(logits, y_train);
    loss.backward();
    opt.step();
    ad::NoGradGuard no_grad;
    const ad::report::Metrics metrics = {
        {"loss", loss.item()}, {"train_acc", ad::mean(ad::eq(logits > 0.0, y_train).to(ad::kFloat32)).item()}};
    r.history.record(epoch, metrics);
    progress.update(epoch + 1, metrics);
  }
  ad::NoGradGuard no_grad;
  r.train_acc = ad::mean(ad::eq(model(s.X_train) > 0.0, y_train).to(ad::kFloat32)).item();
  r.test_acc = ad::mean(ad::eq(model(s.X_test) > 0.0, y_test).to(ad::kFloat32)).item();
  r.probability = ad::plot::Field::evaluate(grid, [&](const ad::Tensor& pts) { return ad::sigmoid(model(pts)); });
  return r;
}

// "2,8,8,1" -> {2, 8, 8, 1}; throws unless it starts with 2 and ends with 1.
std::vector<std::int64_t> parse_sizes(const std::string& text) {
  std::vector<std::int64_t> sizes;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) sizes.push_back(std::stoll(item));
  if (sizes.size() < 2 || sizes.front() != 2 || sizes.back() != 1)
    throw ad::Error("layer sizes '" + text +
                    "' must start with 2 (the inputs) and end with 1 (the logit), e.g. 2,8,8,1");
  return sizes;
}

// <dir>/<stem>_history.csv and .png.
void save_history(const ad::report::History& history, const std::filesystem::path& dir, const std::string& stem,
                  const std::string& title) {
  const std::string path = (dir / (stem + "_history")).string();
  history.save(path, title);
  std::printf("history: %s.csv, %s.png\n", path.c_str(), path.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(dir);

    ad::Generator gen(3);
    const auto [X, y] = ad::data::make_moons(400, 0.2, gen);
    const ad::data::Split s = ad::data::train_test_split(X, y, 0.3, gen);
    const ad::plot::GridSpec grid = ad::plot::GridSpec::around(X, 0.4, 120, 100);
    std::printf("two moons: %lld training and %lld test points, noise 0.2\n", static_cast<long long>(s.X_train.size(0)),
                static_cast<long long>(s.X_test.size(0)));

    const std::vector<std::int64_t> hidden = {1, 2, 4, 10, 20, 50};
    std::vector<Result> results;
    ad::plot::Figure boundaries = ad::plot::Figure::subplots(2, 3, 360, 320);
    boundaries.suptitle("2-h-1 tanh networks on two moons (test points shown)");
    ad::plot::Figure curves;
    curves.title("training loss by hidden size").xlabel("epoch").ylabel("binary cross-entropy (log scale)").log_y();
    for (std::size_t i = 0; i < hidden.size(); ++i) {
      results.push_back(train({2, hidden[i], 1}, s, grid));
      const Result& r = results.back();
      std::printf("hidden %2lld: train accuracy %.3f, test accuracy %.3f, final loss %.4f\n",
                  static_cast<long long>(hidden[i]), r.train_acc, r.test_acc, r.history.last("loss"));
      char title[64];
      std::snprintf(title, sizeof title, "h = %lld: test acc %.2f", static_cast<long long>(hidden[i]), r.test_acc);
      boundaries.panel(static_cast<int>(i))
          .title(title)
          .xlabel("x1")
          .ylabel("x2")
          .decision_boundary(r.probability, s.X_test, s.y_test);
      curves.line(ad::plot::range(r.history.size()), r.history.values("loss"), "h = " + std::to_string(hidden[i]));
    }
    const std::string boundaries_png = (dir / "moons_boundaries.png").string();
    boundaries.save(boundaries_png);
    std::printf("picture: %s\n", boundaries_png.c_str());
    const std::string curves_png = (dir / "moons_losses.png").string();
    curves.save(curves_png);
    std::printf("picture: %s\n", curves_png.c_str());
    // Every run's columns side by side: loss_h1, train_acc_h1, loss_h2, ...
    std::vector<std::pair<std::string, std::vector<double>>> columns;
    for (std::size_t i = 0; i < hidden.size(); ++i)
      for (const std::string name : {"loss", "train_acc"})
        columns.emplace_back(name + "_h" + std::to_string(hidden[i]), results[i].history.values(name));
    ad::report::History all;
    for (std::size_t epoch = 0; epoch < static_cast<std::size_t>(kEpochs); ++epoch) {
      ad::report::Metrics row;
      for (const auto& [name, values] : columns) row.emplace_back(name, values[epoch]);
      all.record(static_cast<std::int64_t>(epoch), row);
    }
    save_history(all, dir, "moons", "2-h-1 tanh networks on two moons, by hidden size h");

    bool ok = true;
    if (argc > 2) {  // any layer structure
      const std::vector<std::int64_t> sizes = parse_sizes(argv[2]);
      const Result r = train(sizes, s, grid);
      std::printf("layers %s: train accuracy %.3f, test accuracy %.3f, final loss %.4f\n", sizes_str(sizes).c_str(),
                  r.train_acc, r.test_acc, r.history.last("loss"));
      char title[96];
      std::snprintf(title, sizeof title, "layers %s: test acc %.2f", sizes_str(sizes).c_str(), r.test_acc);
      ad::plot::Figure fig(520, 440);
      fig.title(title).xlabel("x1").ylabel("x2").decision_boundary(r.probability, s.X_test, s.y_test);
      const std::string png = (dir / ("moons_" + sizes_str(sizes) + ".png")).string();
      fig.save(png);
      std::printf("picture: %s\n", png.c_str());
      save_history(r.history, dir, "moons_" + sizes_str(sizes), "layers " + sizes_str(sizes) + " on two moons");
      ok &= r.history.last("loss") < r.history.values("loss").front();
    }

    // Measured: h = 1 reaches 0.81 test accuracy (one tanh unit: a straight boundary), h = 50 0.97.
    double best = 0;
    for (const Result& r : results) best = std::max(best, r.test_acc);
    const double acc1 = results.front().test_acc, acc50 = results.back().test_acc;
    const bool wide_ok = acc50 >= 0.9, narrow_worse = acc1 < best;
    std::printf("hidden 50 test accuracy %.3f >= 0.9: %s; hidden 1 (%.3f) worse than the best (%.3f): %s\n", acc50,
                wide_ok ? "yes" : "NO", acc1, best, narrow_worse ? "yes" : "NO");
    ok &= wide_ok && narrow_worse;
    std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "05_bp_moons failed: %s\n", e.what());
    return 1;
  }
}
