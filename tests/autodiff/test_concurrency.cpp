// The thread-safety contract of the engine (docs/engine.md, "Threads"): graphs built and
// differentiated on different threads are independent; backward passes (and ad::grad) on
// several threads may share nodes, and accumulate into a shared leaf's .grad safely. These
// tests also run in a ThreadSanitizer build (scripts/test.sh), which reports any data race.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "adgraph/autodiff/autodiff.h"

namespace {

using ad::Tensor;

constexpr int kRounds = 30;

// Parameters and a shared hidden layer; the two losses are the common case of two objectives
// of the same parameters sharing part of the graph.
struct Shared {
  ad::Generator gen{7};
  Tensor W = ad::randn({5, 4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  Tensor b = ad::randn({4}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  Tensor x = ad::randn({6, 5}, ad::dtype(ad::kFloat64), &gen);
  Tensor h = ad::tanh(ad::matmul(x, W) + b);
  Tensor loss1 = (h * 2.0).sum();
  Tensor loss2 = (h * h).mean() + (W * W).sum();
};

// Runs f(0) and f(1) at the same time.
template <class F>
void two_threads(F f) {
  std::atomic<int> go{0};
  auto body = [&](int i) {
    go.fetch_add(1);
    while (go.load() < 2) {
    }
    f(i);
  };
  std::thread t0(body, 0), t1(body, 1);
  t0.join();
  t1.join();
}

TEST(Concurrency, TwoBackwardsSharingNodesBothAccumulateIntoTheLeaves) {
  Shared ref;  // serial reference: the sum of the two losses' gradients
  ref.loss1.backward({}, {.retain_graph = true});
  ref.loss2.backward();
  const std::vector<double> want_W = ref.W.grad().to_vector(), want_b = ref.b.grad().to_vector();
  for (int round = 0; round < kRounds; ++round) {
    Shared s;
    two_threads([&](int i) { (i == 0 ? s.loss1 : s.loss2).backward({}, {.retain_graph = true}); });
    // Each leaf receives one gradient per pass; a + b == b + a exactly, so the order of the
    // two accumulations does not show.
    EXPECT_EQ(s.W.grad().to_vector(), want_W) << "round " << round;
    EXPECT_EQ(s.b.grad().to_vector(), want_b) << "round " << round;
  }
}

TEST(Concurrency, WithoutRetainGraphTheSecondPassThroughASharedNodeGetsAClearError) {
  int errors = 0;
  for (int round = 0; round < kRounds; ++round) {
    Shared s;
    std::string what[2];
    two_threads([&](int i) {
      try {
        (i == 0 ? s.loss1 : s.loss2).backward();
      } catch (const ad::Error& e) {
        what[i] = e.what();
      }
    });
    for (const std::string& w : what)
      if (!w.empty()) {
        ++errors;
        EXPECT_NE(w.find("a second time"), std::string::npos) << w;
      }
    // The shared nodes can run once: whichever pass reaches them second fails.
    EXPECT_FALSE(what[0].empty() && what[1].empty()) << "round " << round;
  }
  EXPECT_GE(errors, kRounds);
}

TEST(Concurrency, GradOnTwoThreadsMatchesSerialAndLeavesGradUntouched) {
  Shared ref;
  const auto want1 = ad::grad({ref.loss1}, {ref.W, ref.b}, {}, {.retain_graph = true});
  const auto want2 = ad::grad({ref.loss2}, {ref.W, ref.b}, {}, {.retain_graph = true});
  for (int round = 0; round < kRounds; ++round) {
    Shared s;
    std::vector<Tensor> got[2];
    two_threads([&](int i) {
      got[i] = ad::grad({i == 0 ? s.loss1 : s.loss2}, {s.W, s.b}, {}, {.retain_graph = true});
    });
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(got[0][k].to_vector(), want1[k].to_vector());
      EXPECT_EQ(got[1][k].to_vector(), want2[k].to_vector());
    }
    EXPECT_FALSE(s.W.grad().defined());
  }
}

TEST(Concurrency, HessianVectorProductsOnTwoThreads) {
  // create_graph records new nodes that point into the shared graph from both threads.
  Shared ref;
  auto hvp = [](Shared& s, const Tensor& loss) {
    const Tensor gW = ad::grad({loss}, {s.W}, {}, {.retain_graph = true, .create_graph = true})[0];
    return ad::grad({(gW * gW).sum()}, {s.W}, {}, {.retain_graph = true})[0].to_vector();
  };
  const auto want1 = hvp(ref, ref.loss1), want2 = hvp(ref, ref.loss2);
  for (int round = 0; round < 10; ++round) {
    Shared s;
    std::vector<double> got[2];
    two_threads([&](int i) { got[i] = hvp(s, i == 0 ? s.loss1 : s.loss2); });
    EXPECT_EQ(got[0], want1);
    EXPECT_EQ(got[1], want2);
  }
}

TEST(Concurrency, ForwardAndBackwardOnSharedParametersFromFourThreads) {
  // Each thread builds its own graph from the same parameters (the leaves' gradient
  // accumulator is created concurrently) and runs backward; .grad ends as the sum.
  constexpr int kThreads = 4;
  ad::Generator gen(3);
  Tensor W = ad::randn({8, 8}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  std::vector<Tensor> xs;
  for (int i = 0; i < kThreads; ++i) xs.push_back(ad::randn({3, 8}, ad::dtype(ad::kFloat64), &gen));
  auto loss_of = [&](int i) { return ad::sigmoid(ad::matmul(xs[static_cast<std::size_t>(i)], W)).sum(); };
  std::vector<double> want(64, 0.0);
  for (int i = 0; i < kThreads; ++i) {
    const auto g = ad::grad({loss_of(i)}, {W})[0].to_vector();
    for (std::size_t k = 0; k < want.size(); ++k) want[k] += g[k];
  }
  for (int round = 0; round < kRounds; ++round) {
    W.zero_grad();
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([&, i] {
        for (int k = 0; k < 3; ++k) {  // three graphs alive at once per thread
          const Tensor loss = loss_of(i);
          if (k == 2) loss.backward();
        }
      });
    for (auto& t : threads) t.join();
    const auto got = W.grad().to_vector();
    for (std::size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-12) << k;
  }
}

// A small model trained for `iters` steps on seeded data; returns the losses and final weights.
std::vector<double> train_small_model(std::uint64_t seed, int iters) {
  ad::Generator gen(seed);
  Tensor W1 = ad::randn({6, 8}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  Tensor b1 = ad::zeros({8}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor W2 = ad::randn({8, 3}, ad::dtype(ad::kFloat64), &gen).requires_grad_();
  Tensor x = ad::randn({16, 6}, ad::dtype(ad::kFloat64), &gen);
  Tensor t = ad::randn({16, 3}, ad::dtype(ad::kFloat64), &gen);
  std::vector<double> out;
  for (int it = 0; it < iters; ++it) {
    Tensor h = ad::tanh(ad::matmul(x, W1) + b1);
    Tensor pred = ad::matmul(h, W2);
    Tensor loss = ((pred - t) * (pred - t)).mean() + ad::log_softmax(pred, 1).sum() * -1e-3;
    loss.backward();
    out.push_back(loss.item());
    {
      ad::NoGradGuard ng;
      for (Tensor* p : {&W1, &b1, &W2}) {
        p->sub_(p->grad(), 0.05);
        p->zero_grad();
      }
    }
  }
  for (const Tensor* p : {&W1, &b1, &W2})
    for (double v : p->to_vector()) out.push_back(v);
  return out;
}

TEST(Concurrency, IndependentGraphsMatchSerialBitForBit) {
  constexpr int kThreads = 4, kIters = 200;
  const std::int64_t base = ad::live_nodes();
  std::vector<std::vector<double>> serial(kThreads), parallel(kThreads);
  for (int i = 0; i < kThreads; ++i)
    serial[static_cast<std::size_t>(i)] = train_small_model(100 + static_cast<std::uint64_t>(i), kIters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([i, &parallel] {
      parallel[static_cast<std::size_t>(i)] = train_small_model(100 + static_cast<std::uint64_t>(i), kIters);
    });
  for (auto& th : threads) th.join();
  for (int i = 0; i < kThreads; ++i) {
    const auto& s = serial[static_cast<std::size_t>(i)];
    const auto& p = parallel[static_cast<std::size_t>(i)];
    ASSERT_EQ(s.size(), p.size());
    std::size_t mismatches = 0;
    for (std::size_t k = 0; k < s.size(); ++k) mismatches += s[k] != p[k];  // exact, bit for bit
    EXPECT_EQ(mismatches, 0u) << "thread " << i;
    EXPECT_LT(s[kIters - 1], s[0]) << "the model should learn";
  }
  EXPECT_NE(serial[0], serial[1]);  // different seeds, different runs
  EXPECT_EQ(ad::live_nodes(), base);
}

}  // namespace
