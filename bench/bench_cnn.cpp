// CNN and LSTM training speed, side by side with libtorch when it is installed (cnn_common.h): a
// LeNet-style network on a batch of 64 random 1x28x28 images, and a 2-layer LSTM (hidden 128) over
// 32 steps of a batch of 32 random 32-feature inputs with a Linear head on the last step; ms per
// forward + backward + Adam step, on 1 and 2 threads (ours and libtorch's runs alternate).
//   usage: bench_cnn [reps] [cnn|lstm]   (one of the two only; install the peer with: apt-get install libtorch-dev)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "bench/cnn_common.h"

namespace {

// One table row per thread count: ours and the peer alternate, one run each at a time, and each
// keeps its best, so a change in the machine's load hits both sides alike.
template <class Ours, class Torch>
void rows(int reps, Ours ours_run, Torch torch_run) {
  std::printf("threads      ours  libtorch   ratio\n");
  for (int threads : {1, 2}) {
    double ours = 1e300, torch = 1e300;
    for (int r = 0; r < reps; ++r) {
      ours = std::min(ours, ours_run(threads));
      if (bench::cnn_have_torch()) torch = std::min(torch, torch_run(threads));
    }
    if (bench::cnn_have_torch())
      std::printf("%7d %9.3f %9.3f %7.2f\n", threads, ours, torch, ours / torch);
    else
      std::printf("%7d %9.3f         -       -   (libtorch not installed: apt-get install libtorch-dev)\n", threads,
                  ours);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 3;
  const std::string only = argc > 2 ? argv[2] : "";
  bench::CnnCase c;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (std::int64_t i = 0; i < c.batch * 28 * 28; ++i) c.x.push_back(normal(rng));
  for (std::int64_t i = 0; i < c.batch; ++i) c.y.push_back(static_cast<std::int64_t>(rng() % 10));
  bench::LstmCase lc;
  for (std::int64_t i = 0; i < lc.seq * lc.batch * lc.input; ++i) lc.x.push_back(normal(rng));
  for (std::int64_t i = 0; i < lc.batch; ++i) lc.y.push_back(static_cast<std::int64_t>(rng() % lc.classes));
  if (only != "lstm") {
    std::printf(
        "bench_cnn: LeNet-style CNN, batch %lld of 1x28x28, Adam, ms per step (best of %d runs of %lld steps)\n",
        static_cast<long long>(c.batch), reps, static_cast<long long>(c.steps));
    rows(
        reps, [&](int threads) { return bench::cnn_ours(c, 1, threads); },
        [&](int threads) { return bench::cnn_torch(c, 1, threads); });
  }
  if (only != "cnn") {
    std::printf(
        "LSTM: %lld layers, hidden %lld, seq %lld, batch %lld, input %lld, Linear to %lld classes on the last\n"
        "step, Adam, ms per step (best of %d runs of %lld steps)\n",
        static_cast<long long>(lc.layers), static_cast<long long>(lc.hidden), static_cast<long long>(lc.seq),
        static_cast<long long>(lc.batch), static_cast<long long>(lc.input), static_cast<long long>(lc.classes), reps,
        static_cast<long long>(lc.steps));
    rows(
        reps, [&](int threads) { return bench::lstm_ours(lc, 1, threads); },
        [&](int threads) { return bench::lstm_torch(lc, 1, threads); });
  }
}
