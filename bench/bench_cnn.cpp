// CNN training speed, side by side with libtorch when it is installed: a LeNet-style network
// (cnn_common.h) on a batch of 64 random 1x28x28 images, ms per forward + backward + Adam step,
// on 1 and 2 threads. (The LSTM row comes with the recurrent layers.)
//   usage: bench_cnn [reps]   (install the peer with: apt-get install libtorch-dev)
#include <cstdio>
#include <cstdlib>
#include <random>

#include "bench/cnn_common.h"

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 3;
  bench::CnnCase c;
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (std::int64_t i = 0; i < c.batch * 28 * 28; ++i) c.x.push_back(normal(rng));
  for (std::int64_t i = 0; i < c.batch; ++i) c.y.push_back(static_cast<std::int64_t>(rng() % 10));
  std::printf("bench_cnn: LeNet-style CNN, batch %lld of 1x28x28, Adam, ms per step (best of %d runs of %lld steps)\n",
              static_cast<long long>(c.batch), reps, static_cast<long long>(c.steps));
  std::printf("threads      ours  libtorch   ratio\n");
  for (int threads : {1, 2}) {
    const double ours = bench::cnn_ours(c, reps, threads);
    if (bench::cnn_have_torch()) {
      const double torch = bench::cnn_torch(c, reps, threads);
      std::printf("%7d %9.3f %9.3f %7.2f\n", threads, ours, torch, ours / torch);
    } else {
      std::printf("%7d %9.3f         -       -   (libtorch not installed: apt-get install libtorch-dev)\n", threads,
                  ours);
    }
  }
}
