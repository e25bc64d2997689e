// Optimizer state: a run resumed from state_dict (or a safetensors file) takes a bit-identical
// next step, for every optimizer; invalid states are rejected with a clear message and leave the
// optimizer exactly as it was. The fused and the in-place paths of the updates agree bit for bit.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/linear.h"
#include "adgraph/optim/optim.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::testing::contains;
using ad::testing::error_of;

using Params = std::vector<ad::Tensor>;
using Factory = std::function<std::unique_ptr<ad::optim::Optimizer>(Params)>;

// A least-squares problem y = x W^T + b with fixed data: the gradients come from backward.
struct Problem {
  ad::Tensor x =
      ad::tensor({0.5, -1.0, 2.0, 1.5, 0.0, -0.5, -2.0, 1.0, 0.25, 1.0, 1.0, 1.0}, {4, 3}, ad::dtype(ad::kFloat64));
  ad::Tensor y = ad::tensor({1.0, 0.0, -1.0, 2.0, 0.5, 0.5, 3.0, -1.0}, {4, 2}, ad::dtype(ad::kFloat64));

  static Params initial() {
    return {ad::tensor({0.1, -0.2, 0.3, 0.4, 0.5, -0.6}, {2, 3}, ad::dtype(ad::kFloat64)).requires_grad_(),
            ad::tensor({0.05, -0.05}, ad::dtype(ad::kFloat64)).requires_grad_()};
  }
  void train_step(const Params& p, ad::optim::Optimizer& opt) const {
    opt.zero_grad();
    const ad::Tensor pred = ad::matmul_t(x, p[0], false, true) + p[1];
    ad::mean(ad::pow(pred - y, 2.0)).backward();
    opt.step();
  }
};

Params copy_of(const Params& ps) {
  Params out;
  ad::NoGradGuard no_grad;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

std::vector<std::vector<double>> values(const Params& ps) {
  std::vector<std::vector<double>> out;
  for (const auto& p : ps) out.push_back(p.to_vector());
  return out;
}

struct Case {
  std::string name;
  Factory make;
  bool stateful;  // the next step depends on more than the parameters and lr
};

template <class Opt, class Options>
Factory factory(Options o) {
  return [o](Params p) -> std::unique_ptr<ad::optim::Optimizer> { return std::make_unique<Opt>(std::move(p), o); };
}

std::vector<Case> cases() {
  return {
      {"SGD", factory<ad::optim::SGD>(ad::optim::SGDOptions{.lr = 0.05}), false},
      {"SGDNesterov",
       factory<ad::optim::SGD>(
           ad::optim::SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01}),
       true},
      {"SGDDampening", factory<ad::optim::SGD>(ad::optim::SGDOptions{.lr = 0.05, .momentum = 0.5, .dampening = 0.3}),
       true},
      {"Adagrad",
       factory<ad::optim::Adagrad>(ad::optim::AdagradOptions{
           .lr = 0.1, .lr_decay = 0.01, .weight_decay = 0.01, .initial_accumulator_value = 0.1}),
       true},
      {"RMSprop", factory<ad::optim::RMSprop>(ad::optim::RMSpropOptions{.lr = 0.01}), true},
      {"RMSpropCenteredMomentum",
       factory<ad::optim::RMSprop>(
           ad::optim::RMSpropOptions{.lr = 0.01, .weight_decay = 0.01, .momentum = 0.9, .centered = true}),
       true},
      {"Adadelta", factory<ad::optim::Adadelta>(ad::optim::AdadeltaOptions{.weight_decay = 0.01}), true},
      {"Adam", factory<ad::optim::Adam>(ad::optim::AdamOptions{.lr = 0.01}), true},
      {"AdamL2Amsgrad",
       factory<ad::optim::Adam>(ad::optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}), true},
      {"AdamW", factory<ad::optim::AdamW>(ad::optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1}), true},
      {"AdamWAmsgrad", factory<ad::optim::AdamW>(ad::optim::AdamWOptions{.lr = 0.01, .amsgrad = true}), true},
  };
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)
      if (c == '/') c = '_';
    dir_ = fs::temp_directory_path() / ("ad_optim_state_" + std::to_string(::getpid()) + "_" + name);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& file) const { return (dir_ / file).string(); }
  fs::path dir_;
};

class Resume : public TempDir, public ::testing::WithParamInterface<Case> {};

// Train 3 steps, snapshot (parameter copies + optimizer state), train a 4th step and record the
// parameters; then rebuild everything fresh from the snapshot and take one step: bit-identical.
TEST_P(Resume, FromStateDictTakesABitIdenticalNextStep) {
  const Case& c = GetParam();
  const Problem prob;
  Params params = Problem::initial();
  auto opt = c.make(params);
  for (int i = 0; i < 3; ++i) prob.train_step(params, *opt);
  const Params snapshot = copy_of(params);
  const ad::NamedTensors state = opt->state_dict();
  prob.train_step(params, *opt);  // also checks that state_dict() returned copies, not aliases
  const auto expected = values(params);

  Params resumed = copy_of(snapshot);
  auto fresh = c.make(resumed);
  fresh->load_state_dict(state);
  EXPECT_EQ(fresh->step_count(), 3);
  prob.train_step(resumed, *fresh);
  EXPECT_EQ(values(resumed), expected);
  EXPECT_EQ(fresh->step_count(), 4);

  if (c.stateful) {  // without the state the step differs, so the test above means something
    Params cold = copy_of(snapshot);
    auto cold_opt = c.make(cold);
    prob.train_step(cold, *cold_opt);
    EXPECT_NE(values(cold), expected);
  }
}

// The same through a safetensors file, with a schedule that changed the lr before the save:
// the saved lr is restored.
TEST_P(Resume, FromFileTakesABitIdenticalNextStepAndRestoresTheLr) {
  const Case& c = GetParam();
  const Problem prob;
  Params params = Problem::initial();
  auto opt = c.make(params);
  const double base_lr = opt->lr();
  ad::optim::ExponentialLR schedule(*opt, 0.5);
  for (int i = 0; i < 3; ++i) {
    prob.train_step(params, *opt);
    schedule.step();
  }
  EXPECT_DOUBLE_EQ(opt->lr(), base_lr * 0.125);
  const Params snapshot = copy_of(params);
  opt->save_state(path("opt.safetensors"));
  prob.train_step(params, *opt);
  const auto expected = values(params);

  Params resumed = copy_of(snapshot);
  auto fresh = c.make(resumed);
  fresh->load_state(path("opt.safetensors"));
  EXPECT_EQ(fresh->lr(), opt->lr());
  prob.train_step(resumed, *fresh);
  EXPECT_EQ(values(resumed), expected);
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, Resume, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

// Adam/AdamW, SGD and RMSprop step contiguous parameters in one fused pass (ad::adam_step_ ...)
// and others with their in-place ops: the two paths take the same steps, bit for bit. The
// weight is given once contiguous and once as a transposed view of a [3, 2] tensor; the loss
// reads it through contiguous(), so both get the same gradients.
class FusedPath : public ::testing::TestWithParam<Case> {};

TEST_P(FusedPath, TakesTheStepsOfTheInPlaceOps) {
  const Case& c = GetParam();
  const Problem prob;
  Params fused = Problem::initial();
  Params strided = copy_of(fused);
  {
    ad::NoGradGuard no_grad;
    strided[0] = fused[0].detach().t().contiguous().t().requires_grad_();
  }
  ASSERT_FALSE(strided[0].is_contiguous());
  ASSERT_EQ(values(strided), values(fused));
  auto opt_fused = c.make(fused), opt_strided = c.make(strided);
  auto step = [&](const Params& p, ad::optim::Optimizer& opt) {
    opt.zero_grad();
    const ad::Tensor pred = ad::matmul_t(prob.x, p[0].contiguous(), false, true) + p[1];
    ad::mean(ad::pow(pred - prob.y, 2.0)).backward();
    opt.step();
  };
  for (int i = 0; i < 5; ++i) {
    step(fused, *opt_fused);
    step(strided, *opt_strided);
    ASSERT_EQ(values(strided), values(fused)) << "step " << i + 1;
  }
  EXPECT_NE(values(fused), values(Problem::initial()));
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, FusedPath, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& param_info) { return param_info.param.name; });

class OptimizerState : public TempDir {};

TEST_F(OptimizerState, StateDictLayout) {
  const Problem prob;
  Params params = Problem::initial();
  ad::optim::Adam opt(params, {.lr = 0.01, .amsgrad = true});
  std::vector<std::string> names;
  for (const auto& [k, t] : opt.state_dict()) names.push_back(k);
  // Before any step the parameters have a step count and no buffers.
  const std::vector<std::string> before{"step",
                                        "group.0.params",
                                        "group.0.lr",
                                        "group.0.options.beta1",
                                        "group.0.options.beta2",
                                        "group.0.options.eps",
                                        "group.0.options.weight_decay",
                                        "group.0.options.amsgrad",
                                        "group.0.options.decoupled_weight_decay",
                                        "param.0.step",
                                        "param.1.step"};
  EXPECT_EQ(names, before);
  prob.train_step(params, opt);
  const ad::NamedTensors s = opt.state_dict();
  ASSERT_EQ(s.size(), before.size() + 6);
  EXPECT_EQ(s[9].first, "param.0.step");
  EXPECT_EQ(s[10].first, "param.0.exp_avg");
  EXPECT_EQ(s[11].first, "param.0.exp_avg_sq");
  EXPECT_EQ(s[12].first, "param.0.max_exp_avg_sq");
  EXPECT_EQ(s[1].second.item(), 2.0);  // the group's size
  EXPECT_EQ(s[10].second.shape(), (ad::Shape{2, 3}));
  EXPECT_EQ(s[0].second.dtype(), ad::kInt64);
  EXPECT_EQ(s[0].second.item(), 1.0);
  EXPECT_FALSE(s[10].second.requires_grad());
}

TEST_F(OptimizerState, LoadingAFreshStateResetsTheOptimizer) {
  const Problem prob;
  Params a = Problem::initial(), b = Problem::initial();
  ad::optim::Adam opt_a(a, {.lr = 0.01}), opt_b(b, {.lr = 0.01});
  const ad::NamedTensors initial = opt_a.state_dict();
  for (int i = 0; i < 3; ++i) prob.train_step(a, opt_a);
  // Put a back where b is and reset its optimizer: both now take the same first step.
  {
    ad::NoGradGuard no_grad;
    for (std::size_t i = 0; i < a.size(); ++i) a[i].copy_(b[i]);
  }
  opt_a.load_state_dict(initial);
  EXPECT_EQ(opt_a.step_count(), 0);
  prob.train_step(a, opt_a);
  prob.train_step(b, opt_b);
  EXPECT_EQ(values(a), values(b));
}

// Each bad state is rejected, naming the problem; afterwards the optimizer still takes exactly
// the step its twin (which never saw a bad state) takes.
TEST_F(OptimizerState, RejectedStatesLeaveTheOptimizerUntouched) {
  const Problem prob;
  Params a = Problem::initial(), b = Problem::initial();
  ad::optim::Adam opt(a, {.lr = 0.01}), twin(b, {.lr = 0.01});
  for (int i = 0; i < 3; ++i) {
    prob.train_step(a, opt);
    prob.train_step(b, twin);
  }
  const ad::NamedTensors good = opt.state_dict();
  auto with = [&](const std::function<void(ad::NamedTensors&)>& edit) {
    ad::NamedTensors s = good;
    edit(s);
    return s;
  };
  auto entry = [](ad::NamedTensors& s, const std::string& key) -> ad::Tensor& {
    for (auto& [k, t] : s)
      if (k == key) return t;
    throw std::runtime_error("no entry " + key);
  };
  auto rejected = [&](const ad::NamedTensors& s) { return error_of([&] { opt.load_state_dict(s); }); };

  EXPECT_TRUE(contains(
      rejected(with([](auto& s) { std::erase_if(s, [](const auto& e) { return e.first == "param.0.exp_avg"; }); })),
      "missing entry 'param.0.exp_avg'"));
  EXPECT_TRUE(contains(
      rejected(with([&](auto& s) { entry(s, "param.1.exp_avg_sq") = ad::zeros({3}, ad::dtype(ad::kFloat64)); })),
      "entry 'param.1.exp_avg_sq' is Float64 of shape [3] but parameter 1 is Float64 of shape [2]"));
  EXPECT_TRUE(contains(rejected(with([&](auto& s) {
                         entry(s, "param.0.exp_avg") = ad::zeros({2, 3}, ad::dtype(ad::kFloat32));
                       })),
                       "is Float32 of shape [2, 3] but parameter 0 is Float64"));
  EXPECT_TRUE(
      contains(rejected(with([](auto& s) { s.emplace_back("param.2.step", ad::zeros({}, ad::dtype(ad::kInt64))); })),
               "unexpected entry 'param.2.step'"));
  EXPECT_TRUE(contains(rejected(with([](auto& s) { s.push_back(s[0]); })), "entry 'step' appears twice"));
  EXPECT_TRUE(contains(rejected(with([&](auto& s) {
                         entry(s, "group.0.options.beta1") = ad::scalar_tensor(0.8, ad::dtype(ad::kFloat64));
                       })),
                       "option beta1 is 0.8 in the state but 0.9 in this optimizer"));
  EXPECT_TRUE(contains(
      rejected(with([&](auto& s) { entry(s, "group.0.lr") = ad::scalar_tensor(-1.0, ad::dtype(ad::kFloat64)); })),
      "entry 'group.0.lr' must be finite and >= 0, got -1"));
  EXPECT_TRUE(
      contains(rejected(with([&](auto& s) { entry(s, "step") = ad::scalar_tensor(3.0, ad::dtype(ad::kFloat64)); })),
               "entry 'step' must be a one-element Int64 tensor, got Float64"));
  EXPECT_TRUE(
      contains(rejected(with([&](auto& s) { entry(s, "step") = ad::index_tensor({-1}); })), "must be >= 0, got -1"));
  EXPECT_TRUE(contains(rejected(with([&](auto& s) { entry(s, "step") = ad::index_tensor({2}); })),
                       "entry 'param.0.step' is 3, more than the optimizer's step count 2"));
  EXPECT_TRUE(contains(rejected(with([&](auto& s) { entry(s, "param.0.exp_avg") = ad::Tensor(); })), "undefined"));

  // States of other optimizers and models.
  Params sgd_params = Problem::initial();
  ad::optim::SGD sgd(sgd_params, {.lr = 0.01, .momentum = 0.9});
  prob.train_step(sgd_params, sgd);
  EXPECT_TRUE(contains(rejected(sgd.state_dict()), "missing entry 'group.0.options.beta1'"));
  Params adamw_params = Problem::initial();
  ad::optim::AdamW adamw(adamw_params, {.lr = 0.01, .weight_decay = 0.0});
  EXPECT_TRUE(contains(rejected(adamw.state_dict()), "option decoupled_weight_decay is 1 in the state but 0"));
  Params one{ad::tensor({1.0}, ad::dtype(ad::kFloat64)).requires_grad_()};
  ad::optim::Adam single(one, {.lr = 0.01});
  EXPECT_TRUE(contains(rejected(single.state_dict()), "param group 0 has 1 parameters in the state but 2"));

  // Files: missing, corrupt, another optimizer's, no optimizer metadata.
  EXPECT_TRUE(contains(error_of([&] { opt.load_state(path("missing.safetensors")); }), "missing.safetensors"));
  { std::ofstream(path("corrupt.safetensors"), std::ios::binary) << "not a safetensors file at all"; }
  EXPECT_THROW(opt.load_state(path("corrupt.safetensors")), ad::Error);
  adamw.save_state(path("adamw.safetensors"));
  EXPECT_TRUE(contains(error_of([&] { opt.load_state(path("adamw.safetensors")); }),
                       "holds the state of a AdamW optimizer, not Adam"));
  ad::save_safetensors(path("plain.safetensors"), good);
  EXPECT_TRUE(contains(error_of([&] { opt.load_state(path("plain.safetensors")); }), "is not an optimizer state"));
  single.save_state(path("single.safetensors"));
  const std::string file_msg = error_of([&] { opt.load_state(path("single.safetensors")); });
  EXPECT_TRUE(contains(file_msg, "param group 0 has 1 parameters in the state but 2")) << file_msg;
  EXPECT_TRUE(contains(file_msg, "single.safetensors")) << file_msg;

  // After all that, the optimizer is exactly as it was.
  EXPECT_EQ(opt.step_count(), 3);
  prob.train_step(a, opt);
  prob.train_step(b, twin);
  EXPECT_EQ(values(a), values(b));
}

// The same round trip with an ad::nn::Linear model: parameters copied back with set_param.
TEST_F(OptimizerState, ResumeWithAnNnLinearModel) {
  const Problem prob;
  ad::Generator gen(42);
  ad::nn::Linear model(3, 2, true, ad::kFloat64, &gen);
  ad::optim::Adam opt(model.parameters(), {.lr = 0.01});
  auto train_step = [&](ad::nn::Linear& m, ad::optim::Optimizer& o) {
    o.zero_grad();
    ad::mean(ad::pow(m.forward(prob.x) - prob.y, 2.0)).backward();
    o.step();
  };
  for (int i = 0; i < 3; ++i) train_step(model, opt);
  ad::save_safetensors(path("model.safetensors"), model.named_parameters());
  opt.save_state(path("opt.safetensors"));
  train_step(model, opt);
  const auto expected = values(model.parameters());

  ad::Generator other(7);
  ad::nn::Linear restored(3, 2, true, ad::kFloat64, &other);
  for (const auto& [name, t] : ad::load_safetensors(path("model.safetensors")).tensors) restored.set_param(name, t);
  ad::optim::Adam fresh(restored.parameters(), {.lr = 0.01});
  fresh.load_state(path("opt.safetensors"));
  train_step(restored, fresh);
  EXPECT_EQ(values(restored.parameters()), expected);
}

}  // namespace
