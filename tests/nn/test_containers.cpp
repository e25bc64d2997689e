// ModuleList, ModuleDict, forward hooks, apply, and errors that name the path of the module
// they came from.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "adgraph/nn/nn.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using ad::testing::contains;
using ad::testing::error_of;

// A custom model (not a Sequential) with a list and a dict of children.
struct Net : ad::nn::Module {
  std::shared_ptr<ad::nn::ModuleList> layers = register_module(
      "layers", std::make_shared<ad::nn::ModuleList>(std::initializer_list<std::shared_ptr<ad::nn::Module>>{
                    std::make_shared<ad::nn::Linear>(3, 4, true, ad::kFloat64),
                    std::make_shared<ad::nn::Linear>(4, 4, true, ad::kFloat64)}));
  std::shared_ptr<ad::nn::ModuleDict> heads =
      register_module("heads", std::make_shared<ad::nn::ModuleDict>(
                                   std::initializer_list<std::pair<std::string, std::shared_ptr<ad::nn::Module>>>{
                                       {"cls", std::make_shared<ad::nn::Linear>(4, 2, true, ad::kFloat64)},
                                       {"reg", std::make_shared<ad::nn::Linear>(4, 1, true, ad::kFloat64)}}));
  ad::Tensor forward(const ad::Tensor& x) const override {
    ad::Tensor h = x;
    for (const auto& l : *layers) h = ad::tanh((*l)(h));
    return (*(*heads)["cls"])(h);
  }
};

TEST(Containers, ParametersAreNamedByListIndexAndDictKey) {
  Net net;
  std::vector<std::string> names;
  for (const auto& [n, t] : net.named_parameters()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
                                      "heads.cls.weight", "heads.cls.bias", "heads.reg.weight", "heads.reg.bias"}));
  EXPECT_EQ(net(ad::zeros({5, 3}, ad::dtype(ad::kFloat64))).shape(), (Shape{5, 2}));
  EXPECT_EQ(net.heads->keys(), (std::vector<std::string>{"cls", "reg"}));
  EXPECT_TRUE(net.heads->contains("reg"));
  EXPECT_TRUE(contains(error_of([&] { (*net.heads)["box"]; }), "no module under 'box' (keys: cls, reg)"));
  EXPECT_TRUE(contains(error_of([&] { (*net.layers)[2]; }), "index 2 out of range for 2 modules"));
  EXPECT_TRUE(contains(error_of([&] { net.heads->insert("cls", std::make_shared<ad::nn::ReLU>()); }),
                       "'cls' is already taken"));
}

TEST(Containers, AnErrorInsideACustomModelNamesTheChildsPath) {
  Net net;
  const std::string m = error_of([&] { net(ad::zeros({5, 2}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(m, "Net: 0 (Linear): Linear: input of shape [5, 2] needs a last dim of 3")) << m;
  // a child of a child
  struct Outer : ad::nn::Module {
    std::shared_ptr<Net> body = register_module("body", std::make_shared<Net>());
    ad::Tensor forward(const ad::Tensor& x) const override { return (*body)(x); }
  } outer;
  const std::string m2 = error_of([&] { outer(ad::zeros({5, 2}, ad::dtype(ad::kFloat64))); });
  EXPECT_TRUE(contains(m2, "Outer: body (Net): 0 (Linear): Linear: input of shape [5, 2]")) << m2;
  // a Sequential names the layer once, and its own place once
  ad::nn::Sequential seq{std::make_shared<ad::nn::Linear>(3, 4, true, ad::kFloat64)};
  const std::string m3 = error_of([&] { seq(ad::zeros({5, 2}, ad::dtype(ad::kFloat64))); });
  EXPECT_EQ(m3.rfind("Sequential: layer 0 (Linear): Linear: input of shape [5, 2]", 0), 0u) << m3;
  EXPECT_FALSE(contains(m3, "Sequential: Sequential")) << m3;
}

TEST(Hooks, PreHooksReplaceTheInputHooksTheOutputAndRemoveStopsThem) {
  ad::nn::Linear lin(2, 2, false, ad::kFloat64);
  lin.set_param("weight", ad::eye(2, ad::dtype(ad::kFloat64)));
  std::vector<std::string> seen;
  const auto pre =
      lin.register_forward_pre_hook([&](const ad::nn::Module& m, const Tensor& x) -> std::optional<Tensor> {
        seen.push_back(m.name() + " pre " + ad::shape_str(x.shape()));
        return x * 2.0;
      });
  const auto post = lin.register_forward_hook(
      [&](const ad::nn::Module&, const Tensor& in, const Tensor& out) -> std::optional<Tensor> {
        EXPECT_EQ(in.to_vector(), (std::vector<double>{2, 4}));  // the pre-hook's input
        return out + 1.0;
      });
  const Tensor x = ad::tensor({1, 2}, {1, 2}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(lin(x).to_vector(), (std::vector<double>{3, 5}));
  EXPECT_EQ(seen, (std::vector<std::string>{"Linear pre [1, 2]"}));
  // Sequential runs its layers' hooks too
  auto shared = std::make_shared<ad::nn::Linear>(2, 2, false, ad::kFloat64);
  shared->set_param("weight", ad::eye(2, ad::dtype(ad::kFloat64)));
  int calls = 0;
  shared->register_forward_hook([&](const ad::nn::Module&, const Tensor&, const Tensor&) -> std::optional<Tensor> {
    ++calls;
    return std::nullopt;
  });
  ad::nn::Sequential seq{shared, std::make_shared<ad::nn::ReLU>()};
  EXPECT_EQ(seq(x).to_vector(), (std::vector<double>{1, 2}));
  EXPECT_EQ(calls, 1);
  lin.remove_hook(pre);
  lin.remove_hook(post);
  EXPECT_EQ(lin(x).to_vector(), (std::vector<double>{1, 2}));
  EXPECT_TRUE(contains(error_of([&] { lin.remove_hook(post); }), "has no hook with id"));
}

TEST(Apply, VisitsEveryModuleChildrenFirst) {
  Net net;
  std::vector<std::string> order;
  net.apply([&](ad::nn::Module& m) {
    order.push_back(m.name());
    if (auto* l = dynamic_cast<ad::nn::Linear*>(&m)) l->set_param("bias", ad::zeros_like(l->bias()));
  });
  ASSERT_EQ(order.size(), 7u);  // 4 Linear, the list, the dict, the net
  EXPECT_EQ(order.back(), "Net");
  for (const auto& [n, t] : net.named_parameters()) {
    if (contains(n, "bias")) {
      EXPECT_EQ(ad::abs(t).sum().item(), 0.0) << n;
    }
  }
}

}  // namespace
