// One sigmoid neuron trained by gradient descent on two points: X = [0.5, 2.5], Y = [0.2, 0.9].
//   f(x) = sigma(w x + b),   L(w, b) = sum_i 1/2 (f(x_i) - y_i)^2
//   dL/dw = sum_i (f_i - y_i) f_i (1 - f_i) x_i,   dL/db = sum_i (f_i - y_i) f_i (1 - f_i)
// (the sigmoid's derivative is sigma (1 - sigma)). The engine computes the gradients; the formula
// above is evaluated once, independently, only to check the engine's numbers at the start.
// Start at w = 0, b = -8 (a flat plateau of the loss), learning rate 1, 1000 full-batch epochs:
//   w <- w - lr dL/dw,   b <- b - lr dL/db
// Pictures: the loss surface over (w, b) with the descent's trajectory, and the loss curve.
//   usage: 02_sigmoid_neuron [output-dir]
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/plot/plot.h"
#include "adgraph/report/report.h"

namespace {

const ad::Tensor kX = ad::tensor({0.5, 2.5});
const ad::Tensor kY = ad::tensor({0.2, 0.9});

// L(w, b) for 0-d w, b; or for a batch of parameter pairs w, b of shape [N, 1]: then [N].
ad::Tensor loss_of(const ad::Tensor& w, const ad::Tensor& b) {
  const ad::Tensor f = ad::sigmoid(w * kX + b);
  const ad::Tensor half_sq = 0.5 * ad::pow(f - kY, 2.0);
  return w.dim() == 0 ? ad::sum(half_sq) : ad::sum(half_sq, {1});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : "out";
    std::filesystem::create_directories(dir);
    const double lr = 1.0;
    const int epochs = 1000;

    ad::Tensor w = ad::scalar_tensor(0.0).requires_grad_().set_label("w");
    ad::Tensor b = ad::scalar_tensor(-8.0).requires_grad_().set_label("b");

    bool ok = true;
    // Per epoch: the loss at (w, b) and that (w, b), before the epoch's step; a progress line on a
    // terminal.
    ad::report::History history;
    ad::report::Progress progress("gradient descent", epochs);
    for (int epoch = 0; epoch < epochs; ++epoch) {
      w.zero_grad();
      b.zero_grad();
      const ad::Tensor loss = loss_of(w, b);
      loss.backward();
      history.record(epoch, {{"loss", loss.item()}, {"w", w.item()}, {"b", b.item()}});
      if (epoch == 0) {  // an independent check of the engine's gradient: the hand formula above
        double gw = 0, gb = 0;
        for (int i = 0; i < 2; ++i) {
          const double x = kX.at({i}), y = kY.at({i});
          const double f = 1.0 / (1.0 + std::exp(-(w.item() * x + b.item())));
          gw += (f - y) * f * (1 - f) * x;
          gb += (f - y) * f * (1 - f);
        }
        const bool same = std::abs(gw - w.grad().item()) < 1e-12 && std::abs(gb - b.grad().item()) < 1e-12;
        std::printf("at w = 0, b = -8: engine dL/dw = %.6e, dL/db = %.6e (by hand %.6e, %.6e)%s\n", w.grad().item(),
                    b.grad().item(), gw, gb, same ? "" : "  <-- MISMATCH");
        ok &= same;
      }
      {
        ad::NoGradGuard no_grad;
        w.sub_(w.grad(), lr);
        b.sub_(b.grad(), lr);
      }
      progress.update(epoch + 1, {{"loss", loss.item()}});
    }
    // The plateau and the drop, every 100 epochs of the recorded history.
    const std::vector<double> losses = history.values("loss");
    std::vector<double> ws = history.values("w"), bs = history.values("b");
    ws.push_back(w.item());  // the trajectory's end point, after the last step
    bs.push_back(b.item());
    for (int epoch = 0; epoch < epochs; ++epoch)
      if (epoch % 100 == 0 || epoch == epochs - 1)
        std::printf("epoch %4d  loss %.6f  w %8.4f  b %8.4f\n", epoch, losses[epoch], ws[epoch], bs[epoch]);
    const double initial = losses.front();
    const double final_loss = loss_of(w, b).item();
    const ad::Tensor f = ad::sigmoid(w * kX + b);
    std::printf("after %d epochs: w = %.4f, b = %.4f, f(0.5) = %.4f (y 0.2), f(2.5) = %.4f (y 0.9)\n", epochs, w.item(),
                b.item(), f.at({0}), f.at({1}));
    // Measured: 0.4246 -> 0.0170. The start sits on a plateau (sigma' ~ 3e-4 there), so for ~450
    // epochs almost nothing happens; then the path drops into a long, nearly flat valley that it
    // follows slowly towards the exact fit w = 1.79, b = -2.28 (loss 0).
    const bool fell = final_loss < initial && final_loss < 0.02;
    std::printf("final loss %.6f < initial %.6f%s\n", final_loss, initial, fell ? "" : "  <-- expected < 0.02");
    ok &= fell;

    // The loss surface over w in [-2, 6], b in [-10, 2]: one batched evaluation of L on the grid
    // (each row of grid_points is one (w, b) pair).
    const ad::plot::GridSpec grid{.x0 = -2, .x1 = 6, .y0 = -10, .y1 = 2, .nx = 161, .ny = 161};
    const ad::plot::Field surface = ad::plot::Field::evaluate(
        grid, [](const ad::Tensor& pts) { return loss_of(ad::slice(pts, 1, 0, 1), ad::slice(pts, 1, 1, 2)); });
    // The 1001-point trajectory with a marker each time it has moved 0.2 (or every 100 epochs).
    std::vector<double> pw{ws.front()}, pb{bs.front()};
    for (std::size_t i = 1, last = 0; i < ws.size(); ++i)
      if (std::hypot(ws[i] - pw.back(), bs[i] - pb.back()) > 0.2 || i - last >= 100 || i + 1 == ws.size()) {
        pw.push_back(ws[i]);
        pb.push_back(bs[i]);
        last = i;
      }
    ad::plot::Figure fig(720, 560);
    fig.title("loss surface of a sigmoid neuron, with the GD path")
        .xlabel("w")
        .ylabel("b")
        .filled_contour(surface, ad::plot::log_levels(1e-3, 0.45, 12), ad::plot::Colormap::Viridis, "L(w, b)")
        .path(pw, pb, "gradient descent (lr 1)", ad::plot::Color::hex("#ff4136"));
    const std::string surface_png = (dir / "sigmoid_loss_surface.png").string();
    fig.save(surface_png);
    std::printf("picture: %s\n", surface_png.c_str());

    ad::plot::Figure curve;
    curve.title("loss of the sigmoid neuron").xlabel("epoch").ylabel("L (log scale)").log_y();
    curve.line(ad::plot::range(losses.size()), losses, "squared error / 2");
    const std::string curve_png = (dir / "sigmoid_loss_curve.png").string();
    curve.save(curve_png);
    std::printf("picture: %s\n", curve_png.c_str());
    const std::string history_csv = (dir / "sigmoid_history.csv").string();
    history.write_csv(history_csv);
    std::printf("history: %s\n", history_csv.c_str());
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "02_sigmoid_neuron failed: %s\n", e.what());
    return 1;
  }
}
