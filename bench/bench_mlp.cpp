// MLP training speed, side by side with libtorch when it is installed:
//   64-256-256-10 on the 1797 handwritten digits, batch 128, one epoch (15 steps);
//   784-512-512-10 on random data, batch 256, 50 steps.
// ReLU, softmax cross-entropy, Adam (lr 1e-3), float32. Each run happens in a child process so
// its peak resident memory (getrusage ru_maxrss) is its own.
//   usage: bench_mlp [reps]   (install the peer with: apt-get install libtorch-dev)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "adgraph/data/csv.h"
#include "bench/mlp_common.h"

namespace {

struct Measured {
  double ms_per_step = -1;
  long peak_rss_kb = -1;
};

// Runs f() in a child process; returns its result and the child's peak RSS.
template <class F>
Measured in_child(F f) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    double ms = -1;
    try {
      ms = f();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "  failed: %s\n", e.what());
    }
    if (write(fds[1], &ms, sizeof ms) != sizeof ms) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  Measured m;
  if (read(fds[0], &m.ms_per_step, sizeof m.ms_per_step) != sizeof m.ms_per_step) m.ms_per_step = -1;
  close(fds[0]);
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  m.peak_rss_kb = usage.ru_maxrss;
  return m;
}

bench::MlpCase digits_case() {
  const ad::data::Table t = ad::data::read_csv(ad::data::project_file("digits.csv"));
  bench::MlpCase c{"64-256-256-10, digits, batch 128, 1 epoch", {64, 256, 256, 10}, 128, 15, {}, {}};
  const auto values = t.values.to_vector();
  const auto cols = static_cast<std::size_t>(t.values.size(1));
  for (std::size_t r = 0; r * cols < values.size(); ++r) {
    for (std::size_t k = 0; k + 1 < cols; ++k) c.x.push_back(static_cast<float>(values[r * cols + k] / 16.0));
    c.y.push_back(static_cast<std::int64_t>(values[r * cols + cols - 1]));
  }
  return c;
}

bench::MlpCase random_case() {
  bench::MlpCase c{"784-512-512-10, random data, batch 256, 50 steps", {784, 512, 512, 10}, 256, 50, {}, {}};
  std::mt19937 gen(0);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<std::int64_t> label(0, 9);
  const std::int64_t n = 256 * 8;
  c.x.resize(static_cast<std::size_t>(n * 784));
  for (auto& v : c.x) v = normal(gen);
  for (std::int64_t i = 0; i < n; ++i) c.y.push_back(label(gen));
  return c;
}

void report(const char* who, const Measured& m) {
  std::printf("  %-9s %8.3f ms/step   peak RSS %7.1f MB\n", who, m.ms_per_step,
              static_cast<double>(m.peak_rss_kb) / 1024.0);
}

}  // namespace

int main(int argc, char** argv) {
  const int reps = argc > 1 ? std::atoi(argv[1]) : 3;
  for (const bench::MlpCase& c : {digits_case(), random_case()}) {
    std::printf("%s (best of %d)\n", c.name, reps);
    const Measured ours = in_child([&] { return bench::run_ours(c, reps); });
    report("autodiff", ours);
    if (!bench::have_torch()) {
      std::printf("  libtorch  not installed (apt-get install libtorch-dev) — peer skipped\n");
      continue;
    }
    const Measured torch = in_child([&] { return bench::run_torch(c, reps); });
    report("libtorch", torch);
    std::printf("  ratio     %.2fx libtorch's time per step\n", ours.ms_per_step / torch.ms_per_step);
  }
  return 0;
}
