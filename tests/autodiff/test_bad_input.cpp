// One row per misuse a new user can make, with the fragment its ad::Error must contain: the
// name of the op that was called (not of an op it uses inside), and what was wrong. Runs in the
// normal and in the sanitizer build, so a row that reads out of bounds fails there even when it
// happens to throw here. The classes: 0-d tensors given to ops that need a dim, element counts
// that overflow, sizes that do not agree, indices out of range, values without an integer,
// repeated or out-of-range dims, impossible ranges.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Tensor;
constexpr std::int64_t kBig = std::int64_t{1} << 40;

struct Misuse {
  const char* what;
  std::function<void()> call;
  const char* expect;  // starts with the called op's name
};

Tensor s0() { return ad::scalar_tensor(1.0, ad::dtype(ad::kFloat64)); }
Tensor v3() { return ad::tensor({1.0, 2.0, 3.0}, ad::dtype(ad::kFloat64)); }
Tensor m23() { return ad::zeros({2, 3}, ad::dtype(ad::kFloat64)); }

const std::vector<Misuse>& misuses() {
  static const std::vector<Misuse> rows = {
      // 0-d tensors where a dim is needed
      {"size(0) of a scalar", [] { (void)s0().size(0); }, "size: dim 0 given for a 0-d tensor"},
      {"gather on a scalar", [] { ad::gather(s0(), 0, ad::index_tensor({0}, {})); }, "gather: dim 0 given for a 0-d"},
      {"scatter_add into a scalar", [] { ad::scatter_add({}, 0, ad::index_tensor({0}, {}), s0()); },
       "scatter_add: dim 0 given for a 0-d"},
      {"index_add into a scalar", [] { ad::index_add({}, 0, ad::index_tensor({0}), v3()); },
       "index_add: dim 0 given for a 0-d"},
      {"index_select on a scalar", [] { ad::index_select(s0(), 0, ad::index_tensor({0})); },
       "index_select: dim 0 given for a 0-d"},
      {"cat of scalars",
       [] {
         ad::cat({s0(), s0()});
       },
       "cat: dim 0 given for a 0-d"},
      {"slice of a scalar", [] { ad::slice(s0(), 0, 0, 1); }, "slice: dim 0 given for a 0-d"},
      {"softmax of a scalar, dim 1", [] { ad::softmax(s0(), 1); }, "softmax: dim 1 is out of range for a 0-d"},
      {"log_softmax of a scalar, dim 2", [] { ad::log_softmax(s0(), 2); }, "log_softmax: dim 2 is out of range"},
      {"logsumexp of a scalar, dim 1", [] { ad::logsumexp(s0(), {1}); }, "logsumexp: dim 1 is out of range"},
      {"transpose of a scalar", [] { ad::transpose(s0(), 0, 1); }, "transpose: dim 1 is out of range for a 0-d"},
      {"matmul of scalars", [] { ad::matmul(s0(), s0()); }, "matmul: both operands need at least one dim"},
      // element counts that overflow int64, or memory that cannot exist
      {"zeros 2^40 x 2^40",
       [] {
         ad::zeros({kBig, kBig});
       },
       "zeros: shape [1099511627776, 1099511627776] has more"},
      {"ones whose byte count wraps",
       [] {
         ad::ones({std::int64_t{1} << 61, 4});
       },
       "ones: shape"},
      {"empty with 2^62 elements", [] { ad::empty({std::int64_t{1} << 62}); }, "empty: shape"},
      {"full 2^33 x 2^33",
       [] {
         ad::full({std::int64_t{1} << 33, std::int64_t{1} << 33}, 1.0);
       },
       "full: shape"},
      {"randn of 2^40 floats", [] { ad::randn({kBig}); }, "randn: out of memory allocating"},
      {"rand with a negative size",
       [] {
         ad::rand({3, -1});
       },
       "rand: negative size -1 in dim 1"},
      {"randint with a huge shape",
       [] {
         ad::randint(0, 5, {kBig, kBig});
       },
       "randint: shape"},
      {"reshape to an overflowing shape",
       [] {
         ad::reshape(ad::zeros({0}), {kBig, kBig, 0});
       },
       "reshape: shape"},
      {"reshape with -1 and huge sizes",
       [] {
         ad::reshape(v3(), {kBig, kBig, -1});
       },
       "reshape: shape"},
      {"reshape with a negative size", [] { ad::reshape(v3(), {-3}); }, "reshape: negative size -3"},
      {"expand to 2^80 elements",
       [] {
         ad::expand(ad::zeros({1}), {kBig, kBig});
       },
       "expand: shape"},
      {"broadcast to 2^80 elements",
       [] {
         ad::zeros({0, kBig, 1}) + ad::zeros({0, 1, kBig});
       },
       "add: shape"},
      {"tensor with a huge shape",
       [] {
         ad::tensor({1.0}, {kBig, kBig}, {});
       },
       "tensor: shape"},
      {"eye of a negative size", [] { ad::eye(-2); }, "eye: n must be >= 0, got -2"},
      {"randperm of a negative size", [] { ad::randperm(-1); }, "randperm: n must be >= 0"},
      // sizes that do not agree
      {"index_add with a short source",
       [] {
         ad::index_add({3}, 0, ad::index_tensor({0, 1, 2}), ad::tensor({1.0}, ad::dtype(ad::kFloat64)));
       },
       "index_add: src has shape [1] but 3 indices into dim 0 of [3] need src of shape [3]"},
      {"scatter_add with a short source",
       [] {
         ad::scatter_add({3}, 0, ad::index_tensor({0, 1, 2}), ad::tensor({1.0}, ad::dtype(ad::kFloat64)));
       },
       "scatter_add: src shape [1] must equal the index shape [3]"},
      {"tensor whose values do not fill the shape",
       [] {
         ad::tensor({1, 2, 3}, {2, 2}, {});
       },
       "tensor: 3 values do not fill shape [2, 2]"},
      {"reshape to another element count",
       [] {
         ad::reshape(v3(), {2, 2});
       },
       "reshape: cannot view shape [3]"},
      {"add of shapes that do not broadcast", [] { m23() + ad::zeros({2}, ad::dtype(ad::kFloat64)); },
       "add: shapes [2, 3] and [2] cannot be broadcast"},
      {"matmul of mismatched inner sizes", [] { ad::matmul(m23(), m23()); }, "matmul:"},
      {"cat of different ranks",
       [] {
         ad::cat({v3(), m23()});
       },
       "cat: tensor 1 has shape [2, 3]"},
      {"copy_ from a shape that does not broadcast",
       [] {
         m23().copy_(v3().reshape({3, 1}));
       },
       "copy_: the argument of shape [3, 1] cannot be broadcast"},
      // indices out of range
      {"gather with an index past the end", [] { ad::gather(v3(), 0, ad::index_tensor({5})); },
       "gather: index 5 is out of range for dim 0 of shape [3]"},
      {"index_select with a negative index", [] { ad::index_select(v3(), 0, ad::index_tensor({-4})); },
       "index_select: index -4 is out of range for dim 0"},
      {"index_add with an index past the end",
       [] {
         ad::index_add({2}, 0, ad::index_tensor({0, 2}), ad::tensor({1.0, 1.0}, ad::dtype(ad::kFloat64)));
       },
       "index_add: index 2 is out of range for dim 0 of shape [2]"},
      {"index past the end",
       [] {
         m23().index({0, 3});
       },
       "index: index 3 is out of range for dim 1 of shape [2, 3]"},
      {"tensor index past the end", [] { m23().index({ad::index_tensor({2})}); },
       "index: tensor index 2 (element 0) is out of range for a dim of size 2"},
      {"select past the end", [] { ad::select(m23(), 0, 2); }, "select: index 2 is out of range for dim 0"},
      {"narrow past the end", [] { ad::narrow(v3(), 0, 2, 5); }, "narrow: start 2 and length 5 do not fit"},
      {"view of a transposed tensor", [] { m23().t().view({6}); }, "view: a tensor of shape [3, 2]"},
      {"fill_ of an expanded view",
       [] {
         v3().reshape({3, 1}).expand({3, 2}).fill_(1.0);
       },
       "fill_: the tensor of shape [3, 2] (strides [1, 0]) is a view in which several elements share memory"},
      {"data_ptr of a transposed view", [] { (void)m23().t().data_ptr<double>(); },
       "data_ptr: the tensor of shape [3, 2] is a non-contiguous view"},
      {"at with an index past the end", [] { (void)v3().at({3}); }, "at: index 3 is out of range for dim 0"},
      {"at with too few indices", [] { (void)m23().at({1}); }, "at: 1 indices given for a tensor of shape [2, 3]"},
      {"gather with a Float64 index", [] { ad::gather(v3(), 0, v3()); }, "gather: the index must be an Int64 tensor"},
      // values that have no integer
      {"NaN to Int64",
       [] {
         ad::tensor({1.0, NAN}, ad::dtype(ad::kFloat64)).to(ad::kInt64);
       },
       "to(Int64): element 1 is nan"},
      {"Inf to Int64", [] { ad::tensor({INFINITY}, ad::dtype(ad::kFloat64)).to(ad::kInt64); },
       "to(Int64): element 0 is inf"},
      {"1e19 to Int64", [] { ad::tensor({1e19}, ad::dtype(ad::kFloat64)).to(ad::kInt64); }, "to(Int64): element 0 is"},
      // dims: repeated, out of range
      {"sum over a dim twice",
       [] {
         ad::sum(m23(), {0, 0});
       },
       "sum: dim 0 appears more than once in dims [0, 0]"},
      {"mean over 1 and -1",
       [] {
         ad::mean(m23(), {1, -1});
       },
       "mean: dim 1 appears more than once"},
      {"amax over a dim twice",
       [] {
         ad::amax(m23(), {1, 1});
       },
       "amax: dim 1 appears more than once"},
      {"amin past the rank", [] { ad::amin(m23(), {2}); }, "amin: dim 2 is out of range for a tensor of rank 2"},
      {"logsumexp over a dim twice",
       [] {
         ad::logsumexp(m23(), {1, 1});
       },
       "logsumexp: dim 1 appears more than once"},
      {"sum past the rank", [] { ad::sum(m23(), {5}); }, "sum: dim 5 is out of range for a tensor of rank 2"},
      {"argmax past the rank", [] { ad::argmax(m23(), 2); }, "argmax: dim 2 is out of range"},
      {"softmax past the rank", [] { ad::softmax(m23(), -3); }, "softmax: dim -3 is out of range"},
      {"permute with a repeated dim",
       [] {
         ad::permute(m23(), {0, 0});
       },
       "permute: dims [0, 0] repeat dim 0"},
      {"unsqueeze past the rank", [] { ad::unsqueeze(v3(), 3); }, "unsqueeze: dim 3 is out of range"},
      // impossible ranges and arguments
      {"arange to NaN", [] { ad::arange(0, NAN, 1.0, ad::dtype(ad::kFloat64)); },
       "arange: start, end and step must be finite"},
      {"arange to Inf", [] { ad::arange(0.0, INFINITY, 1.0, ad::dtype(ad::kFloat64)); },
       "arange: start, end and step must be finite"},
      {"arange with step 0", [] { ad::arange(0, 1, 0); }, "arange: step 0.000000 does not lead"},
      {"arange with 2^70 elements", [] { ad::arange(0, 0x1p70, 1.0, ad::dtype(ad::kFloat64)); }, "arange:"},
      {"linspace with negative steps", [] { ad::linspace(0, 1, -3, ad::dtype(ad::kFloat64)); },
       "linspace: steps must be >= 1"},
      {"linspace to NaN", [] { ad::linspace(0, NAN, 3, ad::dtype(ad::kFloat64)); },
       "linspace: start and end must be finite"},
      {"slice with step 0", [] { ad::slice(v3(), 0, 0, 2, 0); }, "slice: step must be positive"},
      {"cat of nothing", [] { ad::cat({}); }, "cat: needs at least one tensor"},
      {"stack of nothing", [] { ad::stack({}); }, "stack: needs at least one tensor"},
      {"amax of an empty tensor", [] { ad::amax(ad::zeros({0})); }, "amax: cannot reduce an empty tensor"},
      {"item of three elements", [] { (void)v3().item(); }, "item: the tensor has shape [3]"},
      {"an undefined tensor", [] { (void)Tensor().shape(); }, "use of an undefined Tensor"},
      // autograd misuse
      {"backward of a non-scalar", [] { (v3().requires_grad_() * 2.0).backward(); },
       "backward: grad can be implicitly created only for one-element outputs"},
      {"backward of a constant", [] { v3().sum().backward(); }, "does not require grad and has no grad_fn"},
      {"requires_grad on Int64", [] { ad::index_tensor({1}).requires_grad_(); },
       "requires_grad_: only floating-point tensors"},
      {"in-place on a leaf that requires grad", [] { v3().requires_grad_().add_(1.0); },
       "add_: a leaf tensor of shape [3] that requires grad cannot be modified in place"},
      {"math on Int64", [] { ad::exp(ad::index_tensor({1})); }, "exp: Int64 tensors hold indices"},
      {"softmax of Int64",
       [] {
         ad::softmax(ad::index_tensor({1, 2}), 0);
       },
       "softmax: Int64 tensors hold indices"},
      {"logsumexp of Int64", [] { ad::logsumexp(ad::index_tensor({1}), {}); }, "logsumexp: Int64 tensors"},
      {"broadcast_to a smaller shape", [] { ad::broadcast_to(m23(), {4}); }, "broadcast_to: shape [2, 3] cannot"},
      {"uniform with lo > hi", [] { ad::uniform({2}, 1.0, 0.0); }, "uniform: need lo < hi"},
      {"a float written into an Int64 tensor",
       [] { ad::index_tensor({1}).add_(ad::tensor({0.5}, ad::dtype(ad::kFloat64))); },
       "add_: a Float64 argument cannot be written into an Int64 tensor"},
      // dtypes: masks, indices, the default dtype
      {"arithmetic on masks", [] { (v3() > 0.0) * (v3() > 1.0); }, "mul: Bool tensors hold masks"},
      {"mean of a mask", [] { ad::mean(v3() > 0.0); }, "mean: Bool tensors hold masks and do not support this op"},
      {"requires_grad on Bool", [] { (v3() > 0.0).requires_grad_(); },
       "requires_grad_: only floating-point tensors can require gradients (this one is Bool)"},
      {"a float condition for where", [] { ad::where(v3(), v3(), v3()); },
       "where: the condition must be a Bool tensor, got Float64"},
      {"a float mask for masked_fill", [] { ad::masked_fill(v3(), v3(), 0.0); },
       "masked_fill: the mask must be a Bool tensor"},
      {"a float mask for masked_select", [] { ad::masked_select(v3(), v3()); },
       "masked_select: the mask must be a Bool tensor"},
      {"logical_not of a float", [] { ad::logical_not(v3()); }, "logical_not: the operand must be a Bool tensor"},
      {"a float written into a mask", [] { (v3() > 0.0).copy_(v3()); },
       "copy_: a Float64 argument cannot be written into a Bool tensor"},
      {"a Bool index of the wrong shape", [] { m23().index({ad::ones({3}, ad::dtype(ad::kBool))}); },
       "index: a Bool mask of shape [3] must match the sizes of the dims it indexes"},
      {"Int64 overflow in mul", [] { ad::index_tensor({std::int64_t{1} << 62}) * 2.0; },
       "mul: the Int64 result overflows"},
      {"Int64 overflow in sub",
       [] {
         ad::index_tensor({-(std::int64_t{1} << 62)}) - ad::index_tensor({std::int64_t{1} << 62}) -
             ad::index_tensor({1});
       },
       "sub: the Int64 result overflows"},
      {"Int64 overflow in a sum", [] { ad::full({4}, 0x1p62, ad::dtype(ad::kInt64)).sum(); },
       "sum: the Int64 sum overflows"},
      {"an integer default dtype", [] { ad::set_default_dtype(ad::kInt64); },
       "set_default_dtype: the default dtype must be Float32 or Float64"},
      {"index_put_ into a leaf that requires grad", [] { v3().requires_grad_().index_put_({0}, 1.0); },
       "index_put_: a leaf tensor of shape [3] that requires grad cannot be modified in place"},
      {"in-place on a view of a leaf that requires grad", [] { m23().requires_grad_().select(0, 1).mul_(2.0); },
       "mul_: the tensor of shape [3] is a view of a leaf tensor of shape [2, 3] that requires grad"},
      {"recorded in-place on a view of a non-contiguous tensor",
       [] { (m23().requires_grad_() * 1.0).t().detach().select(0, 0).copy_(v3().slice(0, 0, 2).requires_grad_()); },
       "copy_: the tensor of shape [2] is a view of a non-contiguous tensor of shape [3, 2]"},
      {"zero kernel threads", [] { ad::set_num_threads(0); }, "set_num_threads: the count must be >= 1, got 0"},
      {"fused Adam step with a state buffer of another shape",
       [] {
         Tensor p = m23(), g = m23(), m = v3(), v = m23();
         ad::adam_step_(p, g, m, v, nullptr, {});
       },
       "adam_step_: the first state buffer must be a contiguous Float64 tensor of the parameter's shape [2, 3], got "
       "[3] Float64"},
      {"fused SGD step with a transposed gradient",
       [] {
         Tensor p = m23(), g = m23().t().contiguous().t();
         ad::sgd_step_(p, g, nullptr, false, {});
       },
       "sgd_step_: the gradient must be a contiguous Float64 tensor of the parameter's shape [2, 3], got [2, 3] "
       "Float64 (not contiguous)"},
      {"fused RMSprop step with one buffer given twice",
       [] {
         Tensor p = m23(), g = m23(), v = m23();
         ad::rmsprop_step_(p, g, v, &v, nullptr, {});
       },
       "rmsprop_step_: the second state buffer shares memory with another tensor of the update"},
      {"fused step on a parameter that requires grad while recording",
       [] {
         Tensor p = m23().requires_grad_(), g = m23();
         ad::sgd_step_(p, g, nullptr, false, {});
       },
       "sgd_step_: the parameter requires grad and would be written while recording; wrap the update in "
       "ad::NoGradGuard"},
      {"fused step on Int64 parameters",
       [] {
         Tensor p = ad::zeros({2}, ad::dtype(ad::kInt64)), g = p.clone();
         ad::sgd_step_(p, g, nullptr, false, {});
       },
       "sgd_step_: the parameter is Int64; the fused updates take Float32 or Float64 parameters"},
      {"fused Adam step at step 0",
       [] {
         Tensor p = m23(), g = m23(), m = m23(), v = m23();
         ad::adam_step_(p, g, m, v, nullptr, {.step = 0});
       },
       "adam_step_: the step count must be >= 1, got 0"},
      {"prod over a repeated dim",
       [] {
         ad::prod(m23(), {1, -1});
       },
       "prod: dim"},
  };
  return rows;
}

class BadInput : public ::testing::TestWithParam<std::size_t> {};

TEST_P(BadInput, IsAnErrorNamingTheOpAndTheFault) {
  const Misuse& m = misuses()[GetParam()];
  SCOPED_TRACE(m.what);
  std::string msg;
  try {
    m.call();
    ADD_FAILURE() << "no error";
  } catch (const ad::Error& e) {
    msg = e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an ad::Error: " << typeid(e).name() << ": " << e.what();
  }
  EXPECT_NE(msg.find(m.expect), std::string::npos) << "message: " << msg << "\nexpected: " << m.expect;
}

INSTANTIATE_TEST_SUITE_P(Table, BadInput, ::testing::Range<std::size_t>(0, misuses().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& row) {
                           std::string name;
                           for (const char* c = misuses()[row.param].what; *c; ++c)
                             name += std::isalnum(static_cast<unsigned char>(*c)) ? *c : '_';
                           return name;
                         });

// What the same calls do where they are valid: 0-d tensors behave as in PyTorch.
TEST(BadInputNeighbours, ScalarsWhereADimHasOneMeaning) {
  const Tensor x = ad::scalar_tensor(0.3, ad::dtype(ad::kFloat64)).requires_grad_();
  EXPECT_EQ(ad::softmax(x, 0).item(), 1.0);
  EXPECT_EQ(ad::log_softmax(x, -1).item(), 0.0);
  EXPECT_DOUBLE_EQ(ad::logsumexp(x, {0}).item(), 0.3);
  EXPECT_EQ(ad::logsumexp(x, {0}).dim(), 0);
  EXPECT_EQ(ad::sum(x, {0}).item(), 0.3);
  EXPECT_EQ(ad::argmax(x, 0).item(), 0.0);
  EXPECT_EQ(ad::squeeze(x, 0).dim(), 0);
  EXPECT_EQ(ad::transpose(x, 0, -1).dim(), 0);
  ad::logsumexp(x, {0}).backward();
  EXPECT_EQ(x.grad().item(), 1.0);
  // Empty reductions follow PyTorch: the log of a sum of no exponentials is -inf.
  EXPECT_EQ(ad::logsumexp(ad::zeros({0}), {0}).item(), -INFINITY);
  EXPECT_EQ(ad::softmax(ad::zeros({2, 0}), 1).shape(), (ad::Shape{2, 0}));
  EXPECT_EQ(ad::log_softmax(ad::zeros({0, 2}), 1).shape(), (ad::Shape{0, 2}));
  // A 0 in a shape is fine, and so is its count of zero elements.
  EXPECT_EQ(ad::zeros({0, kBig}).numel(), 0);
  EXPECT_EQ(ad::sum(ad::zeros({0, 3}), {0}).to_vector(), (std::vector<double>{0, 0, 0}));
}

}  // namespace
