// Optimizers, learning-rate schedules, batch sizes and early stopping on one problem: a 2-16-1
// tanh network on two moons, binary cross-entropy, mini-batches from ad::data::DataLoader. Every
// optimizer starts from the same initial weights and sees the same batches. The update rules
// (g = dL/dp from the engine, all operations elementwise):
//   SGD       p -= lr g
//   Momentum  b = mu b + g;  p -= lr b                      Nesterov: p -= lr (g + mu b)
//   AdaGrad   s += g^2;  p -= lr g / (sqrt(s) + eps)
//   RMSProp   v = a v + (1 - a) g^2;  p -= lr g / (sqrt(v) + eps)
//   AdaDelta  v = r v + (1 - r) g^2;  d = sqrt(u + eps) / sqrt(v + eps) g;  u = r u + (1 - r) d^2;  p -= lr d
//   Adam      m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  p -= lr m^ / (sqrt(v^) + eps),
//             m^ = m / (1 - b1^t), v^ = v / (1 - b2^t);   AdamW also p *= 1 - lr wd (decoupled decay)
// Schedules (t = epoch): exponential lr0 gamma^t; piecewise constant; polynomial
// (lr0 - lr_end)(1 - t/T)^p + lr_end, with cycle T -> T ceil(t/T); cosine lr_min + (lr0 - lr_min)(1 + cos(pi t/T))/2.
// Early stopping: stop once the validation loss has not improved for `patience` epochs.
// Each training run shows a progress line on a terminal; the losses per epoch are also written
// as optimizers_history, gd_variants_history and early_stopping_history (.csv and .png).
//   usage: 06_optimizers [output-dir]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/mlp.h"
#include "adgraph/optim/optim.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"

namespace {

using OptimizerFactory = std::function<std::unique_ptr<ad::optim::Optimizer>(std::vector<ad::Tensor>)>;

struct Problem {
  ad::Tensor X_train, y_train, X_val, y_val;  // y as float columns [n, 1]
};

Problem make_problem(std::int64_t n, double noise, std::uint64_t seed) {
  ad::Generator gen(seed);
  const auto [X, y] = ad::data::make_moons(n, noise, gen);
  const ad::data::Split s = ad::data::train_test_split(X, y, 0.3, gen);
  return {s.X_train, ad::data::float_labels(s.y_train), s.X_test, ad::data::float_labels(s.y_test)};
}

double full_loss(ad::nn::MLP& model, const ad::Tensor& X, const ad::Tensor& y) {
  ad::NoGradGuard no_grad;
  return ad::nn::binary_cross_entropy_with_logits(model(X), y).item();
}

// Trains a fresh network (init seed 1, batch order seed 2: the same for every call) and returns
// the training-set loss before training (epoch 0) and after each epoch (1..epochs).
std::vector<double> train(const std::string& label, const Problem& p, const std::vector<std::int64_t>& sizes,
                          const OptimizerFactory& make, std::int64_t batch_size, int epochs) {
  ad::Generator init(1), order(2);
  ad::nn::MLP model(sizes, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &init);
  const std::unique_ptr<ad::optim::Optimizer> opt = make(model.parameters());
  ad::data::DataLoader loader(p.X_train, p.y_train, batch_size, /*shuffle=*/true, &order);
  ad::report::History history;
  history.record(0, {{"loss", full_loss(model, p.X_train, p.y_train)}});
  ad::report::Progress progress(label, epochs);
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    for (auto [xb, yb] : loader) {
      opt->zero_grad();
      ad::nn::binary_cross_entropy_with_logits(model(xb), yb).backward();
      opt->step();
    }
    const ad::report::Metrics metrics = {{"loss", full_loss(model, p.X_train, p.y_train)}};
    history.record(epoch, metrics);
    progress.update(epoch, metrics);
  }
  return history.values("loss");
}

// Loss curves of several runs (the same epochs 0..n-1) as one history, a column per run:
// "<run> loss". Written to <dir>/<stem>_history.csv and .png.
void save_history(const std::vector<std::pair<std::string, std::vector<double>>>& runs,
                  const std::filesystem::path& dir, const std::string& stem, const std::string& title) {
  ad::report::History history;
  for (std::size_t epoch = 0; epoch < runs.front().second.size(); ++epoch) {
    ad::report::Metrics row;
    for (const auto& [name, losses] : runs) row.emplace_back(name + " loss", losses[epoch]);
    history.record(static_cast<std::int64_t>(epoch), row);
  }
  const std::string path = (dir / (stem + "_history")).string();
  history.save(path, title);
  std::printf("history: %s.csv, %s.png\n", path.c_str(), path.c_str());
}

bool compare_optimizers(const Problem& p, const std::filesystem::path& dir) {
  std::printf("== optimizers: 2-16-1 tanh MLP, mini-batches of 32, 60 epochs, identical init ==\n");
  const std::vector<std::pair<std::string, OptimizerFactory>> optimizers = {
      {"SGD (lr 0.1)", [](auto ps) { return std::make_unique<ad::optim::SGD>(ps, ad::optim::SGDOptions{.lr = 0.1}); }},
      {"Momentum (0.9)",
       [](auto ps) { return std::make_unique<ad::optim::SGD>(ps, ad::optim::SGDOptions{.lr = 0.1, .momentum = 0.9}); }},
      {"Nesterov (0.9)",
       [](auto ps) {
         return std::make_unique<ad::optim::SGD>(ps,
                                                 ad::optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
       }},
      {"AdaGrad (lr 0.1)",
       [](auto ps) { return std::make_unique<ad::optim::Adagrad>(ps, ad::optim::AdagradOptions{.lr = 0.1}); }},
      {"RMSProp (lr 0.01)",
       [](auto ps) { return std::make_unique<ad::optim::RMSprop>(ps, ad::optim::RMSpropOptions{.lr = 0.01}); }},
      {"AdaDelta (lr 1)",
       [](auto ps) { return std::make_unique<ad::optim::Adadelta>(ps, ad::optim::AdadeltaOptions{.lr = 1.0}); }},
      {"Adam (lr 0.01)",
       [](auto ps) { return std::make_unique<ad::optim::Adam>(ps, ad::optim::AdamOptions{.lr = 0.01}); }},
      {"AdamW (lr 0.01)",
       [](auto ps) { return std::make_unique<ad::optim::AdamW>(ps, ad::optim::AdamWOptions{.lr = 0.01}); }},
  };
  bool ok = true;
  ad::plot::Figure fig(720, 520);
  fig.title("one network, eight optimizers").xlabel("epoch").ylabel("training loss (log scale)").log_y();
  std::vector<std::pair<std::string, std::vector<double>>> runs;
  for (const auto& [name, make] : optimizers) {
    const std::vector<double> losses = train(name, p, {2, 16, 1}, make, 32, 60);
    runs.emplace_back(name, losses);
    const bool fell = losses.back() < losses.front();
    std::printf("%-18s initial loss %.4f  final loss %.4f%s\n", name.c_str(), losses.front(), losses.back(),
                fell ? "" : "  <-- did not decrease");
    ok &= fell;
    fig.line(ad::plot::range(losses.size()), losses, name);
  }
  const std::string png = (dir / "optimizers_loss.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
  save_history(runs, dir, "optimizers", "2-16-1 network on two moons: training loss by optimizer");
  std::printf("every optimizer decreased the loss: %s\n", ok ? "yes" : "NO");
  return ok;
}

bool plot_schedules(const std::filesystem::path& dir) {
  std::printf("\n== learning-rate schedules (lr0 = 0.1), from lr_at(t) ==\n");
  ad::Tensor dummy = ad::zeros({1}, ad::dtype(ad::kFloat64)).requires_grad_();
  // Each schedule reads its base lr from an optimizer; lr_at itself is pure.
  std::vector<std::unique_ptr<ad::optim::SGD>> opts;
  auto sgd = [&]() -> ad::optim::SGD& {
    return *opts.emplace_back(std::make_unique<ad::optim::SGD>(std::vector{dummy}, ad::optim::SGDOptions{.lr = 0.1}));
  };
  const ad::optim::ExponentialLR exponential(sgd(), 0.96);
  const ad::optim::PiecewiseConstantLR piecewise(sgd(), {25, 60}, {0.1, 0.05, 0.01});
  const ad::optim::PolynomialLR poly(sgd(), {.total_steps = 40, .power = 2.0, .end_lr = 0.005});
  const ad::optim::PolynomialLR poly_cycle(sgd(), {.total_steps = 40, .power = 2.0, .end_lr = 0.005, .cycle = true});
  const ad::optim::CosineAnnealingLR cosine(sgd(), 100, 0.001);
  const std::vector<std::pair<std::string, const ad::optim::LRScheduler*>> schedules = {
      {"exponential (0.96^t)", &exponential},
      {"piecewise constant", &piecewise},
      {"polynomial (T 40, p 2)", &poly},
      {"polynomial, cycle", &poly_cycle},
      {"cosine (T 100)", &cosine}};
  ad::plot::Figure fig(720, 480);
  fig.title("learning-rate schedules").xlabel("epoch t").ylabel("learning rate");
  std::printf("%-24s %8s %8s %8s %8s %8s\n", "schedule", "t=0", "t=30", "t=50", "t=70", "t=100");
  for (std::size_t i = 0; i < schedules.size(); ++i) {
    const auto& [name, s] = schedules[i];
    std::vector<double> lrs;
    for (int t = 0; t <= 100; ++t) lrs.push_back(s->lr_at(t));
    std::printf("%-24s %8.5f %8.5f %8.5f %8.5f %8.5f\n", name.c_str(), lrs[0], lrs[30], lrs[50], lrs[70], lrs[100]);
    const bool dashed = s == &poly_cycle;  // it coincides with the plain polynomial up to T
    fig.line(ad::plot::range(lrs.size()), lrs, name, ad::plot::palette(static_cast<int>(i)), 2.0, dashed);
  }
  const std::string png = (dir / "lr_schedules.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
  // The closed forms at a few points (independent arithmetic): cosine at T/2 is halfway.
  return std::abs(cosine.lr_at(50) - (0.001 + 0.099 / 2)) < 1e-12 &&
         std::abs(poly.lr_at(20) - (0.095 * 0.25 + 0.005)) < 1e-12 && poly.lr_at(100) == 0.005 &&
         poly_cycle.lr_at(60) > 0.005;
}

bool batch_sizes(const Problem& p, const std::filesystem::path& dir) {
  std::printf("\n== batch vs stochastic vs mini-batch gradient descent (SGD, lr 0.1, 30 epochs) ==\n");
  const auto sgd = [](auto ps) { return std::make_unique<ad::optim::SGD>(ps, ad::optim::SGDOptions{.lr = 0.1}); };
  const std::int64_t n = p.X_train.size(0);
  const std::vector<std::pair<std::string, std::int64_t>> variants = {
      {"batch (all " + std::to_string(n) + ")", n}, {"stochastic (1)", 1}, {"mini-batch (32)", 32}};
  ad::plot::Figure fig(640, 480);
  fig.title("batch size and progress per epoch").xlabel("epoch").ylabel("training loss (log scale)").log_y();
  std::vector<double> finals;
  std::vector<std::pair<std::string, std::vector<double>>> runs;
  for (const auto& [name, size] : variants) {
    const std::vector<double> losses = train(name, p, {2, 16, 1}, sgd, size, 30);
    runs.emplace_back(name, losses);
    std::printf("%-18s %4lld updates per epoch, final loss %.4f\n", name.c_str(),
                static_cast<long long>((n + size - 1) / size), losses.back());
    fig.line(ad::plot::range(losses.size()), losses, name);
    finals.push_back(losses.back());
  }
  const std::string png = (dir / "gd_variants.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
  save_history(runs, dir, "gd_variants", "SGD (lr 0.1) with batch sizes all, 1 and 32: training loss");
  // More updates per epoch make more progress per epoch: stochastic < mini-batch < batch.
  return finals[1] < finals[2] && finals[2] < finals[0];
}

bool early_stopping(const std::filesystem::path& dir) {
  std::printf("\n== early stopping on the validation loss (patience 40) ==\n");
  // Few noisy points and a large network: it starts fitting the noise and the validation loss
  // turns up. Training goes on past the stop only to draw what early stopping avoids.
  const Problem p = make_problem(100, 0.3, 2);
  ad::Generator init(1), order(2);
  ad::nn::MLP model({2, 64, 64, 1}, ad::nn::Activation::Tanh, ad::nn::Activation::None, ad::kFloat64, &init);
  ad::optim::Adam opt(model.parameters(), {.lr = 0.003});
  ad::data::DataLoader loader(p.X_train, p.y_train, 16, true, &order);
  ad::optim::EarlyStopping stopper(40, 1e-4);
  std::vector<ad::Tensor> best_weights;  // copies of the parameters at the best epoch, restored at the end
  ad::report::History history;           // "train_loss", "val_loss" after each epoch (from 0)
  std::int64_t stop_epoch = -1;
  const int epochs = 300;
  ad::report::Progress progress("early stopping", epochs);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    for (auto [xb, yb] : loader) {
      opt.zero_grad();
      ad::nn::binary_cross_entropy_with_logits(model(xb), yb).backward();
      opt.step();
    }
    const double val_loss = full_loss(model, p.X_val, p.y_val);
    const ad::report::Metrics metrics = {{"train_loss", full_loss(model, p.X_train, p.y_train)},
                                         {"val_loss", val_loss}};
    history.record(epoch, metrics);
    progress.update(epoch + 1, metrics);
    if (stop_epoch >= 0) continue;
    const bool stop = stopper.step(val_loss);
    if (stopper.best_epoch() == epoch) {
      best_weights.clear();
      for (const ad::Tensor& w : model.parameters()) best_weights.push_back(w.detach().clone());
    }
    if (stop) stop_epoch = epoch;
  }
  {
    ad::NoGradGuard no_grad;  // the parameter handles share storage with the model: copy in place
    const std::vector<ad::Tensor> params = model.parameters();
    for (std::size_t i = 0; i < params.size(); ++i) ad::Tensor(params[i]).copy_(best_weights[i]);
  }
  const double restored = full_loss(model, p.X_val, p.y_val);
  const std::vector<double> train_losses = history.values("train_loss"), val_losses = history.values("val_loss");
  std::printf(
      "early stopping: stopped at epoch %lld of %d; best validation loss %.4f at epoch %lld "
      "(training loss then %.4f)\n",
      static_cast<long long>(stop_epoch), epochs, stopper.best(), static_cast<long long>(stopper.best_epoch()),
      train_losses[static_cast<std::size_t>(stopper.best_epoch())]);
  std::printf("without stopping, epoch %d would reach training loss %.4f but validation loss %.4f\n", epochs - 1,
              train_losses.back(), val_losses.back());
  std::printf("best weights restored: validation loss %.4f\n", restored);

  ad::plot::Figure fig(640, 480);
  fig.title("early stopping (patience 40)").xlabel("epoch").ylabel("binary cross-entropy");
  const auto upto = static_cast<std::size_t>(stop_epoch) + 1;
  const auto head = [&](const std::vector<double>& v) { return std::vector<double>(v.begin(), v.begin() + upto); };
  const auto tail = [&](const std::vector<double>& v) { return std::vector<double>(v.begin() + upto - 1, v.end()); };
  fig.line(ad::plot::range(upto), head(train_losses), "training", ad::plot::palette(0));
  fig.line(ad::plot::range(upto), head(val_losses), "validation", ad::plot::palette(1));
  fig.line(ad::plot::range(train_losses.size() - upto + 1, static_cast<double>(upto - 1)), tail(train_losses),
           "had training gone on", ad::plot::palette(0).lighter(0.6), 1.5);
  fig.line(ad::plot::range(val_losses.size() - upto + 1, static_cast<double>(upto - 1)), tail(val_losses), {},
           ad::plot::palette(1).lighter(0.6), 1.5);
  const double best_epoch = static_cast<double>(stopper.best_epoch()), stop = static_cast<double>(stop_epoch);
  fig.line({best_epoch, best_epoch}, {0.0, 0.6}, "best epoch", ad::plot::Color{0, 0, 0, 0.8}, 1.0, true);
  fig.line({stop, stop}, {0.0, 0.6}, "stop (40 epochs later)", ad::plot::palette(2), 1.0, true);
  const std::string png = (dir / "early_stopping.png").string();
  fig.save(png);
  std::printf("picture: %s\n", png.c_str());
  const std::string history_path = (dir / "early_stopping_history").string();
  history.save(history_path, "2-64-64-1 network, Adam (early stop at epoch " + std::to_string(stop_epoch) + ")");
  std::printf("history: %s.csv, %s.png\n", history_path.c_str(), history_path.c_str());
  return stop_epoch >= 0 && stop_epoch < epochs - 1 && val_losses.back() > stopper.best() &&
         std::abs(restored - stopper.best()) < 1e-12;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(dir);
    const Problem p = make_problem(400, 0.2, 3);
    bool ok = compare_optimizers(p, dir);
    ok &= plot_schedules(dir);
    ok &= batch_sizes(p, dir);
    ok &= early_stopping(dir);
    std::printf(ok ? "all checks passed\n" : "CHECK FAILED\n");
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "06_optimizers failed: %s\n", e.what());
    return 1;
  }
}
