// Handwritten digits (UCI, 1797 8x8 images, 10 classes), pixels standardized per column with the
// training set's mean and std, classified by an MLP 64-128-10:
//   h = dropout(relu(x W1^T + b1)),  z = h W2^T + b2,  p = softmax(z)
//   L = -1/n sum_i log p_{i, y_i}  (cross-entropy of the logits)  +  lambda sum W^2  (L2 on weights)
// trained with Adam on shuffled mini-batches of 32, the learning rate following a cosine schedule
// lr_t = lr0 (1 + cos(pi t / T)) / 2 over the T = 20 epochs; all gradients from the engine. Shows the
// loss and the train/test accuracy on a progress line (on a terminal) and records them per epoch
// in digits_history.csv / .png, saves the model as safetensors, reloads it into a fresh network
// and checks that it predicts exactly the same.
//   usage: 07_digits [output-dir]
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/data/data.h"
#include "adgraph/nn/activation.h"
#include "adgraph/nn/dropout.h"
#include "adgraph/nn/linear.h"
#include "adgraph/nn/loss.h"
#include "adgraph/nn/regularizer.h"
#include "adgraph/nn/sequential.h"
#include "adgraph/nn/serialize.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/lr_scheduler.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"
#include "examples/digits_common.h"

namespace {

// 64-128-10 with ReLU and dropout 0.1 after the hidden layer.
std::unique_ptr<ad::nn::Sequential> make_model(ad::Generator& gen) {
  auto m = std::make_unique<ad::nn::Sequential>();
  m->push_back(std::make_shared<ad::nn::Linear>(64, 128, true, ad::kFloat32, &gen));
  m->push_back(std::make_shared<ad::nn::ReLU>());
  m->push_back(std::make_shared<ad::nn::Dropout>(0.1, &gen));
  m->push_back(std::make_shared<ad::nn::Linear>(128, 10, true, ad::kFloat32, &gen));
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(dir);

    const ad::data::Table table = ad::data::read_csv(ad::data::project_file("digits.csv"));
    auto [X, y] = ad::data::split_label(table, "label");
    X = X.to(ad::kFloat32);
    ad::Generator gen(1);
    ad::data::Split s = ad::data::train_test_split(X, y, 0.2, gen);
    const ad::data::Standardizer scaler = ad::data::standardize(s);  // fitted on the training images only
    std::printf("digits: %lld images of 8x8 pixels; %lld for training, %lld for testing\n",
                static_cast<long long>(X.size(0)), static_cast<long long>(s.X_train.size(0)),
                static_cast<long long>(s.X_test.size(0)));

    const std::unique_ptr<ad::nn::Sequential> model = make_model(gen);
    std::printf("model: 64-128-10, ReLU, dropout 0.1, %lld parameters\n",
                static_cast<long long>(model->num_parameters()));
    ad::optim::Adam opt(model->parameters(), {.lr = 2e-3});
    ad::data::DataLoader loader(s.X_train, s.y_train, 32, /*shuffle=*/true, &gen);
    const double l2 = 1e-5;

    const int epochs = 20;
    ad::optim::CosineAnnealingLR schedule(opt, epochs);
    ad::report::History history;  // "loss" (mean cross-entropy of the epoch's batches), "train_acc", "test_acc"
    ad::report::Progress progress("digits", epochs);
    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double total = 0;
      for (auto [xb, yb] : loader) {
        opt.zero_grad();
        const ad::Tensor data_loss = ad::nn::cross_entropy((*model)(xb), yb);
        const ad::Tensor loss = data_loss + l2 * ad::nn::l2_penalty(ad::nn::weights(*model));
        loss.backward();
        opt.step();
        total += data_loss.item() * static_cast<double>(xb.size(0));
      }
      schedule.step();
      const ad::report::Metrics metrics = {{"loss", total / static_cast<double>(s.X_train.size(0))},
                                           {"train_acc", digits::accuracy(*model, s.X_train, s.y_train)},
                                           {"test_acc", digits::accuracy(*model, s.X_test, s.y_test)}};
      history.record(epoch, metrics);
      progress.update(epoch, metrics);
    }
    // Measured: 0.989 (other split seeds give 0.972 to 0.989).
    const double test_acc = history.last("test_acc");
    const bool reached = test_acc >= 0.97;
    std::printf("final test accuracy %.4f (>= 0.97: %s)\n", test_acc, reached ? "yes" : "NO");

    // Save, reload into a network with other initial weights, compare the predictions.
    const std::string path = (dir / "digits_mlp.safetensors").string();
    ad::nn::save(*model, path);
    ad::Generator other(12345);
    const std::unique_ptr<ad::nn::Sequential> fresh = make_model(other);
    const double before = digits::accuracy(*fresh, s.X_test, s.y_test);
    ad::nn::load(*fresh, path);
    const double reloaded = digits::accuracy(*fresh, s.X_test, s.y_test);
    const bool same = digits::predict(*fresh, s.X_test) == digits::predict(*model, s.X_test) && reloaded == test_acc;
    std::printf("saved to %s; a fresh model scores %.4f, after ad::nn::load %.4f: %s\n", path.c_str(), before, reloaded,
                same ? "identical predictions" : "DIFFERENT predictions");

    const std::string history_path = (dir / "digits_history").string();
    history.save(history_path, "digits: MLP 64-128-10, Adam with a cosine schedule, mini-batches of 32");
    std::printf("history: %s.csv, %s.png\n", history_path.c_str(), history_path.c_str());

    // Test images, the misclassified ones first, with the prediction above each.
    const std::vector<double> pred = digits::predict(*model, s.X_test), truth = s.y_test.to_vector();
    std::vector<std::int64_t> shown;
    for (int wrong = 1; wrong >= 0; --wrong)
      for (std::size_t i = 0; i < pred.size() && shown.size() < 10; ++i)
        if ((pred[i] != truth[i]) == (wrong == 1)) shown.push_back(static_cast<std::int64_t>(i));
    const std::vector<double> pixels = ad::plot::values(scaler.inverse_transform(s.X_test));
    ad::plot::HeatmapOptions gray;
    gray.cmap = ad::plot::Colormap::Gray;
    gray.vmin = 0;
    gray.vmax = 16;
    gray.colorbar = false;
    ad::plot::Figure samples = ad::plot::Figure::subplots(2, 5, 170, 190);
    samples.suptitle("test images: predicted (true)");
    for (std::size_t k = 0; k < shown.size(); ++k) {
      const auto i = static_cast<std::size_t>(shown[k]);
      std::vector<double> image(64);  // dark ink on white; Field rows go upwards: flip the rows
      for (int r = 0; r < 8; ++r)
        for (int c = 0; c < 8; ++c)
          image[static_cast<std::size_t>((7 - r) * 8 + c)] = 16.0 - pixels[i * 64 + r * 8 + c];
      const ad::plot::GridSpec g{.x0 = 0, .x1 = 7, .y0 = 0, .y1 = 7, .nx = 8, .ny = 8};
      char title[48];
      std::snprintf(title, sizeof title, "%d (%d)%s", static_cast<int>(pred[i]), static_cast<int>(truth[i]),
                    pred[i] == truth[i] ? "" : " wrong");
      samples.panel(static_cast<int>(k))
          .title(title)
          .equal_aspect()
          .grid(false)
          .heatmap(ad::plot::Field(g, image), gray);
    }
    const std::string samples_png = (dir / "digits_samples.png").string();
    samples.save(samples_png);
    std::printf("picture: %s\n", samples_png.c_str());
    return reached && same ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "07_digits failed: %s\n", e.what());
    return 1;
  }
}
