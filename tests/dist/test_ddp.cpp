// DistributedDataParallel (dist/ddp.h), run alone and under mpirun with 2 and 3 ranks: each rank
// trains on its slice of every global batch and must take the steps one process takes on the
// whole batch (float64, to summation rounding), with the parameters bit-identical on every rank;
// summed in rank order, exactly the steps of one process accumulating the shards in turn.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/dist/ddp.h"
#include "adgraph/dist/process_group.h"
#include "adgraph/nn/nn.h"
#include "adgraph/optim/adam.h"
#include "adgraph/optim/sgd.h"
#include "tests/test_util.h"

namespace {

using ad::dist::DDPOptions;
using ad::dist::DistributedDataParallel;
using ad::testing::contains;
using ad::testing::error_of;

constexpr std::int64_t kBatch = 12;  // divisible by 1, 2, 3 and 4 ranks
const auto f64 = ad::kFloat64;

// Linear(5, 8) - Tanh - Linear(8, 6) - Tanh - Linear(6, 2), initialized from `seed`.
std::shared_ptr<ad::nn::Sequential> mlp(std::uint64_t seed, ad::Dtype dt = f64) {
  ad::Generator g(seed);
  return std::make_shared<ad::nn::Sequential>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
      std::make_shared<ad::nn::Linear>(5, 8, true, dt, &g), std::make_shared<ad::nn::Tanh>(),
      std::make_shared<ad::nn::Linear>(8, 6, true, dt, &g), std::make_shared<ad::nn::Tanh>(),
      std::make_shared<ad::nn::Linear>(6, 2, true, dt, &g)});
}

struct Data {
  ad::Tensor x, y;  // [kBatch, 5], [kBatch, 2]
};
Data batch(int step) {
  ad::Generator g(1000 + static_cast<std::uint64_t>(step));
  return {ad::randn({kBatch, 5}, ad::dtype(f64), &g), ad::randn({kBatch, 2}, ad::dtype(f64), &g)};
}

// Rows [begin, end) of this rank's part when `parts` ranks share kBatch rows.
ad::Tensor rows(const ad::Tensor& t, int part, int parts) {
  const std::int64_t n = kBatch / parts;
  return ad::slice(t, 0, part * n, (part + 1) * n);
}

double max_rel_diff(const std::vector<ad::Tensor>& a, const std::vector<ad::Tensor>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto u = a[i].to_vector(), v = b[i].to_vector();
    for (std::size_t j = 0; j < u.size(); ++j)
      worst = std::max(worst, std::abs(u[j] - v[j]) / std::max(1.0, std::abs(v[j])));
  }
  return worst;
}

// True when every rank holds these exact bits.
bool same_on_every_rank(ad::dist::ProcessGroup& pg, const std::vector<ad::Tensor>& ts) {
  std::vector<ad::Tensor> flat;
  for (const auto& t : ts) flat.push_back(ad::reshape(t.detach(), {-1}));
  const ad::Tensor all = pg.allgather(ad::cat(flat, 0).contiguous()).contiguous();  // [W, n]
  const auto v = all.to_vector();
  const std::size_t n = v.size() / static_cast<std::size_t>(pg.world_size());
  for (std::size_t i = n; i < v.size(); ++i)
    if (std::memcmp(&v[i], &v[i % n], sizeof(double)) != 0) return false;
  return true;
}

std::vector<ad::Tensor> tensors(const ad::nn::Module& m) {
  std::vector<ad::Tensor> out;
  for (const auto& [name, t] : m.named_parameters()) out.push_back(t);
  return out;
}

// One step of both: the wrapper on this rank's slice of `step`'s batch, the reference on all of it
// (zero_grad(set_to_none) for the wrapper's optimizer).
void step_both(DistributedDataParallel& ddp, ad::optim::Optimizer& opt, ad::nn::Module& reference,
               ad::optim::Optimizer& ref_opt, int step, bool set_to_none = true) {
  const int w = ddp.process_group().world_size(), r = ddp.process_group().rank();
  const Data d = batch(step);
  opt.zero_grad(set_to_none);
  ad::nn::mse_loss(ddp(rows(d.x, r, w)), rows(d.y, r, w)).backward();
  ddp.finish();
  opt.step();
  ref_opt.zero_grad();
  ad::nn::mse_loss(reference(d.x), d.y).backward();
  ref_opt.step();
}

// Several steps of Adam with the given bucket cap: DDP on this rank's slice equals one process on
// the whole batch, and every rank holds the same bits.
void expect_matches_one_process(double bucket_cap_mb) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int r = pg.rank();
  // Each rank starts from other weights: construction must broadcast rank 0's (seed 7).
  auto local = mlp(7 + static_cast<std::uint64_t>(r));
  auto reference = mlp(7);
  DistributedDataParallel ddp(local, pg, DDPOptions{.bucket_cap_mb = bucket_cap_mb, .first_bucket_cap_mb = 1.0});
  ASSERT_EQ(max_rel_diff(tensors(*local), tensors(*reference)), 0.0);
  ad::optim::Adam opt(ddp.parameters(), {.lr = 0.01});
  ad::optim::Adam ref_opt(reference->parameters(), {.lr = 0.01});
  for (int step = 0; step < 5; ++step) {
    step_both(ddp, opt, *reference, ref_opt, step);
    EXPECT_LE(max_rel_diff(tensors(*local), tensors(*reference)), 1e-12) << "step " << step;
    ASSERT_TRUE(same_on_every_rank(pg, tensors(*local))) << "step " << step;
  }
  // Every gradient was reduced while backward ran (from the hooks), in the buckets' order.
  const auto& st = ddp.last_step();
  std::int64_t numel = 0;
  for (const auto& t : tensors(*local)) numel += t.numel();
  const std::int64_t sent = pg.world_size() > 1 ? numel * 8 : 0;  // alone nothing is sent
  EXPECT_EQ(st.bytes_reduced, sent);
  EXPECT_EQ(ddp.steps(), 5);
  EXPECT_EQ(ddp.total_bytes_reduced(), 5 * sent);
  ASSERT_EQ(st.buckets.size(), ddp.bucket_names().size());
  for (const auto& b : st.buckets) {
    EXPECT_TRUE(b.launched_in_backward);
    EXPECT_LE(b.started_at, b.finished_at);
    EXPECT_LE(b.launched_at, b.started_at + 1e-9);
  }
  for (std::size_t k = 1; k < st.buckets.size(); ++k)
    EXPECT_GE(st.buckets[k].started_at, st.buckets[k - 1].finished_at - 1e-9);  // FIFO
  EXPECT_GE(st.hidden_fraction(), 0.0);
  EXPECT_LE(st.hidden_fraction(), 1.0);
}

TEST(DistributedDataParallel, MatchesOneProcessOnTheWholeBatchInOneBucket) { expect_matches_one_process(25.0); }

TEST(DistributedDataParallel, MatchesOneProcessOnTheWholeBatchInManyBuckets) {
  expect_matches_one_process(100.0 / (1024.0 * 1024.0));  // 100 bytes: every tensor alone
}

// The same bits in every parameter of the two models.
bool same_bits(const ad::nn::Module& a, const ad::nn::Module& b) {
  const auto u = tensors(a), v = tensors(b);
  for (std::size_t i = 0; i < u.size(); ++i) {
    const auto x = u[i].to_vector(), y = v[i].to_vector();  // float32 converts to double exactly
    if (x.size() != y.size() || std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) != 0) return false;
  }
  return true;
}

// With reduce_order = Ranks, W ranks take exactly the Adam steps of one process that runs the W
// shards of each batch in rank order, accumulating their gradients, and then divides by W.
void expect_rank_order_equals_one_process_bit_for_bit(ad::Dtype dt, double bucket_cap_mb) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int w = pg.world_size(), r = pg.rank();
  auto local = mlp(21 + static_cast<std::uint64_t>(r), dt);
  auto reference = mlp(21, dt);
  DistributedDataParallel ddp(local, pg,
                              DDPOptions{.bucket_cap_mb = bucket_cap_mb,
                                         .first_bucket_cap_mb = bucket_cap_mb,
                                         .reduce_order = ad::dist::ReduceOrder::Ranks});
  ad::optim::Adam opt(ddp.parameters(), {.lr = 0.01});
  ad::optim::Adam ref_opt(reference->parameters(), {.lr = 0.01});
  for (int step = 0; step < 6; ++step) {
    const Data d = batch(step);
    const ad::Tensor x = d.x.to(dt), y = d.y.to(dt);
    opt.zero_grad(step % 2 == 0);  // a fresh .grad, then one zeroed in place in the bucket
    ad::nn::mse_loss(ddp(rows(x, r, w)), rows(y, r, w)).backward();
    ddp.finish();
    opt.step();
    ref_opt.zero_grad();
    for (int q = 0; q < w; ++q) ad::nn::mse_loss((*reference)(rows(x, q, w)), rows(y, q, w)).backward();
    {
      ad::NoGradGuard no_grad;
      for (auto& p : reference->parameters()) p.grad().mul_(1.0 / w);
    }
    ref_opt.step();
    ASSERT_TRUE(same_bits(*local, *reference)) << ad::dtype_name(dt) << " step " << step;
  }
}

TEST(DistributedDataParallel, InRankOrderItEqualsOneProcessAccumulatingTheShardsBitForBit) {
  for (ad::Dtype dt : {ad::kFloat64, ad::kFloat32}) {
    expect_rank_order_equals_one_process_bit_for_bit(dt, 25.0);                       // one bucket
    expect_rank_order_equals_one_process_bit_for_bit(dt, 100.0 / (1024.0 * 1024.0));  // many
  }
}

TEST(DistributedDataParallel, BucketsHoldTheParametersInReverseOrderUnderTheirCaps) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  auto model = mlp(7);
  // Cap 400 bytes (50 doubles), from the last parameter back: 4.bias (2) + 4.weight (12) + 2.bias (6);
  // 2.weight (48) alone; 0.bias (8) + 0.weight (40).
  DistributedDataParallel ddp(model, pg,
                              DDPOptions{.bucket_cap_mb = 400.0 / (1024.0 * 1024.0), .first_bucket_cap_mb = 1.0});
  const auto names = ddp.bucket_names();
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], (std::vector<std::string>{"4.bias", "4.weight", "2.bias"}));
  EXPECT_EQ(names[1], (std::vector<std::string>{"2.weight"}));
  EXPECT_EQ(names[2], (std::vector<std::string>{"0.bias", "0.weight"}));
  EXPECT_EQ(ddp.named_parameters().front().first, "module.0.weight");
}

TEST(DistributedDataParallel, NoSyncAccumulatesMicroBatchesThenReducesTheSum) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int w = pg.world_size(), r = pg.rank();
  auto local = mlp(11);
  auto reference = mlp(11);
  DistributedDataParallel ddp(local, pg, DDPOptions{.bucket_cap_mb = 200.0 / (1024.0 * 1024.0)});
  ad::optim::SGD opt(ddp.parameters(), {.lr = 0.1, .momentum = 0.9});
  ad::optim::SGD ref_opt(reference->parameters(), {.lr = 0.1, .momentum = 0.9});
  for (int step = 0; step < 3; ++step) {
    const Data d = batch(step);
    // Two micro-batches per rank: 2W parts of the batch; this rank takes parts r and W + r.
    opt.zero_grad();
    const std::int64_t before = ddp.steps();
    {
      auto scope = ddp.no_sync();
      EXPECT_FALSE(ddp.require_grad_sync());
      (ad::nn::mse_loss(ddp(rows(d.x, r, 2 * w)), rows(d.y, r, 2 * w)) * 0.5).backward();
      ddp.finish();  // nothing inside no_sync
    }
    EXPECT_TRUE(ddp.require_grad_sync());
    EXPECT_EQ(ddp.steps(), before);
    (ad::nn::mse_loss(ddp(rows(d.x, w + r, 2 * w)), rows(d.y, w + r, 2 * w)) * 0.5).backward();
    ddp.finish();
    EXPECT_EQ(ddp.steps(), before + 1);
    opt.step();
    ref_opt.zero_grad();
    ad::nn::mse_loss((*reference)(d.x), d.y).backward();
    ref_opt.step();
    EXPECT_LE(max_rel_diff(tensors(*local), tensors(*reference)), 1e-12) << "step " << step;
    ASSERT_TRUE(same_on_every_rank(pg, tensors(*local)));
  }
}

// Two heads; forward uses head b only when `use_b` (which may differ across ranks).
class TwoHeads : public ad::nn::Module {
 public:
  explicit TwoHeads(std::uint64_t seed) {
    ad::Generator g(seed);
    a_ = register_module("a", std::make_shared<ad::nn::Linear>(5, 2, true, f64, &g));
    b_ = register_module("b", std::make_shared<ad::nn::Linear>(5, 2, true, f64, &g));
  }
  using Module::forward;
  ad::Tensor forward(const ad::Tensor& x) const override {
    ad::Tensor y = (*a_)(x);
    return use_b ? y + (*b_)(x) : y;
  }
  bool use_b = true;

 private:
  std::shared_ptr<ad::nn::Linear> a_, b_;
};

TEST(DistributedDataParallel, AParameterWithoutGradientIsAnErrorNamingIt) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  auto model = std::make_shared<TwoHeads>(3);
  DistributedDataParallel ddp(model, pg);
  const Data d = batch(0);
  model->use_b = false;
  ad::nn::mse_loss(ddp(rows(d.x, pg.rank(), pg.world_size())), rows(d.y, pg.rank(), pg.world_size())).backward();
  const std::string e = error_of([&] { ddp.finish(); });
  EXPECT_TRUE(contains(e, "parameters got no gradient in this iteration: b.weight, b.bias")) << e;
  EXPECT_TRUE(contains(e, "find_unused_parameters = true")) << e;
  // The wrapper is usable afterwards: the next iteration with both heads reduces normally.
  model->use_b = true;
  for (auto& p : ddp.parameters()) p.set_grad(ad::Tensor());
  ad::nn::mse_loss(ddp(rows(d.x, pg.rank(), pg.world_size())), rows(d.y, pg.rank(), pg.world_size())).backward();
  EXPECT_NO_THROW(ddp.finish());
}

TEST(DistributedDataParallel, FindUnusedParametersReducesThemAsZeros) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int w = pg.world_size(), r = pg.rank();
  auto model = std::make_shared<TwoHeads>(3);
  DistributedDataParallel ddp(model, pg, DDPOptions{.find_unused_parameters = true});
  const Data d = batch(1);
  // Head b is used on rank 0 only: its gradient is rank 0's divided by the world size.
  model->use_b = r == 0;
  ad::nn::mse_loss(ddp(rows(d.x, r, w)), rows(d.y, r, w)).backward();
  ddp.finish();
  auto ref = std::make_shared<TwoHeads>(3);
  ad::nn::mse_loss((*ref)(rows(d.x, 0, w)), rows(d.y, 0, w)).backward();
  const auto got = model->named_parameters(), want = ref->named_parameters();
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i].first.rfind("b.", 0) != 0) continue;
    ASSERT_TRUE(got[i].second.grad().defined()) << got[i].first;
    const auto g = got[i].second.grad().to_vector(), g0 = want[i].second.grad().to_vector();
    for (std::size_t j = 0; j < g.size(); ++j) EXPECT_NEAR(g[j], g0[j] / w, 1e-15) << got[i].first;
  }
  // Unused on every rank: the gradient stays undefined, as in one process.
  for (auto& p : ddp.parameters()) p.set_grad(ad::Tensor());
  model->use_b = false;
  ad::nn::mse_loss(ddp(rows(d.x, r, w)), rows(d.y, r, w)).backward();
  ddp.finish();
  for (const auto& [name, t] : model->named_parameters()) EXPECT_EQ(t.grad().defined(), name[0] == 'a') << name;
}

TEST(DistributedDataParallel, BackwardTwiceWithoutFinishIsAnErrorInTheSecondBackward) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  auto model = mlp(5);
  DistributedDataParallel ddp(model, pg);
  const Data d = batch(0);
  ad::nn::mse_loss(ddp(d.x), d.y).backward();
  const std::vector<double> sent = model->named_parameters().back().second.grad().to_vector();
  const std::string e = error_of([&] { ad::nn::mse_loss(ddp(d.x), d.y).backward(); });
  EXPECT_TRUE(contains(e, "would be accumulated again after its bucket was sent")) << e;
  EXPECT_TRUE(contains(e, "no_sync")) << e;
  // Nothing was added to the gradient being reduced, and finish() completes the first iteration.
  ddp.finish();
  EXPECT_EQ(ddp.steps(), 1);
  EXPECT_EQ(model->named_parameters().back().second.grad().shape(), (ad::Shape{2}));
  (void)sent;
}

// The averaged gradients are views of the buckets; an optimizer that zeroes them in place makes
// the next backward accumulate straight into the bucket, with the same result.
TEST(DistributedDataParallel, GradientsAreViewsOfTheBucketsAndZeroingInPlaceWorks) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int w = pg.world_size();
  auto local = mlp(8), reference = mlp(8);
  DistributedDataParallel ddp(local, pg, DDPOptions{.bucket_cap_mb = 200.0 / (1024.0 * 1024.0)});
  ad::optim::SGD opt(ddp.parameters(), {.lr = 0.1});
  ad::optim::SGD ref_opt(reference->parameters(), {.lr = 0.1});
  for (int step = 0; step < 3; ++step) {
    step_both(ddp, opt, *reference, ref_opt, step, /*set_to_none=*/false);
    EXPECT_LE(max_rel_diff(tensors(*local), tensors(*reference)), 1e-12) << "step " << step;
  }
  // Two parameters of one bucket: their .grad share one storage (alone nothing is sent, and .grad
  // is what backward accumulated).
  const auto ps = local->named_parameters();
  EXPECT_EQ(ps[4].second.grad().impl()->storage == ps[5].second.grad().impl()->storage, w > 1);
}

TEST(DistributedDataParallel, BuffersComeFromRankZeroBeforeEachForward) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int r = pg.rank();
  auto bn = std::make_shared<ad::nn::BatchNorm1d>(3, ad::nn::BatchNormOptions{}, f64);
  DistributedDataParallel ddp(bn, pg);
  // Training on each rank's own data leaves each rank its own running statistics...
  ad::Generator g(50 + static_cast<std::uint64_t>(r));
  (void)ddp(ad::randn({8, 3}, ad::dtype(f64), &g) + static_cast<double>(r));
  std::vector<ad::Tensor> stats;
  for (const auto& [name, t] : bn->named_buffers())
    if (t.dtype() == f64) stats.push_back(t);
  ASSERT_EQ(stats.size(), 2u);  // running_mean, running_var
  const std::vector<double> mine = stats[0].to_vector();
  ad::Tensor from0 = stats[0].clone();
  pg.broadcast(from0, 0);
  // ...and the next forward (eval) starts by taking rank 0's.
  bn->eval();
  (void)ddp(ad::zeros({2, 3}, ad::dtype(f64)));
  EXPECT_EQ(stats[0].to_vector(), from0.to_vector());
  EXPECT_TRUE(same_on_every_rank(pg, stats));
  if (r == 0) {
    EXPECT_EQ(stats[0].to_vector(), mine);
  }
}

TEST(DistributedDataParallel, ModelsThatDifferAcrossRanksAreAnErrorAtConstruction) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const int r = pg.rank();
  // Rank 1 builds Linear(5, 3); the others Linear(5, 2).
  ad::Generator g(1);
  auto model = std::make_shared<ad::nn::Linear>(5, r == 1 ? 3 : 2, true, f64, &g);
  if (pg.world_size() == 1) {
    EXPECT_NO_THROW(DistributedDataParallel(model, pg));  // alone, a model agrees with itself
    return;
  }
  const std::string e = error_of([&] { DistributedDataParallel ddp(model, pg); });
  EXPECT_TRUE(contains(e, "the ranks' models differ")) << e;
  EXPECT_TRUE(contains(e, "rank 0 has parameter 'weight' Float64 [2, 5]")) << e;
  EXPECT_TRUE(contains(e, "rank 1 has parameter 'weight' Float64 [3, 5]")) << e;
  EXPECT_TRUE(contains(e, "build the same model on every rank")) << e;
  // The group still works afterwards.
  ad::Tensor one = ad::ones({1}, ad::dtype(f64));
  pg.allreduce(one, ad::dist::ReduceOp::Sum);
  EXPECT_EQ(one.item(), pg.world_size());
}

TEST(DistributedDataParallel, BadOptionsAreErrors) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  EXPECT_TRUE(contains(error_of([&] { DistributedDataParallel(nullptr, pg); }), "module is null"));
  EXPECT_TRUE(contains(error_of([&] { DistributedDataParallel(mlp(1), pg, DDPOptions{.bucket_cap_mb = 0}); }),
                       "bucket_cap_mb and first_bucket_cap_mb must be > 0"));
}

}  // namespace
