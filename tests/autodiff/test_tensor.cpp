// Tensors: creation, dtypes, storage sharing and versions, copies, printing, in-place ops and
// the errors of ops given bad shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;

using ad::testing::contains;
using ad::testing::error_of;

// ---------------------------------------------------------------- creation

TEST(Tensor, FromValuesAndShape) {
  const Tensor t = ad::tensor({1, 2, 3, 4, 5, 6}, {2, 3}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.dim(), 2);
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.size(0), 2);
  EXPECT_EQ(t.size(-1), 3);
  EXPECT_EQ(t.dtype(), ad::kFloat64);
  EXPECT_DOUBLE_EQ(t.at({0, 0}), 1.0);
  EXPECT_DOUBLE_EQ(t.at({1, 2}), 6.0);
  EXPECT_DOUBLE_EQ(t.at({-1, -3}), 4.0);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(t.requires_grad());
  EXPECT_TRUE(t.is_leaf());

  const Tensor v = ad::tensor({1.5, -2.5}, ad::dtype(ad::kFloat64));  // 1-D Float64 by default
  EXPECT_EQ(v.shape(), (Shape{2}));
  EXPECT_EQ(v.dtype(), ad::kFloat64);

  const Tensor s = ad::scalar_tensor(3.25, ad::dtype(ad::kFloat64));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_DOUBLE_EQ(s.item(), 3.25);

  const std::string m = error_of([] { ad::tensor({1, 2, 3, 4, 5}, {2, 3}, ad::dtype(ad::kFloat64)); });
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_THROW(t.at({2, 0}), ad::Error);
  EXPECT_THROW(t.at({0}), ad::Error);
}

TEST(Tensor, Factories) {
  const Tensor z = ad::zeros({2, 3});
  EXPECT_EQ(z.dtype(), ad::kFloat32);
  EXPECT_EQ(z.to_vector(), std::vector<double>(6, 0.0));
  const Tensor o = ad::ones({4}, ad::dtype(ad::kFloat64));
  EXPECT_EQ(o.dtype(), ad::kFloat64);
  EXPECT_EQ(o.to_vector(), std::vector<double>(4, 1.0));
  const Tensor f = ad::full({2, 2}, -7.5, ad::dtype(ad::kFloat64));
  EXPECT_EQ(f.to_vector(), std::vector<double>(4, -7.5));
  const Tensor fi = ad::full({3}, 9, ad::dtype(ad::kInt64));
  EXPECT_EQ(fi.dtype(), ad::kInt64);
  EXPECT_EQ(fi.data_ptr<std::int64_t>()[2], 9);

  EXPECT_EQ(ad::arange(5, ad::dtype(ad::kFloat64)).to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(ad::arange(1, 2, 0.25).to_vector(), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(ad::arange(3, 0, -1).to_vector(), (std::vector<double>{3, 2, 1}));
  EXPECT_THROW(ad::arange(0, 1, 0), ad::Error);
  EXPECT_THROW(ad::arange(0, 1, -1), ad::Error);

  const Tensor l = ad::linspace(0, 1, 5, ad::dtype(ad::kFloat64));
  EXPECT_EQ(l.to_vector(), (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  EXPECT_EQ(ad::linspace(2, 2, 1, ad::dtype(ad::kFloat64)).to_vector(), (std::vector<double>{2}));
  EXPECT_THROW(ad::linspace(0, 1, 0, ad::dtype(ad::kFloat64)), ad::Error);

  const Tensor e = ad::eye(3, ad::dtype(ad::kFloat64));
  EXPECT_EQ(e.shape(), (Shape{3, 3}));
  EXPECT_EQ(e.to_vector(), (std::vector<double>{1, 0, 0, 0, 1, 0, 0, 0, 1}));

  const Tensor rg = ad::ones({2}, ad::dtype(ad::kFloat64).set_requires_grad());
  EXPECT_TRUE(rg.requires_grad());
  EXPECT_TRUE(rg.is_leaf());
  EXPECT_THROW(ad::zeros({2, -1}), ad::Error);
  EXPECT_EQ(ad::zeros_like(e).shape(), e.shape());
  EXPECT_EQ(ad::zeros_like(e).dtype(), ad::kFloat64);
  EXPECT_EQ(ad::full_like(e, 2.0).to_vector(), std::vector<double>(9, 2.0));
}

TEST(Tensor, SeededRandomIsReproducible) {
  ad::Generator g1(1234), g2(1234), g3(99);
  const Tensor a = ad::randn({50}, ad::dtype(ad::kFloat64), &g1);
  const Tensor b = ad::randn({50}, ad::dtype(ad::kFloat64), &g2);
  const Tensor c = ad::randn({50}, ad::dtype(ad::kFloat64), &g3);
  EXPECT_EQ(a.to_vector(), b.to_vector());
  EXPECT_NE(a.to_vector(), c.to_vector());

  ad::Generator u1(7), u2(7), u3(8);
  const std::vector<double> ua = ad::rand({100}, ad::dtype(ad::kFloat64), &u1).to_vector();
  EXPECT_EQ(ua, ad::rand({100}, ad::dtype(ad::kFloat64), &u2).to_vector());
  EXPECT_NE(ua, ad::rand({100}, ad::dtype(ad::kFloat64), &u3).to_vector());
  for (double x : ua) {
    EXPECT_GE(x, 0.0);
    EXPECT_LT(x, 1.0);
  }
  // The generator advances: a second draw differs from the first.
  EXPECT_NE(ua, ad::rand({100}, ad::dtype(ad::kFloat64), &u1).to_vector());

  // The thread's default generator, reseeded, repeats too.
  ad::manual_seed(42);
  const std::vector<double> d1 = ad::randn({20}, ad::dtype(ad::kFloat64)).to_vector();
  ad::manual_seed(42);
  EXPECT_EQ(d1, ad::randn({20}, ad::dtype(ad::kFloat64)).to_vector());

  // Float32 random tensors hold the float rounding of the same stream.
  ad::Generator f1(5), f2(5);
  const std::vector<double> r64 = ad::randn({10}, ad::dtype(ad::kFloat64), &f1).to_vector();
  const std::vector<double> r32 = ad::randn({10}, ad::dtype(ad::kFloat32), &f2).to_vector();
  for (std::size_t i = 0; i < r64.size(); ++i) EXPECT_EQ(r32[i], static_cast<double>(static_cast<float>(r64[i])));
  EXPECT_THROW(ad::rand({2}, ad::dtype(ad::kInt64)), ad::Error);
}

TEST(Tensor, RandnMomentsOn100kSamples) {
  ad::Generator g(2024);
  const std::vector<double> v = ad::randn({100000}, ad::dtype(ad::kFloat64), &g).to_vector();
  double s = 0, s2 = 0;
  for (double x : v) s += x;
  const double mean = s / static_cast<double>(v.size());
  for (double x : v) s2 += (x - mean) * (x - mean);
  const double sd = std::sqrt(s2 / static_cast<double>(v.size() - 1));
  EXPECT_NEAR(mean, 0.0, 0.015);  // standard error 0.0032
  EXPECT_NEAR(sd, 1.0, 0.01);     // standard error 0.0022

  ad::Generator gu(11);
  const std::vector<double> u = ad::rand({100000}, ad::dtype(ad::kFloat64), &gu).to_vector();
  double su = 0;
  for (double x : u) su += x;
  EXPECT_NEAR(su / 1e5, 0.5, 0.005);  // standard error 0.0009
}

TEST(Tensor, Dtypes) {
  const Tensor f32 = ad::tensor({1.5, 2.25}, {2}, ad::dtype(ad::kFloat32));
  const Tensor f64 = ad::tensor({1.5, 2.25}, {2}, ad::dtype(ad::kFloat64));
  const Tensor i64 = ad::tensor({1.9, -2.9}, {2}, ad::dtype(ad::kInt64));
  EXPECT_EQ(f32.dtype(), ad::kFloat32);
  EXPECT_EQ(f64.dtype(), ad::kFloat64);
  EXPECT_EQ(i64.dtype(), ad::kInt64);
  EXPECT_EQ(f32.data_ptr<float>()[1], 2.25f);
  EXPECT_EQ(f64.data_ptr<double>()[1], 2.25);
  EXPECT_EQ(i64.data_ptr<std::int64_t>()[0], 1);  // truncation toward zero
  EXPECT_EQ(i64.data_ptr<std::int64_t>()[1], -2);
  EXPECT_THROW(f32.data_ptr<double>(), ad::Error);
  EXPECT_THROW(i64.data_ptr<float>(), ad::Error);
  EXPECT_EQ(ad::dtype_size(ad::kFloat32), 4u);
  EXPECT_EQ(ad::dtype_size(ad::kFloat64), 8u);
  EXPECT_EQ(ad::dtype_size(ad::kInt64), 8u);

  const Tensor idx = ad::index_tensor({3, 1, 2});
  EXPECT_EQ(idx.dtype(), ad::kInt64);
  EXPECT_EQ(idx.to_vector(), (std::vector<double>{3, 1, 2}));
  Tensor i2 = ad::index_tensor({1, 2});
  EXPECT_THROW(i2.requires_grad_(), ad::Error);  // Int64 never requires grad
  EXPECT_THROW(ad::exp(i2), ad::Error);
}

TEST(Tensor, EveryFactoryFollowsTheDefaultDtype) {
  EXPECT_EQ(ad::get_default_dtype(), ad::kFloat32);  // as PyTorch
  const auto factories = [] {
    return std::vector<Tensor>{ad::tensor({1.0, 2.0}),
                               ad::tensor({1.0, 2.0}, {2, 1}, {}),
                               ad::scalar_tensor(3.0),
                               ad::arange(3.0),
                               ad::arange(0.0, 1.0, 0.5),
                               ad::linspace(0, 1, 3),
                               ad::zeros({2}),
                               ad::ones({2}),
                               ad::full({2}, 7.0),
                               ad::empty({2}),
                               ad::eye(2),
                               ad::rand({2}),
                               ad::randn({2}),
                               ad::uniform({2}, -1, 1),
                               ad::normal({2}, 0, 1)};
  };
  for (const Tensor& t : factories()) EXPECT_EQ(t.dtype(), ad::kFloat32);
  {
    ad::DefaultDtypeGuard g(ad::kFloat64);
    EXPECT_EQ(ad::get_default_dtype(), ad::kFloat64);
    for (const Tensor& t : factories()) EXPECT_EQ(t.dtype(), ad::kFloat64);
    EXPECT_EQ(ad::tensor({0.1}).item(), 0.1);                                     // no Float32 rounding
    EXPECT_EQ(ad::tensor({1.0}, ad::dtype(ad::kFloat32)).dtype(), ad::kFloat32);  // an explicit dtype wins
    EXPECT_EQ(ad::index_tensor({1}).dtype(), ad::kInt64);                         // indices stay Int64
  }
  EXPECT_EQ(ad::get_default_dtype(), ad::kFloat32);  // the guard restored it
  EXPECT_EQ(ad::tensor({0.1}).item(), static_cast<double>(0.1f));
  EXPECT_TRUE(contains(error_of([] { ad::set_default_dtype(ad::kInt64); }),
                       "set_default_dtype: the default dtype must be Float32 or Float64, got Int64"));
  EXPECT_THROW(ad::set_default_dtype(ad::kBool), ad::Error);
  EXPECT_EQ(ad::get_default_dtype(), ad::kFloat32);  // a refused dtype changes nothing
}

TEST(Tensor, ComparisonsGiveBoolMasks) {
  const Tensor a = ad::tensor({1.0, 2.0, 3.0}), b = ad::tensor({3.0, 2.0, 1.0}, ad::dtype(ad::kFloat64));
  for (const Tensor& m : {ad::eq(a, b), ad::ne(a, b), ad::lt(a, b), ad::le(a, b), ad::gt(a, b), ad::ge(a, b), a > 1.5,
                          a < 1.5, a >= 2.0, a <= 2.0, a == b, a != b})
    EXPECT_EQ(m.dtype(), ad::kBool);
  EXPECT_EQ(ad::le(a, b).to_vector(), (std::vector<double>{1, 1, 0}));
  EXPECT_EQ(ad::dtype_size(ad::kBool), 1u);
  const Tensor m = a > 1.5;
  EXPECT_EQ(m.data_ptr<bool>()[0], false);
  EXPECT_EQ(m.data_ptr<bool>()[1], true);
  EXPECT_FALSE(ad::is_floating(ad::kBool));
  Tensor mm = m.clone();
  EXPECT_THROW(mm.requires_grad_(), ad::Error);  // masks never require grad

  // logical ops combine masks
  EXPECT_EQ(ad::logical_and(a > 1.5, a < 2.5).to_vector(), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ((a < 1.5 || a > 2.5).to_vector(), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(ad::logical_xor(a > 1.5, a > 2.5).to_vector(), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ((!(a > 1.5)).to_vector(), (std::vector<double>{1, 0, 0}));

  // the accuracy idiom: mean over a mask converted to a float dtype; sum counts as Int64
  const Tensor pred = ad::index_tensor({1, 0, 2, 2}), label = ad::index_tensor({1, 1, 2, 0});
  EXPECT_EQ(ad::mean(ad::eq(pred, label).to(ad::kFloat32)).item(), 0.5);
  const Tensor count = ad::eq(pred, label).sum();
  EXPECT_EQ(count.dtype(), ad::kInt64);
  EXPECT_EQ(count.item<std::int64_t>(), 2);
  EXPECT_TRUE(contains(error_of([&] { ad::mean(ad::eq(pred, label)); }),
                       "mean: Bool tensors hold masks and do not support this op; convert with .to(ad::kFloat32)"));
  EXPECT_TRUE(
      contains(error_of([&] { (a > 1.5) + (a > 2.5); }), "add: Bool tensors hold masks and do not support arithmetic"));
  EXPECT_TRUE(contains(error_of([&] { ad::logical_and(a, a > 1.0); }),
                       "logical_and: the first operand must be a Bool tensor, got Float32"));
  // a mask with a number or a float tensor gives floats
  EXPECT_EQ(((a > 1.5) * 0.5).dtype(), ad::kFloat32);
  EXPECT_EQ(((a > 1.5) * 0.5).to_vector(), (std::vector<double>{0, 0.5, 0.5}));
  EXPECT_EQ(((a > 1.5) * b).dtype(), ad::kFloat64);
  EXPECT_EQ(((a > 1.5) * b).to_vector(), (std::vector<double>{0, 2, 1}));
  // conversions: nonzero is true; true is 1
  EXPECT_EQ(ad::tensor({0.0, -2.0, 0.5}).to(ad::kBool).to_vector(), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(m.to(ad::kInt64).to_vector(), (std::vector<double>{0, 1, 1}));
  EXPECT_EQ(m.to(ad::kFloat64).dtype(), ad::kFloat64);
  EXPECT_TRUE((a > 2.5).sum().item<bool>());
  EXPECT_EQ(ad::tensor({1, 0}, ad::dtype(ad::kBool)).str(), "[ True, False]\n[ Bool{2} ]");
  // copy_ and fill_ work on masks; arithmetic in place does not
  Tensor dst = ad::zeros({3}, ad::dtype(ad::kBool));
  dst.copy_(a > 1.5);
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{0, 1, 1}));
  dst.fill_(1.0);
  EXPECT_EQ(dst.to_vector(), (std::vector<double>{1, 1, 1}));
  EXPECT_TRUE(contains(error_of([&] { dst.add_(1.0); }), "add_: Bool tensors hold masks"));
  EXPECT_TRUE(contains(error_of([&] { dst.copy_(a); }), "copy_: a Float32 argument cannot be written into a Bool"));
}

TEST(Tensor, Int64ArithmeticStaysInt64AndRefusesOverflow) {
  const Tensor idx = ad::index_tensor({0, 2, 5});
  const Tensor next = idx + 1.0;  // an integral number keeps Int64
  EXPECT_EQ(next.dtype(), ad::kInt64);
  EXPECT_EQ(next.to_vector(), (std::vector<double>{1, 3, 6}));
  EXPECT_EQ((idx * 2.0 - idx).to_vector(), (std::vector<double>{0, 2, 5}));
  EXPECT_EQ((idx * 2.0).dtype(), ad::kInt64);
  EXPECT_EQ((idx + ad::index_tensor({1, 1, 1})).dtype(), ad::kInt64);
  EXPECT_EQ((idx * 0.5).dtype(), ad::kFloat32);  // a fractional number gives the default float dtype
  EXPECT_EQ((idx * 0.5).to_vector(), (std::vector<double>{0, 1, 2.5}));
  EXPECT_EQ((idx / 2.0).dtype(), ad::kFloat32);  // true division, as PyTorch
  EXPECT_EQ((idx / 2.0).to_vector(), (std::vector<double>{0, 1, 2.5}));
  EXPECT_EQ((idx > 1.0).to_vector(), (std::vector<double>{0, 1, 1}));  // compared exactly, as Int64
  const Tensor big = ad::index_tensor({std::int64_t{1} << 62, 1});
  EXPECT_TRUE(contains(error_of([&] { big * 4.0; }), "mul: the Int64 result overflows"));
  EXPECT_TRUE(contains(error_of([&] {
                         big + ad::index_tensor({std::int64_t{1} << 62, 0}) + big;
                       }),
                       "add: the Int64 result overflows"));
  EXPECT_TRUE(contains(error_of([&] { ad::full({2}, 0x1p62, ad::dtype(ad::kInt64)).sum({}) * 2.0; }),
                       "the Int64 sum overflows"));
}

TEST(Tensor, MixedDtypesPromoteAsInPyTorch) {
  const Tensor f32 = ad::tensor({1.5, 2.0}, ad::dtype(ad::kFloat32)).requires_grad_();
  const Tensor f64 = ad::tensor({0.25, 4.0}, ad::dtype(ad::kFloat64)).requires_grad_();
  const Tensor i64 = ad::index_tensor({2, 3});
  EXPECT_EQ(ad::add(f32, f64).dtype(), ad::kFloat64);  // f32 + f64 -> f64
  EXPECT_EQ((f32 * i64).dtype(), ad::kFloat32);        // int + float -> float
  EXPECT_EQ((f64 * i64).to_vector(), (std::vector<double>{0.5, 12.0}));
  EXPECT_EQ((f32 * 2.0).dtype(), ad::kFloat32);  // a double argument keeps the tensor's dtype
  EXPECT_EQ((f32 < f64).dtype(), ad::kBool);     // compared in Float64, the result is a mask
  EXPECT_EQ((f32 < f64).to_vector(), (std::vector<double>{0, 1}));
  EXPECT_EQ(ad::matmul(f32.reshape({1, 2}), f64.reshape({2, 1})).dtype(), ad::kFloat64);
  EXPECT_EQ(ad::cat({f32, f64}).dtype(), ad::kFloat64);
  EXPECT_EQ(ad::where(f32 > 1.6, f32, f64).to_vector(), (std::vector<double>{0.25, 2.0}));
  // gradients come back in each input's own dtype
  (ad::mul(f32, f64).sum() + ad::cat({f32, f64}).sum()).backward();
  EXPECT_EQ(f32.grad().dtype(), ad::kFloat32);
  EXPECT_EQ(f64.grad().dtype(), ad::kFloat64);
  EXPECT_EQ(f32.grad().to_vector(), (std::vector<double>{1.25, 5.0}));
  EXPECT_EQ(f64.grad().to_vector(), (std::vector<double>{2.5, 3.0}));
  // in-place ops cast the argument to the tensor's dtype; a float never goes into Int64
  Tensor t = ad::zeros({2}, ad::dtype(ad::kFloat32));
  t.add_(ad::tensor({0.5, 1.5}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(t.dtype(), ad::kFloat32);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0.5, 1.5}));
  Tensor ti = ad::index_tensor({1, 2});
  EXPECT_THROW(ti.add_(t), ad::Error);
}

TEST(Tensor, ItemAndItsError) {
  EXPECT_DOUBLE_EQ(ad::scalar_tensor(-4.5, ad::dtype(ad::kFloat64)).item(), -4.5);
  EXPECT_DOUBLE_EQ(ad::tensor({2.5}, ad::dtype(ad::kFloat64)).item(), 2.5);
  EXPECT_DOUBLE_EQ(ad::ones({1, 1, 1}, ad::dtype(ad::kFloat32)).item(), 1.0);
  EXPECT_DOUBLE_EQ(ad::index_tensor({7}).item(), 7.0);
  const std::string m = error_of([] { ad::zeros({2, 3}).item(); });
  EXPECT_TRUE(contains(m, "item")) << m;
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_THROW(ad::zeros({0}).item(), ad::Error);
  EXPECT_THROW(Tensor().item(), ad::Error);  // undefined tensor
}

// ---------------------------------------------------------------- storage, views, copies

TEST(Tensor, ReshapeSharesStorageAndVersion) {
  Tensor t = ad::arange(6, ad::dtype(ad::kFloat64));
  Tensor r = t.reshape({2, 3});
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(r.data_ptr<double>(), t.data_ptr<double>());
  r.data_ptr<double>()[4] = 42.0;  // write through the view
  EXPECT_DOUBLE_EQ(t.at({4}), 42.0);
  t.data_ptr<double>()[0] = -1.0;  // and through the original
  EXPECT_DOUBLE_EQ(r.at({0, 0}), -1.0);

  const auto v0 = t.version();
  EXPECT_EQ(r.version(), v0);
  r.add_(1.0);
  EXPECT_EQ(t.version(), v0 + 1);
  EXPECT_EQ(r.version(), v0 + 1);
  EXPECT_DOUBLE_EQ(t.at({1}), 2.0);
  t.mul_(2.0);
  EXPECT_EQ(r.version(), v0 + 2);
  EXPECT_DOUBLE_EQ(r.at({0, 1}), 4.0);

  EXPECT_EQ(t.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(t.view({-1}).shape(), (Shape{6}));
  EXPECT_EQ(t.reshape({1, 6, 1}).squeeze().shape(), (Shape{6}));
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 6}));
  EXPECT_EQ(t.reshape({2, 3}).flatten().shape(), (Shape{6}));
}

TEST(Tensor, DetachSharesStorageAndHasNoGrad) {
  Tensor x = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x * 2.0;
  Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.grad_fn(), nullptr);
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.grad().defined());
  EXPECT_EQ(d.data_ptr<double>(), y.data_ptr<double>());

  Tensor dx = x.detach();
  EXPECT_FALSE(dx.requires_grad());
  const auto v0 = x.version();
  dx.fill_(5.0);  // allowed: the detached handle does not require grad
  EXPECT_EQ(x.to_vector(), (std::vector<double>{5, 5, 5}));
  EXPECT_EQ(x.version(), v0 + 1);  // same storage, same counter
}

TEST(Tensor, CloneCopies) {
  Tensor a = ad::tensor({1, 2, 3, 4}, {2, 2}, ad::dtype(ad::kFloat32));
  Tensor c = a.clone();
  EXPECT_EQ(c.shape(), a.shape());
  EXPECT_EQ(c.dtype(), ad::kFloat32);
  EXPECT_NE(c.data_ptr<float>(), a.data_ptr<float>());
  EXPECT_EQ(c.to_vector(), a.to_vector());
  const auto va = a.version();
  c.fill_(0.0);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(a.version(), va);

  // clone is differentiable
  Tensor x = ad::tensor({1, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x.clone();
  ASSERT_NE(y.grad_fn(), nullptr);
  EXPECT_STREQ(y.grad_fn()->name, "clone");
  (y * 3.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3, 3}));
}

TEST(Tensor, ToDtype) {
  const Tensor a = ad::tensor({1.25, -2.75, 3.0}, ad::dtype(ad::kFloat64));
  const Tensor f = a.to(ad::kFloat32);
  EXPECT_EQ(f.dtype(), ad::kFloat32);
  EXPECT_EQ(f.to_vector(), (std::vector<double>{1.25, -2.75, 3.0}));
  const Tensor i = a.to(ad::kInt64);
  EXPECT_EQ(i.dtype(), ad::kInt64);
  EXPECT_EQ(i.to_vector(), (std::vector<double>{1, -2, 3}));
  EXPECT_EQ(i.to(ad::kFloat64).to_vector(), (std::vector<double>{1, -2, 3}));
  const Tensor same = a.to(ad::kFloat64);
  EXPECT_EQ(same.impl(), a.impl());
  const Tensor rounded = ad::tensor({0.1}, ad::dtype(ad::kFloat64)).to(ad::kFloat32).to(ad::kFloat64);
  EXPECT_EQ(rounded.item(), static_cast<double>(0.1f));

  // differentiable between float dtypes; the gradient comes back in the input's dtype
  Tensor x = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64)).requires_grad_();
  Tensor y = x.to(ad::kFloat32);
  EXPECT_TRUE(y.requires_grad());
  (y * y).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_EQ(x.grad().dtype(), ad::kFloat64);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{2, 4, 6}));
  EXPECT_FALSE(x.to(ad::kInt64).requires_grad());
}

// ---------------------------------------------------------------- printing

TEST(Tensor, PrintFooterAndValues) {
  const Tensor t = ad::tensor({1, 2, 3, 4, 5, 6}, {2, 3}, ad::dtype(ad::kFloat64));
  const std::string s = t.str();
  EXPECT_TRUE(contains(s, "[ Float64{2, 3} ]")) << s;
  EXPECT_TRUE(contains(s, "1.0000")) << s;
  EXPECT_TRUE(contains(s, "6.0000")) << s;
  EXPECT_FALSE(contains(s, "requires_grad")) << s;
  EXPECT_FALSE(contains(s, "...")) << s;
  std::ostringstream os;
  os << t;
  EXPECT_EQ(os.str(), s);

  EXPECT_TRUE(contains(ad::zeros({4}).str(), "[ Float32{4} ]"));
  EXPECT_TRUE(contains(ad::scalar_tensor(2.0, ad::dtype(ad::kFloat64)).str(), "[ Float64{} ]"));
  const std::string si = ad::index_tensor({3, 14}).str();
  EXPECT_TRUE(contains(si, "Int64{2}")) << si;
  EXPECT_TRUE(contains(si, "14")) << si;
  EXPECT_FALSE(contains(si, "14.0")) << si;
  EXPECT_TRUE(contains(Tensor().str(), "undefined"));
}

TEST(Tensor, PrintSummarisesLargeTensors) {
  const Tensor big = ad::arange(10000, ad::dtype(ad::kFloat64)).reshape({100, 100});
  const std::string s = big.str();
  EXPECT_TRUE(contains(s, "...")) << s;
  EXPECT_TRUE(contains(s, "[ Float64{100, 100} ]")) << s;
  EXPECT_LT(s.size(), 2000u) << s;
  EXPECT_TRUE(contains(s, "9999")) << s;   // the last element is shown
  EXPECT_FALSE(contains(s, "5050")) << s;  // a middle element is not
}

TEST(Tensor, PrintAutogradState) {
  Tensor x = ad::tensor({1, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  const std::string sx = x.str();
  EXPECT_TRUE(contains(sx, "requires_grad")) << sx;
  EXPECT_TRUE(contains(sx, "Float64{2}")) << sx;
  const Tensor y = x + x;
  const std::string sy = y.str();
  EXPECT_TRUE(contains(sy, "grad_fn=<add>")) << sy;
  EXPECT_TRUE(contains((x * x).str(), "grad_fn=<mul>"));
}

// ---------------------------------------------------------------- in-place

TEST(Tensor, InPlaceOpsBumpVersion) {
  Tensor t = ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64));
  const auto v0 = t.version();
  t.add_(ad::tensor({1, 1, 1}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(t.version(), v0 + 1);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{2, 3, 4}));
  t.add_(ad::tensor({1, 2, 3}, ad::dtype(ad::kFloat64)), -2.0);
  EXPECT_EQ(t.version(), v0 + 2);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, -1, -2}));
  t.mul_(ad::tensor({3, 3, 3}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(t.version(), v0 + 3);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, -3, -6}));
  t.mul_(-1.0);
  EXPECT_EQ(t.version(), v0 + 4);
  t.fill_(7.0);
  EXPECT_EQ(t.version(), v0 + 5);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{7, 7, 7}));
  t.copy_(ad::tensor({9, 8, 7}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(t.version(), v0 + 6);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{9, 8, 7}));
  t.copy_(ad::scalar_tensor(0.5, ad::dtype(ad::kFloat64)));  // broadcast
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0.5, 0.5, 0.5}));
  t.sub_(ad::tensor({0.5, 0.5, 0.5}, ad::dtype(ad::kFloat64)));
  t.add_(2.0);
  t.div_(ad::tensor({2, 4, 8}, ad::dtype(ad::kFloat64)));
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 0.5, 0.25}));
  t.zero_();
  EXPECT_EQ(t.version(), v0 + 11);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 0, 0}));

  EXPECT_THROW(t.add_(ad::tensor({1, 2}, ad::dtype(ad::kFloat64))), ad::Error);  // not broadcastable to [3]
  EXPECT_THROW(
      t.copy_(
          ad::ones({3}, ad::dtype(ad::kInt64)).to(ad::kInt64).add_(ad::tensor({1.0, 1, 1}, ad::dtype(ad::kFloat64)))),
      ad::Error);                   // a float into Int64
  EXPECT_EQ(t.version(), v0 + 11);  // failed ops do not bump
}

TEST(Tensor, InPlaceOnLeafRequiringGradNeedsNoGrad) {
  Tensor w = ad::tensor({1, 2}, ad::dtype(ad::kFloat64)).requires_grad_();
  const std::string m = error_of([&] { w.add_(1.0); });
  EXPECT_TRUE(contains(m, "add_")) << m;
  EXPECT_TRUE(contains(m, "NoGradGuard")) << m;
  EXPECT_THROW(w.mul_(2.0), ad::Error);
  EXPECT_THROW(w.fill_(0.0), ad::Error);
  EXPECT_THROW(w.copy_(ad::tensor({3, 4}, ad::dtype(ad::kFloat64))), ad::Error);
  EXPECT_THROW(w.zero_(), ad::Error);
  EXPECT_EQ(w.to_vector(), (std::vector<double>{1, 2}));  // untouched
  EXPECT_EQ(w.version(), 0u);
  {
    ad::NoGradGuard ng;
    w.add_(ad::tensor({10, 10}, ad::dtype(ad::kFloat64)), 0.5);
    w.mul_(2.0);
  }
  EXPECT_EQ(w.to_vector(), (std::vector<double>{12, 14}));
  EXPECT_EQ(w.version(), 2u);
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  // a non-leaf may change in place: the op is recorded (test_views.cpp has the rules)
  Tensor h = w * 2.0;
  h.add_(1.0);
  h.sum().backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2, 2}));
}

// ---------------------------------------------------------------- shape errors

TEST(Tensor, AddShapeErrorNamesOpAndShapes) {
  const Tensor a = ad::zeros({2, 3}), b = ad::zeros({4});
  const std::string m = error_of([&] { ad::add(a, b); });
  EXPECT_TRUE(contains(m, "add")) << m;
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_TRUE(contains(m, "[4]")) << m;
  EXPECT_THROW(a + b, ad::Error);
  const std::string mm = error_of([&] { ad::mul(a, ad::zeros({3, 3})); });
  EXPECT_TRUE(contains(mm, "mul")) << mm;
}

TEST(Tensor, MatmulShapeErrorNamesShapes) {
  const Tensor a = ad::zeros({2, 3}), b = ad::zeros({4, 5});
  const std::string m = error_of([&] { ad::matmul(a, b); });
  EXPECT_TRUE(contains(m, "matmul")) << m;
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_TRUE(contains(m, "[4, 5]")) << m;
  const std::string mv = error_of([] { ad::matmul(ad::zeros({3}), ad::zeros({4})); });
  EXPECT_TRUE(contains(mv, "[3]") && contains(mv, "[4]")) << mv;
  EXPECT_THROW(
      ad::matmul(ad::scalar_tensor(1.0, ad::dtype(ad::kFloat64)), ad::scalar_tensor(2.0, ad::dtype(ad::kFloat64))),
      ad::Error);
  // valid shapes still work
  EXPECT_EQ(ad::matmul(ad::ones({2, 3}), ad::ones({3, 4})).shape(), (Shape{2, 4}));
  EXPECT_EQ(ad::matmul(ad::ones({5, 2, 3}), ad::ones({3, 4})).shape(), (Shape{5, 2, 4}));
  EXPECT_DOUBLE_EQ(ad::matmul(ad::ones({2, 3}), ad::ones({3, 4})).at({1, 3}), 3.0);
}

TEST(Tensor, ReshapeErrors) {
  const Tensor t = ad::zeros({2, 3});
  const std::string m = error_of([&] { t.reshape({4, 2}); });
  EXPECT_TRUE(contains(m, "reshape")) << m;
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_TRUE(contains(m, "[4, 2]")) << m;
  EXPECT_THROW(t.reshape({-1, -1}), ad::Error);
  EXPECT_THROW(t.reshape({-1, 4}), ad::Error);
  EXPECT_THROW(t.reshape({-2, -3}), ad::Error);
}

TEST(Tensor, CatErrors) {
  const std::string m = error_of([] { ad::cat({ad::zeros({2, 3}), ad::zeros({2, 4})}, 0); });
  EXPECT_TRUE(contains(m, "cat")) << m;
  EXPECT_TRUE(contains(m, "[2, 3]")) << m;
  EXPECT_TRUE(contains(m, "[2, 4]")) << m;
  EXPECT_THROW(ad::cat({}, 0), ad::Error);
  EXPECT_THROW(ad::cat({ad::zeros({2}), ad::zeros({2, 1})}, 0), ad::Error);
  EXPECT_EQ(ad::cat({ad::zeros({2}), ad::zeros({2}, ad::dtype(ad::kFloat64))}, 0).dtype(), ad::kFloat64);  // promoted
  EXPECT_THROW(ad::cat({ad::zeros({2, 3})}, 2), ad::Error);
  const Tensor ok = ad::cat({ad::ones({2, 3}), ad::zeros({2, 4})}, 1);
  EXPECT_EQ(ok.shape(), (Shape{2, 7}));
  EXPECT_DOUBLE_EQ(ok.at({1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(ok.at({1, 3}), 0.0);
}

}  // namespace

namespace {

TEST(TensorInplace, FusedUpdatesMatchTheirDefinitions) {
  ad::Tensor s = ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64));
  const ad::Tensor a = ad::tensor({2.0, 4.0, 6.0}, ad::dtype(ad::kFloat64)),
                   b = ad::tensor({0.5, 2.0, -1.0}, ad::dtype(ad::kFloat64));
  const auto v0 = s.version();
  s.addcmul_(a, b, 0.5);  // 1 + 0.5*1, 2 + 0.5*8, 3 + 0.5*(-6)
  EXPECT_EQ(s.to_vector(), (std::vector<double>{1.5, 6.0, 0.0}));
  s.addcdiv_(a, b, 2.0);  // 1.5 + 2*4, 6 + 2*2, 0 + 2*(-6)
  EXPECT_EQ(s.to_vector(), (std::vector<double>{9.5, 10.0, -12.0}));
  s.lerp_(ad::tensor({10.0, 0.0, 0.0}, ad::dtype(ad::kFloat64)), 0.25);  // s + 0.25 (end - s)
  EXPECT_EQ(s.to_vector(), (std::vector<double>{9.625, 7.5, -9.0}));
  EXPECT_EQ(s.version(), v0 + 3);
  ad::Tensor row = ad::zeros({2, 3}, ad::dtype(ad::kFloat64));
  row.addcmul_(ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64)),
               ad::scalar_tensor(2.0, ad::dtype(ad::kFloat64)));  // broadcasting
  EXPECT_EQ(row.to_vector(), (std::vector<double>{2, 4, 6, 2, 4, 6}));
  EXPECT_THROW(row.addcmul_(ad::ones({4}), ad::ones({4})), ad::Error);
  ad::Tensor leaf = ad::ones({3}).requires_grad_();
  EXPECT_THROW(leaf.addcdiv_(a, b), ad::Error);  // a leaf that requires grad, outside NoGradGuard
}

}  // namespace
