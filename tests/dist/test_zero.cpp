// ZeroRedundancyOptimizer (dist/zero.h), run under mpirun with any number of ranks (and alone):
// every rank computes the same full-batch gradient, so the sharded optimizer must take exactly
// the steps one plain optimizer takes; each rank holds the state of its own parameters only; the
// consolidated state is the plain optimizer's state, so it loads into a sharded optimizer of any
// world size.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/dist/process_group.h"
#include "adgraph/dist/zero.h"
#include "adgraph/optim/adam.h"
#include "tests/test_util.h"

namespace {

using Params = std::vector<ad::Tensor>;

Params make_params() {
  ad::Generator g(4);
  Params p;
  for (const ad::Shape& s : std::vector<ad::Shape>{{5, 3}, {3}, {4, 5}, {4}, {2, 4}, {2}, {7}})
    p.push_back(ad::randn(s, ad::dtype(ad::kFloat64), &g).requires_grad_());
  return p;
}

// A loss every rank computes alike: sum_i c_i sum(sin(p_i) * p_i).
void backward_on(const Params& ps, int step) {
  ad::Tensor loss = ad::zeros({}, ad::dtype(ad::kFloat64));
  for (std::size_t i = 0; i < ps.size(); ++i)
    loss = loss + (ad::sin(ps[i]) * ps[i]).sum() * (0.5 + 0.1 * static_cast<double>(i) + 0.01 * step);
  loss.backward();
}

std::unique_ptr<ad::optim::Optimizer> adam(Params p) {
  return std::make_unique<ad::optim::Adam>(std::move(p), ad::optim::AdamOptions{.lr = 0.05, .weight_decay = 0.01});
}

std::vector<std::vector<double>> values(const Params& ps) {
  std::vector<std::vector<double>> out;
  for (const auto& p : ps) out.push_back(p.to_vector());
  return out;
}

TEST(ZeroRedundancyOptimizer, TakesThePlainOptimizersStepsWithItsStateSharded) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  Params sharded = make_params(), plain = make_params();
  ad::dist::ZeroRedundancyOptimizer zero(sharded, pg, adam);
  const auto reference = adam(plain);
  for (int step = 0; step < 4; ++step) {
    zero.zero_grad();
    reference->zero_grad();
    backward_on(sharded, step);
    backward_on(plain, step);
    zero.step();
    reference->step();
    ASSERT_EQ(values(sharded), values(plain)) << "step " << step;
  }
  // Each rank holds the moments of its own parameters only; together they cover every one.
  std::vector<std::int64_t> owned(static_cast<std::size_t>(pg.world_size()), 0);
  for (std::size_t i = 0; i < sharded.size(); ++i) ++owned[static_cast<std::size_t>(zero.owner(i))];
  EXPECT_EQ(static_cast<std::int64_t>(zero.own_params().size()), owned[static_cast<std::size_t>(pg.rank())]);
  EXPECT_EQ(zero.local().params().size(), zero.own_params().size());
  for (std::int64_t n : owned) EXPECT_GE(n, 1);
}

TEST(ZeroRedundancyOptimizer, TheConsolidatedStateIsThePlainOnesAndLoadsAtAnyWorldSize) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  Params sharded = make_params(), plain = make_params();
  ad::dist::ZeroRedundancyOptimizer zero(sharded, pg, adam);
  const auto reference = adam(plain);
  for (int step = 0; step < 3; ++step) {
    zero.zero_grad();
    reference->zero_grad();
    backward_on(sharded, step);
    backward_on(plain, step);
    zero.step();
    reference->step();
  }
  const ad::NamedTensors consolidated = zero.consolidated_state_dict();
  const ad::NamedTensors expected = reference->state_dict();
  ASSERT_EQ(consolidated.size(), expected.size());
  std::map<std::string, std::vector<double>> a, b;
  for (const auto& [k, t] : consolidated) a[k] = t.to_vector();
  for (const auto& [k, t] : expected) b[k] = t.to_vector();
  EXPECT_EQ(a, b);

  // The plain optimizer's state (what any world size consolidates to) into a fresh sharded one:
  // it continues exactly as the plain optimizer does.
  Params resumed = make_params();
  {
    ad::NoGradGuard no_grad;
    for (std::size_t i = 0; i < resumed.size(); ++i) resumed[i].copy_(plain[i]);
  }
  ad::dist::ZeroRedundancyOptimizer again(resumed, pg, adam);
  again.load_state_dict(expected);
  for (int step = 3; step < 5; ++step) {
    again.zero_grad();
    reference->zero_grad();
    backward_on(resumed, step);
    backward_on(plain, step);
    again.step();
    reference->step();
    ASSERT_EQ(values(resumed), values(plain)) << "step " << step;
  }
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([&] { again.load_state_dict({}); }),
                                    "not a consolidated optimizer state"));
}

TEST(ZeroRedundancyOptimizer, NeedsAParameterPerRank) {
  ad::dist::ProcessGroup& pg = ad::dist::world();
  const Params one{make_params()[0]};
  if (pg.world_size() == 1) {
    EXPECT_NO_THROW(ad::dist::ZeroRedundancyOptimizer(one, pg, adam));
    return;
  }
  EXPECT_TRUE(ad::testing::contains(ad::testing::error_of([&] { ad::dist::ZeroRedundancyOptimizer(one, pg, adam); }),
                                    "every rank must own at least one"));
}

}  // namespace
