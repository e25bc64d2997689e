// Handwritten digits (UCI, 1797 8x8 images, 10 classes) classified by a small convolutional
// network, where 07 used an MLP: two blocks of
//   Conv2d 3x3, padding 1 (no bias) -> BatchNorm2d -> ReLU -> MaxPool2d 2x2
// (1 -> 16 -> 32 channels; 8x8 -> 4x4 -> 2x2), then Linear(32 * 2 * 2, 10) on the flattened maps:
// 6,138 parameters, two thirds of 07's MLP. Pixels scaled to [0, 1]; 20% of the images held out.
// Trained with Adam (lr 5e-3, cosine schedule over 20 epochs) on shuffled mini-batches of 32,
// cross-entropy with label smoothing 0.1; all gradients from the engine. Records loss and
// accuracy per epoch (cnn_digits_history.csv / .png), draws the 16 learned first-layer filters
// (cnn_digits_filters.png), saves the model (parameters and BatchNorm's running statistics) as
// safetensors, reloads it into a fresh network and checks the predictions are identical; a copy
// stored as F16 (half the bytes) is reloaded with LoadOptions{.convert_dtype = true} and scored;
// the whole run is written as one checkpoint (train/checkpoint.h) and restored into fresh objects.
//   usage: 08_cnn_digits [output-dir]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/activation.h"
#include "adgraph/nn/conv.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/normalization.h"
#include "adgraph/nn/pooling.h"
#include "adgraph/nn/sequential.h"
#include "adgraph/nn/serialize.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"
#include "adgraph/train/checkpoint.h"
#include "examples/digits_common.h"

namespace {

// The first convolution's 16 filters as 3x3 images on one colour scale (blue < 0 < red).
void draw_filters(const ad::Tensor& weight, const std::string& path) {
  const std::int64_t n = weight.size(0);
  const std::vector<double> w = weight.to_vector();
  double m = 0;
  for (double v : w) m = std::max(m, std::abs(v));
  ad::plot::HeatmapOptions opt;
  opt.cmap = ad::plot::Colormap::BlueRed;
  opt.vmin = -m;
  opt.vmax = m;
  opt.colorbar = false;
  ad::plot::Figure fig = ad::plot::Figure::subplots(2, static_cast<int>(n / 2), 130, 150);
  char title[96];
  std::snprintf(title, sizeof title, "first-layer filters (3x3; blue < 0 < red, |w| <= %.2f)", m);
  fig.suptitle(title);
  for (std::int64_t k = 0; k < n; ++k) {
    // Each weight as a flat 3x3 block: the field is sampled 10 times per cell (a heatmap
    // interpolates between samples), and its rows go upwards, so the kernel's rows are flipped.
    constexpr int kUp = 10, kSide = 3 * kUp;
    std::vector<double> image(kSide * kSide);
    for (int i = 0; i < kSide; ++i)
      for (int j = 0; j < kSide; ++j)
        image[static_cast<std::size_t>(i * kSide + j)] =
            w[static_cast<std::size_t>(k * 9 + (2 - i / kUp) * 3 + j / kUp)];
    const ad::plot::GridSpec g{.x0 = 0, .x1 = 3, .y0 = 0, .y1 = 3, .nx = kSide, .ny = kSide};
    char name[16];
    std::snprintf(name, sizeof name, "filter %d", static_cast<int>(k));
    fig.panel(static_cast<int>(k)).title(name).equal_aspect().grid(false).heatmap(ad::plot::Field(g, image), opt);
  }
  fig.save(path);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(dir);
    // Batches of 32 tiny images make every GEMM small: a thread pool would only add waiting
    // (and, on a busy machine, spinning). Results do not depend on the thread count.
    ad::set_num_threads(1);

    const ad::data::Table table = ad::data::read_csv(ad::data::project_file("digits.csv"));
    auto [X, y] = ad::data::split_label(table, "label");
    X = (X.to(ad::kFloat32) / 16.0).reshape({-1, 1, 8, 8});  // pixels 0..16 -> [0, 1], as 1-channel images
    ad::Generator split_gen(1), gen(1);                      // the split; the initial weights and the batches
    const ad::data::Split s = ad::data::train_test_split(X, y, 0.2, split_gen);
    std::printf("digits: %lld images of 8x8 pixels; %lld for training, %lld for testing\n",
                static_cast<long long>(X.size(0)), static_cast<long long>(s.X_train.size(0)),
                static_cast<long long>(s.X_test.size(0)));

    const std::shared_ptr<ad::nn::Sequential> model = digits::make_cnn(gen);
    std::printf("model: %lld parameters\n%s\n", static_cast<long long>(model->num_parameters()), model->repr().c_str());
    ad::optim::Adam opt(model->parameters(), {.lr = 5e-3});
    ad::data::DataLoader loader(s.X_train, s.y_train, 32, /*shuffle=*/true, &gen);
    const ad::nn::ClassLossOptions smoothing{.label_smoothing = 0.1};

    const int epochs = 20;
    ad::optim::CosineAnnealingLR schedule(opt, epochs);
    ad::report::History
        history;  // "loss" (mean smoothed cross-entropy of the epoch's batches), "train_acc", "test_acc"
    ad::report::Progress progress("cnn digits", epochs);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double total = 0;
      for (auto [xb, yb] : loader) {
        opt.zero_grad();
        const ad::Tensor loss = ad::nn::cross_entropy((*model)(xb), yb, smoothing);
        loss.backward();
        opt.step();
        total += loss.item() * static_cast<double>(xb.size(0));
      }
      schedule.step();
      const ad::report::Metrics metrics = {{"loss", total / static_cast<double>(s.X_train.size(0))},
                                           {"train_acc", digits::accuracy(*model, s.X_train, s.y_train)},
                                           {"test_acc", digits::accuracy(*model, s.X_test, s.y_test)}};
      history.record(epoch, metrics);
      progress.update(epoch, metrics);
    }
    // Measured: 0.9917 (3 of 360 wrong). Ten training seeds on this split give 0.9889 to 0.9972
    // (1 to 4 wrong; the threshold allows 5), five other splits 0.9861 to 1.0000.
    const double test_acc = history.last("test_acc");
    const bool reached = test_acc >= 0.985;
    std::printf("final test accuracy %.4f (>= 0.985: %s); train accuracy %.4f\n", test_acc, reached ? "yes" : "NO",
                history.last("train_acc"));

    // Save (the parameters and BatchNorm's running statistics), reload into a network with
    // other initial weights, compare the predictions.
    const std::string path = (dir / "cnn_digits.safetensors").string();
    ad::nn::save(*model, path);
    const std::vector<double> pred = digits::predict(*model, s.X_test);
    ad::Generator other(12345);
    const std::shared_ptr<ad::nn::Sequential> fresh = digits::make_cnn(other);
    const double before = digits::accuracy(*fresh, s.X_test, s.y_test);
    ad::nn::load(*fresh, path);
    const std::vector<double> reloaded = digits::predict(*fresh, s.X_test);
    const bool same = reloaded == pred;
    std::printf("saved to %s; a fresh model scores %.4f, after ad::nn::load %.4f: %s\n", path.c_str(), before,
                digits::accuracy(reloaded, s.y_test), same ? "identical predictions" : "DIFFERENT predictions");

    // The same model stored in half precision: half the bytes, every value rounded to 11
    // significant bits; loading it into the Float32 model asks for the conversion explicitly.
    const std::string half_path = (dir / "cnn_digits_f16.safetensors").string();
    ad::nn::save(*model, half_path, {.floats_as = ad::FloatFormat::F16});
    const std::shared_ptr<ad::nn::Sequential> from_half = digits::make_cnn(other);
    ad::nn::load(*from_half, half_path, {.convert_dtype = true});
    const std::vector<double> half_pred = digits::predict(*from_half, s.X_test);
    std::size_t changed = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) changed += half_pred[i] != pred[i];
    std::printf("as F16: %s, %lld bytes instead of %lld; test accuracy %.4f (%zu of %zu predictions changed)\n",
                half_path.c_str(), static_cast<long long>(std::filesystem::file_size(half_path)),
                static_cast<long long>(std::filesystem::file_size(path)), digits::accuracy(half_pred, s.y_test),
                changed, pred.size());

    // The whole run in one file (train/checkpoint.h): the model, Adam's moments, the schedule's
    // step, the loader's sample order, the generator and the epoch, which is what a resumed run
    // needs to continue bit for bit (tests/train resumes one in a fresh process). Restored here
    // into objects built afresh.
    const std::string ckpt_path = (dir / "cnn_digits.ckpt").string();
    std::int64_t epochs_done = epochs;
    ad::train::Checkpoint ckpt;
    ckpt.add("model", *model).add("optimizer", opt).add("scheduler", schedule).add("loader", loader);
    ckpt.add("rng", gen).add("epoch", epochs_done);
    ckpt.save(ckpt_path);
    const std::shared_ptr<ad::nn::Sequential> resumed = digits::make_cnn(other);
    ad::optim::Adam resumed_opt(resumed->parameters(), {.lr = 5e-3});
    ad::optim::CosineAnnealingLR resumed_schedule(resumed_opt, epochs);
    ad::Generator resumed_gen(999);
    ad::data::DataLoader resumed_loader(s.X_train, s.y_train, 32, /*shuffle=*/true, &resumed_gen);
    std::int64_t resumed_epoch = 0;
    ad::train::Checkpoint restore;
    restore.add("model", *resumed).add("optimizer", resumed_opt).add("scheduler", resumed_schedule);
    restore.add("loader", resumed_loader).add("rng", resumed_gen).add("epoch", resumed_epoch);
    restore.load(ckpt_path);
    const bool restored = digits::predict(*resumed, s.X_test) == pred && resumed_opt.step_count() == opt.step_count() &&
                          resumed_opt.lr() == opt.lr() && resumed_epoch == epochs;
    std::printf(
        "checkpoint: %s, %lld bytes (model, optimizer at step %lld, schedule, loader, generator, epoch); "
        "restored into fresh objects: %s\n",
        ckpt_path.c_str(), static_cast<long long>(std::filesystem::file_size(ckpt_path)),
        static_cast<long long>(resumed_opt.step_count()), restored ? "yes" : "NO");

    const std::string history_path = (dir / "cnn_digits_history").string();
    history.save(history_path, "digits: CNN (conv-BN-ReLU-pool x2, linear), Adam with a cosine schedule");
    std::printf("history: %s.csv, %s.png\n", history_path.c_str(), history_path.c_str());
    const std::string filters_png = (dir / "cnn_digits_filters.png").string();
    draw_filters(model->named_parameters().front().second, filters_png);
    std::printf("picture: %s\n", filters_png.c_str());
    return reached && same && restored ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "08_cnn_digits failed: %s\n", e.what());
    return 1;
  }
}
