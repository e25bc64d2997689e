// bench_engine: one run, plain figures. (The scalar tape beside ADOL-C: bench_tape; elementwise
// kernels beside libtorch: bench_kernels.)
//   2b. the chain y = y * 1.000001 + 0.5 on 0-d Tensors (the general engine path), and the peak
//       memory (max RSS) of a 10^7-node chain built, differentiated and destroyed in a child process
//   3. gradient checkpointing: peak RSS and time of a deep MLP, plain and with ad::checkpoint
//   4. matmul forward + backward GFLOP/s against raw cblas_sgemm (OpenBLAS) and dnnl_sgemm (oneDNN)
//      doing the same three products
// Every figure is the best of a few repetitions.
#include <cblas.h>
#include <malloc.h>
#include <oneapi/dnnl/dnnl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "adgraph/autodiff/autodiff.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Smallest wall time of `reps` runs of `work`, in seconds; `setup` runs untimed before each.
template <class Setup, class Work>
double best_of(int reps, Setup&& setup, Work&& work) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < reps; ++r) {
    setup();
    const Clock::time_point t0 = Clock::now();
    work();
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// The chain of section 2b: y = y * kRate + kShift.
constexpr double kRate = 1.000001;
constexpr double kShift = 0.5;

// ---- 2b: the same chain on 0-d Tensors (the general engine path), for comparison

// The chain y = y * kRate + kShift on 0-d Tensors: seconds forward, backward and to destroy it,
// the heap bytes it held, and d y / d x.
struct TensorChainRun {
  double fwd, bwd, drop, bytes, grad;
};
TensorChainRun run_tensor_chain(std::int64_t steps) {
  const std::size_t heap0 = mallinfo2().uordblks;
  ad::Tensor x = ad::scalar_tensor(1.0, ad::dtype(ad::kFloat64)).requires_grad_();
  ad::Tensor y = x;
  Clock::time_point t0 = Clock::now();
  for (std::int64_t i = 0; i < steps; ++i) y = y * kRate + kShift;
  TensorChainRun r{};
  r.fwd = seconds_since(t0);
  r.bytes = static_cast<double>(mallinfo2().uordblks - heap0);
  t0 = Clock::now();
  y.backward();
  r.bwd = seconds_since(t0);
  t0 = Clock::now();
  y = ad::Tensor();
  r.drop = seconds_since(t0);
  r.grad = x.grad().item();
  return r;
}

void bench_tensor_chain() {
  constexpr std::int64_t kSteps = 500'000;  // 2 ops each
  const auto [fwd, bwd, drop, heap, grad] = run_tensor_chain(kSteps);
  const double ops = 2.0 * kSteps, bytes = heap / ops;
  std::printf(
      "  0-d Tensor %8lld ops  forward %5.0f ns/op  backward %5.0f ns/op  destroy %4.0f ns/op  %6.0f B/node  (grad "
      "rel. "
      "err %.1e)\n",
      static_cast<long long>(ops), fwd / ops * 1e9, bwd / ops * 1e9, drop / ops * 1e9, bytes,
      std::abs(grad / std::pow(kRate, static_cast<double>(kSteps)) - 1.0));
}

// The 10^7-node chain in a child process, whose peak RSS the kernel reports to the parent.
void bench_tensor_chain_peak() {
  constexpr std::int64_t kSteps = 5'000'000;  // 2 ops each
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    const auto [fwd, bwd, drop, heap, grad] = run_tensor_chain(kSteps);
    std::printf("  0-d Tensor %8lld ops  forward %5.2f s  backward %5.2f s  destroy %5.2f s",
                static_cast<long long>(2 * kSteps), fwd, bwd, drop);
    std::fflush(stdout);
    _exit(std::isfinite(grad) ? 0 : 1);
  }
  int status = 0;
  rusage ru{};
  if (pid < 0 || wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("\n  10^7-node chain: the child process failed\n");
    return;
  }
  std::printf("  peak RSS %.2f GB (%.0f B/node)\n", static_cast<double>(ru.ru_maxrss) * 1024 / 1e9,
              static_cast<double>(ru.ru_maxrss) * 1024 / (2.0 * kSteps));
}

// ad::grad with many inputs against backward of the same graph: both linear in the graph.
void bench_grad_many_inputs() {
  constexpr int kInputs = 32'000;
  std::vector<ad::Tensor> xs;
  ad::Tensor sum = ad::scalar_tensor(0.0, ad::dtype(ad::kFloat64));
  for (int i = 0; i < kInputs; ++i) {
    xs.push_back(ad::scalar_tensor(1.0, ad::dtype(ad::kFloat64)).requires_grad_());
    sum = sum + xs.back();
  }
  Clock::time_point t0 = Clock::now();
  sum.backward({}, {.retain_graph = true});
  const double bwd = seconds_since(t0);
  t0 = Clock::now();
  const auto g = ad::grad({sum}, xs);
  const double grad = seconds_since(t0);
  std::printf("  sum of %d 0-d inputs: backward %.1f ms, ad::grad w.r.t. all %d inputs %.1f ms (grad[0] = %g)\n",
              kInputs, bwd * 1e3, kInputs, grad * 1e3, g[0].item());
}

// ---- gradient checkpointing: a deep tanh MLP, plain and with ad::checkpoint every 8 layers,
// each in a child process (its own peak RSS); the weights' gradients are compared bit for bit.
constexpr int kDeepLayers = 32, kDeepWidth = 512, kDeepBatch = 1024, kDeepSegment = 8;

// Seconds for one forward + backward, and a checksum of the gradients' bits (sum of their
// values as float32 words, exact enough to tell "identical" apart from "not").
std::pair<double, double> deep_mlp_step(bool checkpointed) {
  ad::Generator gen(1);
  std::vector<ad::Tensor> ws;
  for (int l = 0; l < kDeepLayers; ++l)
    ws.push_back((ad::randn({kDeepWidth, kDeepWidth}, {}, &gen) * (1.0 / std::sqrt(kDeepWidth))).requires_grad_());
  const ad::Tensor x = ad::randn({kDeepBatch, kDeepWidth}, {}, &gen);
  auto segment = [&ws](int from) {
    return [&ws, from](const std::vector<ad::Tensor>& in) {
      ad::Tensor h = in[0];
      for (int l = from; l < from + kDeepSegment; ++l) h = ad::tanh(ad::matmul(h, ws[static_cast<std::size_t>(l)]));
      return h;
    };
  };
  const Clock::time_point t0 = Clock::now();
  ad::Tensor h = x;
  for (int from = 0; from < kDeepLayers; from += kDeepSegment)
    h = checkpointed ? ad::checkpoint(segment(from), {h}) : segment(from)({h});
  ad::mean(h * h).backward();
  const double t = seconds_since(t0);
  double sum = 0;
  for (const ad::Tensor& w : ws) sum += ad::sum(ad::abs(w.grad().to(ad::kFloat64))).item();
  return {t, sum};
}

void bench_checkpoint() {
  std::printf("gradient checkpointing: tanh MLP %d x %d-%d, batch %d, forward + backward (child processes)\n",
              kDeepLayers, kDeepWidth, kDeepWidth, kDeepBatch);
  double sums[2] = {0, 0};
  for (int c = 0; c < 2; ++c) {
    int fds[2];
    if (pipe(fds) != 0) return;
    std::fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      const auto r = deep_mlp_step(c == 1);
      if (write(fds[1], &r, sizeof r) != sizeof r) _exit(2);
      _exit(0);
    }
    close(fds[1]);
    std::pair<double, double> r{-1, -1};
    if (read(fds[0], &r, sizeof r) != sizeof r) r = {-1, -1};
    close(fds[0]);
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    sums[c] = r.second;
    std::printf("  %-28s %7.3f s   peak RSS %7.1f MB\n", c == 0 ? "plain" : "checkpoint every 8 layers", r.first,
                static_cast<double>(ru.ru_maxrss) / 1024.0);
  }
  std::printf("  gradient checksums %s (%.17g / %.17g)\n", sums[0] == sums[1] ? "identical" : "DIFFER", sums[0],
              sums[1]);
}

// ---- 4: matmul

double engine_matmul_seconds(std::int64_t n) {
  const ad::TensorOptions opt = ad::TensorOptions{}.set_requires_grad();
  ad::Tensor a = ad::randn({n, n}, opt);
  ad::Tensor b = ad::randn({n, n}, opt);
  const ad::Tensor g = ad::ones({n, n});
  const auto zero_grads = [&] {
    a.zero_grad();
    b.zero_grad();
  };
  return best_of(5, zero_grads, [&] { ad::matmul(a, b).backward(g); });
}

// The same three products on raw buffers, C = A B, dA = G B^T, dB = A^T G, with a GEMM
// library's own call: gemm(trans_a, trans_b, a, b, c) for n x n row-major matrices.
template <class Gemm>
double raw_matmul_seconds(int n, Gemm gemm) {
  const std::size_t nn = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
  std::mt19937 gen(0);
  std::normal_distribution<float> normal;
  std::vector<float> a(nn), b(nn), g(nn, 1.0f), c(nn), da(nn), db(nn);
  for (std::size_t i = 0; i < nn; ++i) {
    a[i] = normal(gen);
    b[i] = normal(gen);
  }
  return best_of(
      5, [] {},
      [&] {
        gemm(false, false, a.data(), b.data(), c.data());
        gemm(false, true, g.data(), b.data(), da.data());
        gemm(true, false, a.data(), g.data(), db.data());
      });
}

double blas_matmul_seconds(int n) {
  return raw_matmul_seconds(n, [n](bool ta, bool tb, const float* a, const float* b, float* c) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, n, n, n, 1.0f, a, n, b,
                n, 0.0f, c, n);
  });
}

double dnnl_matmul_seconds(int n) {
  return raw_matmul_seconds(n, [n](bool ta, bool tb, const float* a, const float* b, float* c) {
    dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  });
}

void bench_matmul() {
  std::printf("matmul C = A B forward + backward (3 GEMMs = 6 n^3 flop), float32 (best of 5); OpenBLAS core %s\n",
              openblas_get_corename());
  for (int n : {256, 512, 1024}) {
    const double flop = 6.0 * n * n * static_cast<double>(n);
    const double ours = flop / engine_matmul_seconds(n) * 1e-9;
    const double blas = flop / blas_matmul_seconds(n) * 1e-9;
    const double dnnl = flop / dnnl_matmul_seconds(n) * 1e-9;
    std::printf("  n=%-5d ad::matmul %7.1f GFLOP/s   cblas_sgemm %7.1f   dnnl_sgemm %7.1f   ours / best library %.2f\n",
                n, ours, blas, dnnl, ours / std::max(blas, dnnl));
  }
}

}  // namespace

int main() {
  bench_checkpoint();  // first: a forked child's peak RSS counts the parent's pages it inherits
  bench_tensor_chain();
  bench_tensor_chain_peak();
  bench_grad_many_inputs();
  bench_matmul();
  return 0;
}
