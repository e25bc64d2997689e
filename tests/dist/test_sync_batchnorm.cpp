// SyncBatchNorm and all_reduce_sum (dist/sync_batchnorm.h), alone and under mpirun with 2 and 3
// ranks: W ranks, each with its own (uneven) part of a batch, normalize, update the running
// statistics and back-propagate exactly as nn::BatchNorm2d on the whole batch in one process
// (float64, to rounding); gradcheck and gradgradcheck of the layer.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "adgraph/dist/ddp.h"
#include "adgraph/dist/sync_batchnorm.h"
#include "adgraph/nn/nn.h"
#include "adgraph/optim/sgd.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

const auto f64 = ad::kFloat64;
constexpr std::int64_t kC = 3;

ad::dist::ProcessGroup& pg() { return ad::dist::world(); }

// Rank r holds 2 + (r % 2) samples: the ranks' batches differ in size when W > 1.
std::int64_t rows_of(int r) { return 2 + r % 2; }
std::int64_t first_row(int r) {
  std::int64_t s = 0;
  for (int q = 0; q < r; ++q) s += rows_of(q);
  return s;
}

double max_diff(const ad::Tensor& a, const ad::Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto u = a.to_vector(), v = b.to_vector();
  double worst = 0;
  for (std::size_t i = 0; i < u.size(); ++i) worst = std::max(worst, std::abs(u[i] - v[i]));
  return worst;
}

TEST(SyncBatchNorm, EqualsBatchNormOnTheWholeBatchInOneProcess) {
  const int r = pg().rank(), w = pg().world_size();
  const std::int64_t n = first_row(w);
  ad::Generator g(5);
  const ad::Tensor x_all = ad::randn({n, kC, 2, 3}, ad::dtype(f64), &g) * 3.0 + 1.0;
  const ad::Tensor c_all = ad::randn({n, kC, 2, 3}, ad::dtype(f64), &g);  // the loss: sum(y * c)
  const ad::Tensor weight = ad::randn({kC}, ad::dtype(f64), &g), bias = ad::randn({kC}, ad::dtype(f64), &g);

  ad::dist::SyncBatchNorm sync(kC, pg(), {.momentum = 0.3}, f64);
  ad::nn::BatchNorm2d reference(kC, {.momentum = 0.3}, f64);
  for (ad::nn::Module* m : {static_cast<ad::nn::Module*>(&sync), static_cast<ad::nn::Module*>(&reference)}) {
    m->set_param("weight", weight);
    m->set_param("bias", bias);
  }
  for (int step = 0; step < 2; ++step) {
    const ad::Tensor xs = (x_all + 0.5 * step).detach();
    ad::Tensor x_local = ad::slice(xs, 0, first_row(r), first_row(r) + rows_of(r)).contiguous().detach();
    x_local.requires_grad_(true);
    ad::Tensor x_ref = xs.clone().detach();
    x_ref.requires_grad_(true);
    sync.zero_grad();
    reference.zero_grad();

    const ad::Tensor y = sync(x_local);
    const ad::Tensor y_ref = reference(x_ref);
    const ad::Tensor y_ref_mine = ad::slice(y_ref, 0, first_row(r), first_row(r) + rows_of(r));
    EXPECT_LE(max_diff(y, y_ref_mine), 1e-12) << "step " << step;

    ad::sum(y * ad::slice(c_all, 0, first_row(r), first_row(r) + rows_of(r))).backward();
    ad::sum(y_ref * c_all).backward();
    // This rank's input gradient is its rows of the whole batch's; the parameters' gradients
    // summed over the ranks are the whole batch's.
    EXPECT_LE(max_diff(x_local.grad(), ad::slice(x_ref.grad(), 0, first_row(r), first_row(r) + rows_of(r))), 1e-12);
    for (const char* p : {"weight", "bias"}) {
      ad::Tensor total = sync.param(p).grad().clone();
      pg().allreduce(total);
      EXPECT_LE(max_diff(total, reference.param(p).grad()), 1e-12) << p;
    }
    for (const char* b : {"running_mean", "running_var"})
      EXPECT_LE(max_diff(sync.buffer(b), reference.buffer(b)), 1e-12) << b;
    EXPECT_EQ(sync.buffer("num_batches_tracked").item<std::int64_t>(), step + 1);
  }
  // eval(): the running statistics, nothing communicated.
  sync.eval();
  reference.eval();
  const ad::Tensor x_local = ad::slice(x_all, 0, first_row(r), first_row(r) + rows_of(r));
  EXPECT_LE(max_diff(sync(x_local), reference(x_local)), 1e-12);
}

TEST(SyncBatchNorm, HasBatchNormsParametersAndBuffers) {
  ad::dist::SyncBatchNorm sync(kC, pg());
  ad::nn::BatchNorm2d bn(kC);
  std::vector<std::string> a, b;
  for (const auto& [name, t] : sync.named_state()) a.push_back(name);
  for (const auto& [name, t] : bn.named_state()) b.push_back(name);
  EXPECT_EQ(a, b);
}

TEST(SyncBatchNorm, PassesGradcheckAndGradgradcheckOnEveryRank) {
  // Every rank runs gradcheck at once on the same inputs. Each perturbation then moves x[i] on
  // every rank, so the numeric derivative of y_r[j] is sum_q dy_r[j]/dx_q[i], while backward
  // gives sum_q dy_q[j]/dx_r[i] (the gradient of the sum of the ranks' outputs); with equal data
  // on every rank the two are equal by symmetry, so the cross-rank terms are checked too.
  ad::Generator g(9);
  ad::Tensor x = ad::randn({3, 2, 2}, ad::dtype(f64), &g).requires_grad_(true);
  ad::Tensor wt = ad::randn({2}, ad::dtype(f64), &g).requires_grad_(true);
  ad::Tensor bs = ad::randn({2}, ad::dtype(f64), &g).requires_grad_(true);
  auto f = [&](const std::vector<ad::Tensor>& in) {
    return ad::dist::sync_batch_norm(in[0], {}, {}, in[1], in[2], true, 0.1, 1e-5, pg());
  };
  const auto first = ad::gradcheck(f, {x, wt, bs});
  EXPECT_TRUE(first.ok) << first.report;
  const auto second = ad::gradgradcheck(f, {x, wt, bs});
  EXPECT_TRUE(second.ok) << second.report;
}

TEST(SyncBatchNorm, AllReduceSumsAndItsGradientIsTheSumOfTheRanksGradients) {
  const int r = pg().rank(), w = pg().world_size();
  ad::Tensor x = ad::tensor({1.0 + r, 2.0 * r}, ad::dtype(f64));
  x.requires_grad_(true);
  const ad::Tensor y = ad::dist::all_reduce_sum(x, pg());
  const double s = w * (w - 1) / 2.0;
  EXPECT_EQ(y.to_vector(), (std::vector<double>{w + s, 2.0 * s}));
  // Rank q's loss is (q + 1) * sum(y): d(sum of the losses)/dx = sum_q (q + 1) on every element.
  ad::sum(y * (r + 1.0)).backward();
  const double g = w * (w + 1) / 2.0;
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{g, g}));
}

// Linear(5, 4) - norm - Tanh - Linear(4, 2), initialized from seed 3.
std::shared_ptr<ad::nn::Sequential> net(std::shared_ptr<ad::nn::Module> norm) {
  ad::Generator g(3);
  return std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
      std::make_shared<ad::nn::Linear>(5, 4, true, f64, &g), std::move(norm), std::make_shared<ad::nn::Tanh>(),
      std::make_shared<ad::nn::Linear>(4, 2, true, f64, &g)});
}

TEST(SyncBatchNorm, WithDistributedDataParallelTrainsAsOneProcessOnTheWholeBatch) {
  const int r = pg().rank(), w = pg().world_size();
  constexpr std::int64_t kBatch = 12;  // divisible by 1, 2 and 3 ranks
  const std::int64_t part = kBatch / w;
  auto local = net(std::make_shared<ad::dist::SyncBatchNorm>(4, pg(), ad::nn::BatchNormOptions{}, f64));
  auto reference = net(std::make_shared<ad::nn::BatchNorm1d>(4, ad::nn::BatchNormOptions{}, f64));
  ad::dist::DistributedDataParallel ddp(local, pg());
  ad::optim::SGD opt(ddp.parameters(), {.lr = 0.1, .momentum = 0.9});
  ad::optim::SGD ref_opt(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  for (int step = 0; step < 4; ++step) {
    ad::Generator g(50 + static_cast<std::uint64_t>(step));
    const ad::Tensor x = ad::randn({kBatch, 5}, ad::dtype(f64), &g), y = ad::randn({kBatch, 2}, ad::dtype(f64), &g);
    opt.zero_grad();
    ad::nn::mse_loss(ddp(ad::slice(x, 0, r * part, (r + 1) * part)), ad::slice(y, 0, r * part, (r + 1) * part))
        .backward();
    ddp.finish();
    opt.step();
    ref_opt.zero_grad();
    ad::nn::mse_loss((*reference)(x), y).backward();
    ref_opt.step();
    const auto a = local->named_state(), b = reference->named_state();
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_LE(max_diff(a[i].second, b[i].second), 1e-12) << a[i].first << " step " << step;
  }
}

TEST(SyncBatchNorm, BadInputIsAnErrorNamingTheLayer) {
  ad::dist::SyncBatchNorm sync(kC, pg(), {}, f64);
  const std::string wrong = error_of([&] { sync(ad::zeros({4, 2, 3}, ad::dtype(f64))); });
  EXPECT_TRUE(contains(wrong,
                       "SyncBatchNorm: sync_batch_norm: weight, bias and the running statistics must be [2] Float64 "
                       "for an input of shape [4, 2, 3], got [3] Float64"))
      << wrong;
  const std::string flat = error_of([&] { sync(ad::zeros({4}, ad::dtype(f64))); });
  EXPECT_TRUE(contains(flat, "SyncBatchNorm: the input must be [N, C, ...], got shape [4]")) << flat;
  if (pg().world_size() == 1) {
    const std::string one = error_of([&] { sync(ad::zeros({1, kC}, ad::dtype(f64))); });
    EXPECT_TRUE(contains(one, "more than one value per channel")) << one;
  }
  // A rank without samples is an error on every rank, naming it.
  const std::int64_t mine = pg().rank() == pg().world_size() - 1 ? 0 : 2;
  const std::string empty = error_of([&] { sync(ad::zeros({mine, kC}, ad::dtype(f64))); });
  EXPECT_TRUE(contains(empty, "rank(s) " + std::to_string(pg().world_size() - 1) + " have no samples")) << empty;
  EXPECT_THROW(ad::dist::SyncBatchNorm(0, pg()), ad::Error);
  EXPECT_THROW(ad::dist::SyncBatchNorm(2, pg(), {.momentum = 2.0}), ad::Error);
}

}  // namespace
