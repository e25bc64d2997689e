// Parameter groups (optimizer.h): each group steps with its own options and lr, exactly as a
// separate optimizer over that group would; add_param_group, the group checks, and the state of
// several groups (saved, restored, mismatches rejected, the single-group layout of earlier versions).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "adgraph/optim/optim.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;
using Params = std::vector<ad::Tensor>;

ad::Tensor leaf(std::vector<double> v) { return ad::tensor(std::move(v), ad::dtype(ad::kFloat64)).requires_grad_(); }

// loss = sum_i c_i * sum(p_i^2) / 2 + sum(p_i): every parameter gets a different gradient.
void backward_on(const Params& ps) {
  ad::Tensor loss = ad::zeros({}, ad::dtype(ad::kFloat64));
  for (std::size_t i = 0; i < ps.size(); ++i)
    loss = loss + (ad::pow(ps[i], 2.0) * (0.5 * static_cast<double>(i + 1))).sum() + ps[i].sum();
  loss.backward();
}

std::vector<std::vector<double>> values(const Params& ps) {
  std::vector<std::vector<double>> out;
  for (const auto& p : ps) out.push_back(p.to_vector());
  return out;
}

TEST(ParamGroups, EachGroupStepsLikeItsOwnOptimizer) {
  Params a{leaf({1.0, -2.0}), leaf({0.5})}, b{leaf({3.0}), leaf({-1.0, 2.0, 0.25})};
  Params a2{leaf({1.0, -2.0}), leaf({0.5})}, b2{leaf({3.0}), leaf({-1.0, 2.0, 0.25})};
  const ad::optim::AdamOptions fast{.lr = 0.1, .betas = {0.8, 0.99}, .weight_decay = 0.01, .amsgrad = true};
  ad::optim::Adam grouped({{.params = a}, {.params = b, .options = fast}}, {.lr = 0.01});
  ad::optim::Adam alone_a(a2, {.lr = 0.01}), alone_b(b2, fast);
  EXPECT_EQ(grouped.num_param_groups(), 2u);
  EXPECT_EQ(grouped.params().size(), 4u);
  EXPECT_EQ(grouped.lr(1), 0.1);
  EXPECT_EQ(grouped.options(1).betas.first, 0.8);
  EXPECT_EQ(grouped.options(0).betas.first, 0.9);  // the defaults
  for (int i = 0; i < 4; ++i) {
    grouped.zero_grad();
    alone_a.zero_grad();
    alone_b.zero_grad();
    backward_on({a[0], a[1], b[0], b[1]});
    backward_on({a2[0], a2[1], b2[0], b2[1]});
    grouped.step();
    alone_a.step();
    alone_b.step();
  }
  EXPECT_EQ(values(a), values(a2));
  EXPECT_EQ(values(b), values(b2));
  EXPECT_NE(values(a), values({leaf({1.0, -2.0}), leaf({0.5})}));
  EXPECT_EQ(grouped.group_of(2), 1u);
  EXPECT_EQ(grouped.group_params(1)[1].impl(), b[1].impl());
}

TEST(ParamGroups, AddParamGroupUsesTheDefaultsAndStartsWithoutState) {
  Params a{leaf({1.0})}, b{leaf({2.0})};
  ad::optim::SGD opt(a, {.lr = 0.1, .momentum = 0.9});
  opt.zero_grad();
  backward_on({a[0]});
  opt.step();
  opt.add_param_group({.params = b});
  EXPECT_EQ(opt.num_param_groups(), 2u);
  EXPECT_EQ(opt.options(1).momentum, 0.9);
  EXPECT_EQ(opt.state(1).step, 0);
  opt.zero_grad();
  backward_on({a[0], b[0]});  // b's gradient: 2 * 2 + 1 = 5
  opt.step();
  EXPECT_DOUBLE_EQ(b[0].item(), 2.0 - 0.1 * 5.0);  // first momentum step: the buffer is the gradient
  opt.add_param_group({.params = {leaf({0.0})}, .options = ad::optim::SGDOptions{.lr = 0.5}});
  EXPECT_EQ(opt.lr(2), 0.5);
  EXPECT_EQ(opt.options(2).momentum, 0.0);
}

TEST(ParamGroups, BadGroupsAreRejectedNamingTheGroup) {
  Params a{leaf({1.0})}, b{leaf({2.0})};
  ad::optim::SGD opt({{.params = a}, {.params = b}}, {.lr = 0.1});
  EXPECT_TRUE(contains(error_of([&] { opt.add_param_group({.params = {a[0]}}); }),
                       "SGD: param group 2: parameter 2 is the same tensor as parameter 0 (group 0); pass each "
                       "once, in one group"));
  EXPECT_TRUE(contains(error_of([&] { opt.add_param_group({.params = {}}); }),
                       "SGD: param group 2: got an empty parameter list"));
  EXPECT_TRUE(contains(error_of([&] {
                         opt.add_param_group(
                             {.params = {leaf({0.0})}, .options = ad::optim::SGDOptions{.momentum = -1}});
                       }),
                       "SGD: param group 2: momentum must be finite and >= 0, got -1"));
  EXPECT_EQ(opt.num_param_groups(), 2u);  // nothing was added
  EXPECT_EQ(opt.params().size(), 2u);
  EXPECT_TRUE(contains(error_of([&] {
                         ad::optim::SGD({{.params = a}, {.params = a}}, {.lr = 0.1});
                       }),
                       "SGD: param group 1: parameter 1 is the same tensor as parameter 0"));
  EXPECT_TRUE(contains(error_of([&] { ad::optim::SGD(std::vector<ad::optim::SGD::Group>{}, {.lr = 0.1}); }),
                       "SGD: got no parameter groups"));
  EXPECT_TRUE(contains(error_of([&] { (void)opt.lr(5); }), "SGD::lr: param group 5 does not exist"));
  EXPECT_TRUE(contains(error_of([&] { opt.set_lr(1, -1.0); }), "SGD: param group 1: lr must be finite and >= 0"));
  opt.set_lr(1, 0.25);
  EXPECT_EQ(opt.lr(0), 0.1);
  EXPECT_EQ(opt.lr(1), 0.25);
  opt.set_lr(0.5);  // every group
  EXPECT_EQ(opt.lr(1), 0.5);
}

TEST(ParamGroups, AdamWGroupsKeepAdamWsDefaultWeightDecay) {
  Params a{leaf({1.0})}, b{leaf({2.0})};
  ad::optim::AdamW opt({{.params = a}, {.params = b, .options = ad::optim::AdamWOptions{.lr = 0.5}}}, {});
  EXPECT_EQ(opt.options(0).weight_decay, 1e-2);
  EXPECT_EQ(opt.options(1).weight_decay, 1e-2);
  opt.add_param_group({.params = {leaf({3.0})}});
  EXPECT_EQ(opt.options(2).weight_decay, 1e-2);
}

TEST(ParamGroups, StateOfSeveralGroupsRoundTripsAndMismatchesAreRejected) {
  auto make = [](Params& p, double lr1) {
    return std::make_unique<ad::optim::RMSprop>(
        std::vector<ad::optim::RMSprop::Group>{
            {.params = {p[0]}},
            {.params = {p[1], p[2]}, .options = ad::optim::RMSpropOptions{.lr = lr1, .momentum = 0.5}}},
        ad::optim::RMSpropOptions{.lr = 0.01});
  };
  Params p{leaf({1.0}), leaf({2.0, 3.0}), leaf({-1.0})}, q{leaf({1.0}), leaf({2.0, 3.0}), leaf({-1.0})};
  auto opt = make(p, 0.05), twin = make(q, 0.05);
  for (int i = 0; i < 3; ++i) {
    opt->zero_grad();
    backward_on(p);
    opt->step();
  }
  opt->set_lr(1, 0.02);
  twin->load_state_dict(opt->state_dict());
  // twin's parameters are still the initial ones: copy the trained values in, then both step alike
  {
    ad::NoGradGuard no_grad;
    for (std::size_t i = 0; i < p.size(); ++i) q[i].copy_(p[i]);
  }
  EXPECT_EQ(twin->lr(1), 0.02);
  for (int i = 0; i < 2; ++i) {
    opt->zero_grad();
    twin->zero_grad();
    backward_on(p);
    backward_on(q);
    opt->step();
    twin->step();
  }
  EXPECT_EQ(values(p), values(q));

  Params r{leaf({1.0}), leaf({2.0, 3.0}), leaf({-1.0})};
  auto other = make(r, 0.05);
  other->add_param_group({.params = {leaf({0.0})}});
  EXPECT_TRUE(contains(error_of([&] { other->load_state_dict(opt->state_dict()); }), "missing entry 'group.2.params'"));
  Params s{leaf({1.0}), leaf({2.0, 3.0})};
  ad::optim::RMSprop split(std::vector<ad::optim::RMSprop::Group>{{.params = {s[0], s[1]}}}, {.lr = 0.01});
  EXPECT_TRUE(contains(error_of([&] { split.load_state_dict(opt->state_dict()); }),
                       "param group 0 has 1 parameters in the state but 2 in this optimizer"));
}

// A state saved before parameter groups existed ("lr", "options.<name>") still loads into a
// single-group optimizer.
TEST(ParamGroups, TheSingleGroupLayoutOfEarlierVersionsLoads) {
  Params p{leaf({1.0, 2.0})};
  ad::optim::Adam opt(p, {.lr = 0.01});
  opt.zero_grad();
  backward_on(p);
  opt.step();
  opt.set_lr(0.003);
  ad::NamedTensors legacy;
  for (const auto& [key, t] : opt.state_dict()) {
    if (key == "group.0.params") continue;
    if (key.starts_with("group.0."))
      legacy.emplace_back(key.substr(std::string("group.0.").size()), t);
    else
      legacy.emplace_back(key, t);
  }
  ASSERT_EQ(legacy[1].first, "lr");
  Params q{leaf({1.0, 2.0})};
  ad::optim::Adam restored(q, {.lr = 0.01});
  restored.load_state_dict(legacy);
  EXPECT_EQ(restored.lr(), 0.003);
  EXPECT_EQ(restored.step_count(), 1);
  EXPECT_EQ(restored.state(0).buffers.at("exp_avg").to_vector(), opt.state(0).buffers.at("exp_avg").to_vector());
}

}  // namespace
