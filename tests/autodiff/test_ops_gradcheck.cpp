// One table-driven test over every op: each catalog row names an op, a case (shapes), an input
// domain and a call; the parametrized test runs gradcheck and gradgradcheck on float64 random
// inputs. A second test asserts the catalog covers every op declared in autodiff/ops.h and the
// Tensor op methods.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "tests/test_util.h"

namespace {

using ad::Shape;
using ad::Tensor;
using TV = std::vector<Tensor>;

// Where an input's values are drawn: uniform in [lo, hi), at least `margin` away from every
// point in `avoid` (kinks), or, when `distinct`, on a spaced grid so that no two values of any
// input (within one input or across inputs) are closer than 0.05 (max/min/amax/compare ties).
struct Domain {
  double lo = -2.0, hi = 2.0;
  std::vector<double> avoid = {};
  double margin = 0.05;
  bool distinct = false;
};

const Domain kAny{};
const Domain kPositive{0.5, 2.0};
const Domain kNonZero{-2.0, 2.0, {0.0}, 0.3};
const Domain kAwayFromZero{-2.0, 2.0, {0.0}, 0.05};
const Domain kDistinct{-2.0, 2.0, {}, 0.05, true};

struct OpCase {
  std::string op;         // the op's name as declared (coverage key), e.g. "add", "operator+(T,double)"
  std::string case_name;  // which shapes / variant
  std::vector<Shape> shapes;
  std::vector<Domain> domains;  // one per input, or a single one for all inputs
  ad::TensorFunction fn;
  bool differentiable = true;     // false: the output must not require grad (masks, argmax)
  bool zero_gradient = false;     // the gradient must be exactly zero everywhere (step)
  bool needs_contiguous = false;  // view: refuses (by design) inputs whose strides cannot be merged
};

// So a failing case prints as "op / case" rather than a byte dump.
void PrintTo(const OpCase& c, std::ostream* os) { *os << c.op << " / " << c.case_name; }

std::string sanitize(const std::string& s) {
  static const std::map<char, const char*> kSpelled = {{'+', "plus"}, {'-', "minus"}, {'*', "times"}, {'/', "slash"},
                                                       {'<', "lt"},   {'>', "gt"},    {'=', "eq"},    {'!', "not"},
                                                       {'&', "and"},  {'|', "or"}};
  std::string out;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      out += c;
    else if (const auto it = kSpelled.find(c); it != kSpelled.end())
      out += it->second;
    else if (!out.empty() && out.back() != '_')
      out += '_';
  }
  while (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

std::string test_name(const OpCase& c) { return sanitize(c.op) + "__" + sanitize(c.case_name); }

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

Tensor make_input(const Shape& shape, const Domain& d, std::size_t input_index, ad::Generator& gen) {
  const std::int64_t n = ad::numel_of(shape);
  std::vector<double> v(static_cast<std::size_t>(n));
  if (d.distinct) {
    // Grid 0.25 apart, shuffled, shifted by 0.1 per input, jitter < 0.05: any two values of
    // the same or different inputs differ by at least 0.05.
    const Tensor perm = ad::randperm(n, &gen);
    const auto p = perm.to_vector();
    for (std::size_t i = 0; i < v.size(); ++i)
      v[i] = (p[i] - static_cast<double>(n / 2)) * 0.25 + 0.1 * static_cast<double>(input_index % 2) +
             gen.uniform(0.0, 0.05);
  } else {
    for (auto& x : v) {
      for (;;) {
        x = gen.uniform(d.lo, d.hi);
        const bool near_kink =
            std::any_of(d.avoid.begin(), d.avoid.end(), [&](double k) { return std::abs(x - k) < d.margin; });
        if (!near_kink) break;
      }
    }
  }
  return ad::tensor(v, shape, ad::dtype(ad::kFloat64));
}

TV make_inputs(const OpCase& c) {
  ad::Generator gen(fnv1a(test_name(c)));
  TV xs;
  for (std::size_t i = 0; i < c.shapes.size(); ++i) {
    const Domain& d = c.domains.empty() ? kAny : c.domains.size() == 1 ? c.domains[0] : c.domains.at(i);
    xs.push_back(make_input(c.shapes[i], d, i, gen).requires_grad_());
  }
  return xs;
}

Tensor idx(const std::vector<std::int64_t>& v, const Shape& shape = {}) {
  return ad::index_tensor(v, shape.empty() ? Shape{static_cast<std::int64_t>(v.size())} : shape);
}

// ---- the catalog
std::vector<OpCase> build_catalog() {
  std::vector<OpCase> cat;
  auto add = [&](std::string op, std::string cs, std::vector<Shape> shapes, std::vector<Domain> doms,
                 ad::TensorFunction fn) {
    cat.push_back({std::move(op), std::move(cs), std::move(shapes), std::move(doms), std::move(fn)});
  };
  // A mask or index op: its output (of dtype `out`, Bool for comparisons) is checked as Float64.
  auto nondiff = [&](std::string op, std::string cs, std::vector<Shape> shapes, ad::TensorFunction fn,
                     ad::Dtype out = ad::kBool) {
    ad::TensorFunction as_f64 = [fn = std::move(fn), out](const TV& x) {
      const Tensor o = fn(x);
      EXPECT_EQ(o.dtype(), out);
      return o.to(ad::kFloat64);
    };
    OpCase c{std::move(op), std::move(cs), std::move(shapes), {kDistinct}, std::move(as_f64)};
    c.differentiable = false;
    cat.push_back(std::move(c));
  };

  // Shape pairs every broadcasting binary op is checked on.
  const std::vector<std::pair<std::string, std::vector<Shape>>> pairs = {
      {"plain_3x4", {{3, 4}, {3, 4}}},          {"bcast_3x4_1x4", {{3, 4}, {1, 4}}},
      {"bcast_3x4_4", {{3, 4}, {4}}},           {"bcast_2x1x4x3_2x1x4x1", {{2, 1, 4, 3}, {2, 1, 4, 1}}},
      {"scalar_tensor", {{}, {2, 3}}},          {"tensor_scalar", {{2, 3}, {}}},
      {"bcast_both_3x1_1x4", {{3, 1}, {1, 4}}},
  };

  // ---- arithmetic
  for (const auto& [cs, shapes] : pairs) {
    add("add", cs, shapes, {kAny}, [](const TV& x) { return ad::add(x[0], x[1]); });
    add("sub", cs, shapes, {kAny}, [](const TV& x) { return ad::sub(x[0], x[1]); });
    add("mul", cs, shapes, {kAny}, [](const TV& x) { return ad::mul(x[0], x[1]); });
    add("div", cs, shapes, {kAny, kNonZero}, [](const TV& x) { return ad::div(x[0], x[1]); });
    add("maximum", cs, shapes, {kDistinct}, [](const TV& x) { return ad::maximum(x[0], x[1]); });
    add("minimum", cs, shapes, {kDistinct}, [](const TV& x) { return ad::minimum(x[0], x[1]); });
    add("pow(T,T)", cs, shapes, {kPositive, kAny}, [](const TV& x) { return ad::pow(x[0], x[1]); });
  }
  add("neg", "plain", {{3, 4}}, {kAny}, [](const TV& x) { return ad::neg(x[0]); });
  add("neg", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::neg(x[0]); });
  for (double p : {2.0, 0.5, 3.0, 0.0, -1.0, 1.5, -2.5}) {
    const bool needs_positive = p != std::floor(p) || p < 0;
    std::string cs = "p_" + std::to_string(p);
    add("pow(T,double)", cs, {{3, 4}}, {needs_positive ? kPositive : kAny},
        [p](const TV& x) { return ad::pow(x[0], p); });
  }
  add("pow(T,double)", "p_2_scalar", {{}}, {kAny}, [](const TV& x) { return ad::pow(x[0], 2.0); });
  add("pow(T,T)", "both_scalar", {{}, {}}, {kPositive, kAny}, [](const TV& x) { return ad::pow(x[0], x[1]); });

  // operators (tensor-tensor, tensor-double, double-tensor)
  add("operator+", "bcast_3x4_4", {{3, 4}, {4}}, {kAny}, [](const TV& x) { return x[0] + x[1]; });
  add("operator-", "bcast_3x4_4", {{3, 4}, {4}}, {kAny}, [](const TV& x) { return x[0] - x[1]; });
  add("operator*", "bcast_3x4_4", {{3, 4}, {4}}, {kAny}, [](const TV& x) { return x[0] * x[1]; });
  add("operator/", "bcast_3x4_4", {{3, 4}, {4}}, {kAny, kNonZero}, [](const TV& x) { return x[0] / x[1]; });
  add("operator+(T,double)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0] + 1.5; });
  add("operator-(T,double)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0] - 1.5; });
  add("operator*(T,double)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0] * -2.5; });
  add("operator/(T,double)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0] / 3.0; });
  add("operator+(double,T)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return 1.5 + x[0]; });
  add("operator-(double,T)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return 1.5 - x[0]; });
  add("operator*(double,T)", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return -2.5 * x[0]; });
  add("operator/(double,T)", "3x4", {{3, 4}}, {kNonZero}, [](const TV& x) { return 2.0 / x[0]; });

  // ---- elementwise math
  for (const Shape& s : {Shape{3, 4}, Shape{}, Shape{2, 3, 4}}) {
    const std::string cs = "shape_" + ad::shape_str(s);
    add("exp", cs, {s}, {kAny}, [](const TV& x) { return ad::exp(x[0]); });
    add("log", cs, {s}, {kPositive}, [](const TV& x) { return ad::log(x[0]); });
    add("sqrt", cs, {s}, {kPositive}, [](const TV& x) { return ad::sqrt(x[0]); });
    add("abs", cs, {s}, {kAwayFromZero}, [](const TV& x) { return ad::abs(x[0]); });
    add("sin", cs, {s}, {kAny}, [](const TV& x) { return ad::sin(x[0]); });
    add("cos", cs, {s}, {kAny}, [](const TV& x) { return ad::cos(x[0]); });
    add("clamp", cs, {s}, {Domain{-2.0, 2.0, {-0.5, 0.5}, 0.05}},
        [](const TV& x) { return ad::clamp(x[0], -0.5, 0.5); });
    // ---- activations
    add("tanh", cs, {s}, {kAny}, [](const TV& x) { return ad::tanh(x[0]); });
    add("sigmoid", cs, {s}, {Domain{-6.0, 6.0}}, [](const TV& x) { return ad::sigmoid(x[0]); });
    add("relu", cs, {s}, {kAwayFromZero}, [](const TV& x) { return ad::relu(x[0]); });
    add("leaky_relu", cs, {s}, {kAwayFromZero}, [](const TV& x) { return ad::leaky_relu(x[0]); });
    cat.push_back({"step", cs, {s}, {kAwayFromZero}, [](const TV& x) { return ad::step(x[0]); }});
    cat.back().zero_gradient = true;
  }
  add("clamp", "asymmetric_lo_only", {{3, 4}}, {Domain{-2.0, 2.0, {-1.0}, 0.05}},
      [](const TV& x) { return ad::clamp(x[0], -1.0, 10.0); });
  add("leaky_relu", "slope_0.2", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return ad::leaky_relu(x[0], 0.2); });
  add("leaky_relu", "slope_negative", {{3, 4}}, {kAwayFromZero},
      [](const TV& x) { return ad::leaky_relu(x[0], -0.3); });
  // step composed with a differentiable path: d/dx (x * step(x)) = step(x) (since step' = 0)
  cat.push_back({"step", "times_x", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return x[0] * ad::step(x[0]); }});

  // ---- comparisons and where
  using CmpFn = Tensor (*)(const Tensor&, const Tensor&);
  for (const auto& entry : std::vector<std::pair<std::string, CmpFn>>{
           {"eq", ad::eq}, {"ne", ad::ne}, {"lt", ad::lt}, {"le", ad::le}, {"gt", ad::gt}, {"ge", ad::ge}}) {
    const CmpFn f = entry.second;
    nondiff(entry.first, "bcast_3x4_4", {{3, 4}, {4}}, [f](const TV& x) { return f(x[0], x[1]); });
  }
  nondiff("eq", "self_ties", {{3, 4}}, [](const TV& x) { return ad::eq(x[0], x[0]); });
  nondiff("operator==", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] == x[1]; });
  nondiff("operator<", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] < x[1]; });
  nondiff("operator>", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] > x[1]; });
  nondiff("operator<(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] < 0.15; });
  nondiff("operator>(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] > 0.15; });
  nondiff("operator<=(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] <= 0.15; });
  nondiff("operator>=(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] >= 0.15; });
  nondiff("operator==(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] == x[0].max().item(); });
  nondiff("operator!=(T,double)", "3x4", {{3, 4}}, [](const TV& x) { return x[0] != x[0].max().item(); });
  nondiff("operator!=", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] != x[1]; });
  nondiff("logical_and", "bcast_3x4_4", {{3, 4}, {4}},
          [](const TV& x) { return ad::logical_and(x[0] > 0.0, x[1] > 0.0); });
  nondiff("logical_or", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return ad::logical_or(x[0] > 0.0, x[1] > 0.0); });
  nondiff("logical_xor", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return ad::logical_xor(x[0] > 0.0, x[1] > 0.0); });
  nondiff("logical_not", "3x4", {{3, 4}}, [](const TV& x) { return ad::logical_not(x[0] > 0.0); });
  nondiff("operator&&", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] > 0.0 && x[1] < 0.5; });
  nondiff("operator||", "3x4", {{3, 4}, {3, 4}}, [](const TV& x) { return x[0] > 0.0 || x[1] < 0.5; });
  nondiff("operator!", "3x4", {{3, 4}}, [](const TV& x) { return !(x[0] > 0.0); });

  {
    const Tensor cond = ad::tensor({1, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1}, {3, 4}, ad::dtype(ad::kBool));
    const Tensor cond_row = ad::tensor({0, 1, 1, 0}, {4}, ad::dtype(ad::kBool));
    add("where", "plain_3x4", {{3, 4}, {3, 4}}, {kAny}, [cond](const TV& x) { return ad::where(cond, x[0], x[1]); });
    add("where", "bcast_b_4", {{3, 4}, {4}}, {kAny}, [cond](const TV& x) { return ad::where(cond, x[0], x[1]); });
    add("where", "bcast_cond_row", {{3, 4}, {3, 1}}, {kAny},
        [cond_row](const TV& x) { return ad::where(cond_row, x[0], x[1]); });
    add("where", "scalar_branch", {{}, {3, 4}}, {kAny}, [cond](const TV& x) { return ad::where(cond, x[0], x[1]); });
    add("where", "cond_from_input", {{3, 4}}, {kAwayFromZero},
        [](const TV& x) { return ad::where(x[0] > 0.0, x[0] * x[0], ad::sin(x[0])); });
  }

  // ---- linear algebra
  add("matmul", "1d_1d", {{4}, {4}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "2d_1d", {{3, 4}, {4}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "1d_2d", {{3}, {3, 4}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "2d_2d", {{3, 4}, {4, 2}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "3d_3d_batched", {{2, 3, 4}, {2, 4, 2}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "bcast_batch_2x1x3x4_5x4x2", {{2, 1, 3, 4}, {5, 4, 2}}, {kAny},
      [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "3d_2d", {{2, 3, 4}, {4, 2}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "2d_3d", {{3, 4}, {2, 4, 2}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "3d_1d", {{2, 3, 4}, {4}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "1d_3d", {{3}, {2, 3, 4}}, {kAny}, [](const TV& x) { return ad::matmul(x[0], x[1]); });
  add("matmul", "same_input_x_xT", {{3, 4}}, {kAny},
      [](const TV& x) { return ad::matmul(x[0], ad::transpose(x[0], 0, 1)); });

  // ---- shape ops
  add("reshape", "3x4_to_2x6", {{3, 4}}, {kAny}, [](const TV& x) { return ad::reshape(x[0], {2, 6}); });
  add("reshape", "minus_one", {{3, 4}}, {kAny}, [](const TV& x) { return ad::reshape(x[0], {-1, 3}); });
  add("reshape", "to_scalar", {{1, 1}}, {kAny}, [](const TV& x) { return ad::reshape(x[0], {}); });
  add("reshape", "then_op", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::sin(ad::reshape(x[0], {4, -1})) * 2.0; });
  add("transpose", "2d", {{3, 4}}, {kAny}, [](const TV& x) { return ad::transpose(x[0], 0, 1); });
  add("transpose", "3d_negative_dims", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::transpose(x[0], -1, -3); });
  add("permute", "3d", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::permute(x[0], {2, 0, 1}); });
  add("permute", "negative", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::permute(x[0], {-1, 1, 0}); });
  add("squeeze", "all", {{3, 1, 4, 1}}, {kAny}, [](const TV& x) { return ad::squeeze(x[0]); });
  add("squeeze(dim)", "dim1", {{3, 1, 4}}, {kAny}, [](const TV& x) { return ad::squeeze(x[0], 1); });
  add("squeeze(dim)", "dim_minus1", {{3, 4, 1}}, {kAny}, [](const TV& x) { return ad::squeeze(x[0], -1); });
  add("squeeze(dim)", "not_size_1", {{3, 4}}, {kAny}, [](const TV& x) { return ad::squeeze(x[0], 0) * 1.0; });
  add("unsqueeze", "dim0", {{3, 4}}, {kAny}, [](const TV& x) { return ad::unsqueeze(x[0], 0); });
  add("unsqueeze", "dim_minus1", {{3, 4}}, {kAny}, [](const TV& x) { return ad::unsqueeze(x[0], -1); });
  add("unsqueeze", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::unsqueeze(x[0], 0); });
  add("flatten", "3d", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::flatten(x[0]); });
  add("flatten", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::flatten(x[0]); });
  add("expand", "3x1_to_3x4", {{3, 1}}, {kAny}, [](const TV& x) { return ad::expand(x[0], {3, 4}); });
  add("expand", "new_leading_dims", {{4}}, {kAny}, [](const TV& x) { return ad::expand(x[0], {2, 3, 4}); });
  add("expand", "minus_one_keeps", {{3, 1}}, {kAny}, [](const TV& x) { return ad::expand(x[0], {2, -1, 4}); });
  add("expand", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::expand(x[0], {2, 3}); });
  add("broadcast_to", "1x4_to_3x4", {{1, 4}}, {kAny}, [](const TV& x) { return ad::broadcast_to(x[0], {3, 4}); });

  // views that pick elements (their gradient scatters back)
  add("narrow", "dim1", {{3, 5}}, {kAny}, [](const TV& x) { return ad::narrow(x[0], 1, 1, 3); });
  add("select", "dim0", {{3, 4}}, {kAny}, [](const TV& x) { return ad::select(x[0], 0, 1); });
  add("select", "dim_minus1_negative_index", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::select(x[0], -1, -2); });
  add("diagonal", "square", {{3, 3}}, {kAny}, [](const TV& x) { return ad::diagonal(x[0]); });
  add("diagonal", "above_3x4", {{3, 4}}, {kAny}, [](const TV& x) { return ad::diagonal(x[0], 1); });
  add("diagonal", "below_dims_1_0", {{4, 3}}, {kAny}, [](const TV& x) { return ad::diagonal(x[0], -1, 1, 0); });
  add("diagonal", "batched_dims_1_2", {{2, 3, 3}}, {kAny}, [](const TV& x) { return ad::diagonal(x[0], 0, 1, 2); });
  add("unfold", "windows_3_step_2", {{7}}, {kAny}, [](const TV& x) { return ad::unfold(x[0], 0, 3, 2); });
  add("unfold", "overlapping_dim1_then_op", {{2, 6}}, {kAny},
      [](const TV& x) { return ad::sin(ad::unfold(x[0], 1, 3, 1)) * 2.0; });
  // indexing
  add("index", "int_slice_none_ellipsis", {{2, 3, 4}}, {kAny}, [](const TV& x) {
    using namespace ad::indexing;  // NOLINT
    return ad::index(x[0], {1, Slice(None, None, 2), None, Ellipsis});
  });
  add("index", "tensor_index_with_repeats", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::index(x[0], {ad::indexing::Slice(), idx({2, 0, 2})});
  });
  add("Tensor::index", "slice_then_int", {{4, 3}}, {kAny}, [](const TV& x) {
    return x[0].index({ad::indexing::Slice(1), -1});
  });
  add("masked_fill", "row_mask", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::masked_fill(x[0], ad::tensor({1.0, 0.0, 0.0, 1.0}, ad::dtype(ad::kBool)), 2.0);
  });
  add("masked_select", "half", {{2, 3}}, {kAny}, [](const TV& x) {
    return ad::masked_select(x[0], ad::tensor({1.0, 0.0, 1.0, 0.0, 1.0, 1.0}, {2, 3}, ad::dtype(ad::kBool)));
  });
  add("view", "3x4_to_12", {{3, 4}}, {kAny}, [](const TV& x) { return ad::view(x[0], {12}); });
  cat.back().needs_contiguous = true;

  // ---- selection
  add("slice", "dim1_step2", {{3, 6}}, {kAny}, [](const TV& x) { return ad::slice(x[0], 1, 0, 6, 2); });
  add("slice", "negative_start", {{4, 3}}, {kAny}, [](const TV& x) { return ad::slice(x[0], 0, -3, 4); });
  add("slice", "negative_start_step2_dim_minus1", {{2, 7}}, {kAny},
      [](const TV& x) { return ad::slice(x[0], -1, -6, 100, 2); });
  add("slice", "3d_mid", {{2, 4, 3}}, {kAny}, [](const TV& x) { return ad::slice(x[0], 1, 1, 3); });
  add("index_select", "dim0_dup", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::index_select(x[0], 0, idx({2, 0, 2}));
  });
  add("index_select", "dim1_negative_index", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::index_select(x[0], 1, idx({-1, 1}));
  });
  add("index_select", "3d_dim1", {{2, 3, 4}}, {kAny}, [](const TV& x) {
    return ad::index_select(x[0], 1, idx({1, 1, 0, 2}));
  });
  add("gather", "dim1_dup", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::gather(x[0], 1, idx({0, 3, 3, 3, 1, 0}, {3, 2}));
  });
  add("gather", "dim0", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::gather(x[0], 0, idx({2, 0, 1, 1, 0, 0, 2, 2}, {2, 4}));
  });
  add("scatter_add", "dim1_dup", {{3, 2}}, {kAny}, [](const TV& x) {
    return ad::scatter_add({3, 4}, 1, idx({0, 3, 3, 3, 1, 0}, {3, 2}), x[0]);
  });
  add("scatter_add", "dim0", {{2, 4}}, {kAny}, [](const TV& x) {
    return ad::scatter_add({3, 4}, 0, idx({2, 0, 1, 1, 0, 0, 2, 2}, {2, 4}), x[0]);
  });
  add("index_add", "dim0_dup", {{3, 3}}, {kAny}, [](const TV& x) {
    return ad::index_add({4, 3}, 0, idx({0, 2, 0}), x[0]);
  });
  add("index_add", "dim1", {{2, 3}}, {kAny}, [](const TV& x) {
    return ad::index_add({2, 4}, 1, idx({3, 1, 3}), x[0]);
  });
  add("cat", "three_dim0", {{2, 3}, {1, 3}, {3, 3}}, {kAny}, [](const TV& x) {
    return ad::cat({x[0], x[1], x[2]}, 0);
  });
  add("cat", "three_dim_minus1", {{2, 1}, {2, 3}, {2, 2}}, {kAny}, [](const TV& x) {
    return ad::cat({x[0], x[1], x[2]}, -1);
  });
  add("cat", "same_tensor_twice", {{2, 3}, {2, 3}}, {kAny}, [](const TV& x) { return ad::cat({x[0], x[1], x[0]}, 1); });
  add("stack", "three_dim0", {{2, 3}, {2, 3}, {2, 3}}, {kAny}, [](const TV& x) {
    return ad::stack({x[0], x[1], x[2]}, 0);
  });
  add("stack", "three_dim_minus1", {{2, 3}, {2, 3}, {2, 3}}, {kAny}, [](const TV& x) {
    return ad::stack({x[0], x[1], x[2]}, -1);
  });

  // ---- reductions
  add("sum", "all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::sum(x[0]); });
  add("sum", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::sum(x[0]); });
  add("sum(dims)", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return ad::sum(x[0], {1}); });
  add("sum(dims)", "dims_0_2_keepdim", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::sum(x[0], {0, 2}, true); });
  add("sum(dims)", "dim_minus1_keepdim", {{3, 4}}, {kAny}, [](const TV& x) { return ad::sum(x[0], {-1}, true); });
  add("sum(dims)", "partial_full_1x4", {{1, 4}}, {kAny}, [](const TV& x) { return ad::sum(x[0], {1}); });
  add("mean", "all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::mean(x[0]); });
  add("mean(dims)", "dim0", {{3, 4}}, {kAny}, [](const TV& x) { return ad::mean(x[0], {0}); });
  add("mean(dims)", "dims_1_2_keepdim", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::mean(x[0], {1, 2}, true); });
  add("max(dim)", "dim1", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::max(x[0], 1).values; });
  add("max(dim)", "dim0_keepdim_3d", {{3, 2, 2}}, {kDistinct},
      [](const TV& x) { return ad::max(x[0], 0, true).values; });
  add("min(dim)", "dim_minus1", {{2, 5}}, {kDistinct}, [](const TV& x) { return ad::min(x[0], -1).values; });
  add("prod", "all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::prod(x[0]); });
  add("prod", "dim1_single_int", {{3, 4}}, {kAny}, [](const TV& x) { return ad::prod(x[0], 1); });
  add("prod", "3d_dims_0_2_keepdim", {{2, 3, 2}}, {kAny}, [](const TV& x) { return ad::prod(x[0], {0, 2}, true); });
  add("prod", "scalar", {{}}, {kAny}, [](const TV& x) { return ad::prod(x[0]); });
  // exact zeros that stay under gradcheck's perturbations (x * 0): one zero in row 0, two in
  // row 1, none in row 2 (inputs that are themselves 0 are in test_numerics)
  add("prod", "rows_with_zeros", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::prod(x[0] * ad::tensor({1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 1}, {3, 4}, ad::dtype(ad::kFloat64)), 1);
  });
  add("Tensor::prod", "dim0_keepdim", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].prod(0, true); });
  add("var", "all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::var(x[0]); });
  add("var", "dim1_biased_keepdim", {{3, 4}}, {kAny}, [](const TV& x) { return ad::var(x[0], {1}, 0, true); });
  add("var", "3d_dims_0_2", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::var(x[0], {0, 2}); });
  add("std", "all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::std(x[0]); });
  add("std", "dim0", {{4, 3}}, {kAny}, [](const TV& x) { return ad::std(x[0], {0}); });
  add("norm", "p2_all", {{3, 4}}, {kAny}, [](const TV& x) { return ad::norm(x[0]); });
  add("norm", "p2_dim1_keepdim", {{3, 4}}, {kAny}, [](const TV& x) { return ad::norm(x[0], 2.0, {1}, true); });
  add("norm", "p1_dim0", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return ad::norm(x[0], 1.0, {0}); });
  add("norm", "p_inf", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::norm(x[0], INFINITY); });
  add("norm", "p3", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return ad::norm(x[0], 3.0, {1}); });
  add("amax", "all", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::amax(x[0]); });
  add("amax", "dim1", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::amax(x[0], {1}); });
  add("amax", "dim0_keepdim", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::amax(x[0], {0}, true); });
  add("amax", "3d_dims_0_2", {{2, 3, 4}}, {kDistinct}, [](const TV& x) { return ad::amax(x[0], {0, 2}); });
  add("amin", "all", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::amin(x[0]); });
  add("amin", "dim1", {{3, 4}}, {kDistinct}, [](const TV& x) { return ad::amin(x[0], {1}); });
  add("amin", "dim_minus1_keepdim", {{2, 3, 4}}, {kDistinct}, [](const TV& x) { return ad::amin(x[0], {-1}, true); });
  nondiff(
      "argmax", "dim1", {{3, 4}}, [](const TV& x) { return ad::argmax(x[0], 1); }, ad::kInt64);
  nondiff(
      "argmin", "dim0_keepdim", {{3, 4}}, [](const TV& x) { return ad::argmin(x[0], 0, true); }, ad::kInt64);
  add("sum_to", "3x4_to_1x4", {{3, 4}}, {kAny}, [](const TV& x) { return ad::sum_to(x[0], {1, 4}); });
  add("sum_to", "2x3x4_to_3x1", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::sum_to(x[0], {3, 1}); });
  add("sum_to", "to_scalar", {{2, 3}}, {kAny}, [](const TV& x) { return ad::sum_to(x[0], {}); });

  // ---- softmax family
  add("logsumexp", "dim1", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::logsumexp(x[0], {1}); });
  add("logsumexp", "all", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::logsumexp(x[0], {}); });
  add("logsumexp", "dim0_keepdim", {{3, 4}}, {Domain{-3.0, 3.0}},
      [](const TV& x) { return ad::logsumexp(x[0], {0}, true); });
  add("logsumexp", "3d_dims_0_2", {{2, 3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) {
    return ad::logsumexp(x[0], {0, 2});
  });
  add("softmax", "dim1", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::softmax(x[0], 1); });
  add("softmax", "dim0", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::softmax(x[0], 0); });
  add("softmax", "3d_dim_minus2", {{2, 3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::softmax(x[0], -2); });
  add("log_softmax", "dim1", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::log_softmax(x[0], 1); });
  add("log_softmax", "dim0", {{3, 4}}, {Domain{-3.0, 3.0}}, [](const TV& x) { return ad::log_softmax(x[0], 0); });
  add("log_softmax", "3d_dim_minus1", {{2, 3, 4}}, {Domain{-3.0, 3.0}},
      [](const TV& x) { return ad::log_softmax(x[0], -1); });

  // ---- Tensor methods
  add("Tensor::operator-", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return -x[0]; });
  add("Tensor::pow(double)", "p_3", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].pow(3.0); });
  add("Tensor::pow(T)", "bcast_3x4_4", {{3, 4}, {4}}, {kPositive, kAny}, [](const TV& x) { return x[0].pow(x[1]); });
  add("Tensor::exp", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].exp(); });
  add("Tensor::log", "3x4", {{3, 4}}, {kPositive}, [](const TV& x) { return x[0].log(); });
  add("Tensor::sqrt", "3x4", {{3, 4}}, {kPositive}, [](const TV& x) { return x[0].sqrt(); });
  add("Tensor::abs", "3x4", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return x[0].abs(); });
  add("Tensor::sin", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].sin(); });
  add("Tensor::cos", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].cos(); });
  add("Tensor::tanh", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].tanh(); });
  add("Tensor::sigmoid", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].sigmoid(); });
  add("Tensor::relu", "3x4", {{3, 4}}, {kAwayFromZero}, [](const TV& x) { return x[0].relu(); });
  add("Tensor::clamp", "3x4", {{3, 4}}, {Domain{-2.0, 2.0, {-1.0, 0.25}, 0.05}},
      [](const TV& x) { return x[0].clamp(-1.0, 0.25); });
  add("Tensor::matmul", "2d_2d", {{3, 4}, {4, 2}}, {kAny}, [](const TV& x) { return x[0].matmul(x[1]); });
  add("Tensor::mm", "2d_2d", {{2, 3}, {3, 4}}, {kAny}, [](const TV& x) { return x[0].mm(x[1]); });
  add("Tensor::t", "2d", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].t(); });
  add("Tensor::t", "1d", {{4}}, {kAny}, [](const TV& x) { return x[0].t() * 1.0; });
  add("Tensor::transpose", "3d", {{2, 3, 4}}, {kAny}, [](const TV& x) { return x[0].transpose(0, 2); });
  add("Tensor::permute", "3d", {{2, 3, 4}}, {kAny}, [](const TV& x) { return x[0].permute({1, 2, 0}); });
  add("Tensor::reshape", "minus_one", {{2, 3, 4}}, {kAny}, [](const TV& x) { return x[0].reshape({-1}); });
  add("Tensor::view", "3x8", {{2, 3, 4}}, {kAny}, [](const TV& x) { return x[0].view({3, 8}); });
  cat.back().needs_contiguous = true;
  add("Tensor::narrow", "dim0", {{4, 3}}, {kAny}, [](const TV& x) { return x[0].narrow(0, 1, 2); });
  add("Tensor::select", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].select(1, 3); });
  add("Tensor::diagonal", "square", {{4, 4}}, {kAny}, [](const TV& x) { return x[0].diagonal(); });
  add("Tensor::unfold", "dim0", {{5, 2}}, {kAny}, [](const TV& x) { return x[0].unfold(0, 2, 1); });
  add("Tensor::flatten", "3d", {{2, 3, 4}}, {kAny}, [](const TV& x) { return x[0].flatten(); });
  add("Tensor::squeeze", "all", {{1, 3, 1}}, {kAny}, [](const TV& x) { return x[0].squeeze(); });
  add("Tensor::squeeze(dim)", "dim0", {{1, 3, 1}}, {kAny}, [](const TV& x) { return x[0].squeeze(0); });
  add("Tensor::unsqueeze", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].unsqueeze(1); });
  add("Tensor::expand", "1x4_to_3x4", {{1, 4}}, {kAny}, [](const TV& x) { return x[0].expand({3, 4}); });
  add("Tensor::sum", "all", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].sum(); });
  add("Tensor::sum(dims)", "dim0", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].sum({0}); });
  add("Tensor::mean", "all", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].mean(); });
  add("Tensor::mean(dims)", "dim1_keepdim", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].mean({1}, true); });
  add("Tensor::max", "all", {{3, 4}}, {kDistinct}, [](const TV& x) { return x[0].max(); });
  add("Tensor::max(dim)", "dim1", {{3, 4}}, {kDistinct}, [](const TV& x) { return x[0].max(1).values; });
  add("Tensor::min", "all", {{3, 4}}, {kDistinct}, [](const TV& x) { return x[0].min(); });
  add("Tensor::var", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].var({1}); });
  add("Tensor::std", "all_biased", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].std({}, 0); });
  add("Tensor::norm", "p2_dim0", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].norm(2.0, {0}); });
  add("Tensor::min(dim)", "dim0_keepdim", {{3, 4}}, {kDistinct}, [](const TV& x) { return x[0].min(0, true).values; });
  nondiff(
      "Tensor::argmax", "dim1", {{3, 4}}, [](const TV& x) { return x[0].argmax(1); }, ad::kInt64);
  add("Tensor::softmax", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].softmax(1); });
  add("Tensor::log_softmax", "dim0", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].log_softmax(0); });
  add("Tensor::logsumexp", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].logsumexp({1}); });
  add("Tensor::slice", "step2", {{5, 3}}, {kAny}, [](const TV& x) { return x[0].slice(0, 0, 5, 2); });
  add("Tensor::index_select", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].index_select(1, idx({3, 0})); });
  add("Tensor::gather", "dim0", {{3, 4}}, {kAny}, [](const TV& x) {
    return x[0].gather(0, idx({2, 2, 0, 1}, {1, 4}));
  });
  add("Tensor::clone", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].clone(); });
  add("Tensor::clone", "then_mul", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].clone() * x[0]; });
  add("Tensor::contiguous", "3x4", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].contiguous() * 2.0; });
  // to(kFloat32) -> to(kFloat64) round trip is not gradcheckable precisely (float32 rounding); only
  // the same-dtype case (a no-op) is checked here.
  add("Tensor::to", "same_dtype_f64", {{3, 4}}, {kAny}, [](const TV& x) { return x[0].to(ad::kFloat64) * 3.0; });

  // ---- convolution and pooling
  add("pad", "constant_2d", {{3, 4}}, {kAny}, [](const TV& x) {
    return ad::pad(x[0], {1, 2, 0, 1}, ad::PadMode::constant, 0.5);
  });
  add("pad", "reflect_2d", {{2, 5}}, {kAny}, [](const TV& x) {
    return ad::pad(x[0], {2, 1, 1, 1}, ad::PadMode::reflect);
  });
  add("unfold(kernel)", "stride2_padding1_dilation", {{1, 2, 4, 5}}, {kAny}, [](const TV& x) {
    return ad::unfold(x[0], {2, 2}, {.stride = {2, 1}, .padding = {1, 0}, .dilation = {1, 2}});
  });
  add("unfold(kernel)", "unbatched_overlapping", {{2, 3, 4}}, {kAny}, [](const TV& x) {
    return ad::unfold(x[0], {2, 2});
  });
  add("fold", "overlapping_padding", {{1, 4, 8}}, {kAny},  // 1 channel, 2x2 kernel, 2x4 windows on a 3x4 image
      [](const TV& x) {
        return ad::fold(x[0], {3, 4}, {2, 2}, {.padding = {0, 1}, .dilation = {1, 2}});
      });
  add("conv2d", "bias", {{1, 2, 4, 4}, {3, 2, 2, 2}, {3}}, {kAny},
      [](const TV& x) { return ad::conv2d(x[0], x[1], x[2]); });
  add("conv2d", "stride_padding_dilation", {{1, 1, 5, 6}, {2, 1, 2, 2}}, {kAny}, [](const TV& x) {
    return ad::conv2d(x[0], x[1], {}, {.stride = {2, 1}, .padding = {1, 1}, .dilation = {1, 2}});
  });
  add("conv2d", "groups2_overlapping", {{1, 4, 3, 3}, {4, 2, 2, 2}, {4}}, {kAny},
      [](const TV& x) { return ad::conv2d(x[0], x[1], x[2], {.groups = 2}); });
  add("conv2d", "same_even_kernel", {{1, 1, 4, 5}, {1, 1, 2, 3}}, {kAny},
      [](const TV& x) { return ad::conv2d(x[0], x[1], {}, {.same = true}); });
  add("conv2d", "unbatched", {{2, 3, 3}, {2, 2, 2, 2}}, {kAny}, [](const TV& x) { return ad::conv2d(x[0], x[1]); });
  add("conv_transpose2d", "stride2_padding_output_padding_bias", {{1, 2, 3, 3}, {2, 2, 2, 2}, {2}}, {kAny},
      [](const TV& x) {
        return ad::conv_transpose2d(x[0], x[1], x[2], {.stride = {2, 2}, .padding = {1, 0}, .output_padding = {1, 0}});
      });
  add("conv1d", "stride2_padding1_bias", {{2, 2, 5}, {3, 2, 2}, {3}}, {kAny},
      [](const TV& x) { return ad::conv1d(x[0], x[1], x[2], {.stride = 2, .padding = 1}); });
  add("max_pool2d_with_indices", "2x2", {{1, 2, 4, 4}}, {kDistinct}, [](const TV& x) {
    return ad::max_pool2d_with_indices(x[0], {2, 2}).values;
  });
  add("max_pool2d", "3x3_stride2_padding1", {{1, 1, 5, 5}}, {kDistinct}, [](const TV& x) {
    return ad::max_pool2d(x[0], {3, 3}, {.stride = {2, 2}, .padding = {1, 1}});
  });
  add("avg_pool2d", "2x2", {{1, 2, 4, 4}}, {kAny}, [](const TV& x) { return ad::avg_pool2d(x[0], {2, 2}); });
  add("avg_pool2d", "3x3_stride2_padding1", {{1, 1, 5, 5}}, {kAny}, [](const TV& x) {
    return ad::avg_pool2d(x[0], {3, 3}, {.stride = {2, 2}, .padding = {1, 1}});
  });
  add("adaptive_avg_pool2d", "5x4_to_3x2", {{1, 2, 5, 4}}, {kAny}, [](const TV& x) {
    return ad::adaptive_avg_pool2d(x[0], {3, 2});
  });

  // ---- normalization (the running statistics are constants made inside each call)
  add("batch_norm", "training_affine_2d", {{4, 3}, {3}, {3}}, {kAny}, [](const TV& x) {
    Tensor rm = ad::zeros({3}, ad::dtype(ad::kFloat64)), rv = ad::ones({3}, ad::dtype(ad::kFloat64));
    return ad::batch_norm(x[0], rm, rv, x[1], x[2], true);
  });
  add("batch_norm", "training_images", {{3, 2, 2, 3}}, {kAny},
      [](const TV& x) { return ad::batch_norm(x[0], {}, {}, {}, {}, true, 0.1, 1e-3); });
  add("batch_norm", "eval_affine", {{2, 3, 2}, {3}, {3}}, {kAny}, [](const TV& x) {
    const Tensor rm = ad::tensor({0.5, -1, 0}, ad::dtype(ad::kFloat64)),
                 rv = ad::tensor({1, 2, 0.5}, ad::dtype(ad::kFloat64));
    return ad::batch_norm(x[0], rm, rv, x[1], x[2], false);
  });
  add("layer_norm", "last_dim_affine", {{3, 4}, {4}, {4}}, {kAny},
      [](const TV& x) { return ad::layer_norm(x[0], {4}, x[1], x[2]); });
  add("layer_norm", "last_two_dims", {{2, 3, 4}}, {kAny}, [](const TV& x) { return ad::layer_norm(x[0], {3, 4}); });
  add("group_norm", "two_groups_affine", {{2, 4, 3}, {4}, {4}}, {kAny},
      [](const TV& x) { return ad::group_norm(x[0], 2, x[1], x[2]); });

  // ---- layer functions
  add("embedding", "2x3_index", {{5, 3}}, {kAny}, [](const TV& x) {
    return ad::embedding(idx({4, 0, 4, 2, 1, 0}, {2, 3}), x[0]);
  });
  // (padding_idx is left out here: by design its row gets no gradient though it is read, so central
  // differences disagree; test_layer_ops checks it)
  add("embedding", "1d_index_repeats", {{4, 2}}, {kAny}, [](const TV& x) {
    return ad::embedding(idx({1, 3, 1, 0}), x[0]) * 2.0;
  });
  nondiff(
      "one_hot", "4_classes", {{3}},
      [](const TV&) {
        return ad::one_hot(idx({3, 0, 1}));
      },
      ad::kInt64);
  add("dropout", "training_seeded", {{3, 4}}, {kAny}, [](const TV& x) {
    ad::Generator gen(9);  // the same mask on every call
    return ad::dropout(x[0], 0.4, true, &gen);
  });
  add("dropout", "eval_identity", {{3, 4}}, {kAny}, [](const TV& x) { return ad::dropout(x[0], 0.4, false) * 1.0; });
  add("cumsum", "dim1", {{3, 4}}, {kAny}, [](const TV& x) { return ad::cumsum(x[0], 1); });
  add("cumsum", "3d_dim0_times_self", {{3, 2, 2}}, {kAny}, [](const TV& x) { return ad::cumsum(x[0], 0) * x[0]; });

  // ---- loss terms
  add("binary_cross_entropy_terms", "p_and_y", {{3, 4}, {3, 4}}, {Domain{0.1, 0.9}, Domain{0.0, 1.0}},
      [](const TV& x) { return ad::binary_cross_entropy_terms(x[0], x[1]); });

  // ---- recurrent cells
  add("lstm_cell_state", "n2_h3", {{2, 12}, {2, 3}}, {kAny},
      [](const TV& x) { return ad::lstm_cell_state(x[0], x[1]); });
  add("lstm_cell_output", "n2_h3", {{2, 12}, {2, 3}}, {kAny},
      [](const TV& x) { return ad::lstm_cell_output(x[0], x[1]); });
  add("gru_cell", "with_biases", {{2, 9}, {2, 9}, {2, 3}, {9}, {9}}, {kAny},
      [](const TV& x) { return ad::gru_cell(x[0], x[1], x[2], x[3], x[4]); });
  add("gru_cell", "no_bias", {{3, 6}, {3, 6}, {3, 2}}, {kAny},
      [](const TV& x) { return ad::gru_cell(x[0], x[1], x[2]); });

  // ---- compositions that exercise shared inputs and mixed ops
  add("composite", "mlp_like", {{2, 3}, {3, 4}, {4}}, {kAny},
      [](const TV& x) { return ad::log_softmax(ad::tanh(ad::matmul(x[0], x[1]) + x[2]), -1); });
  add("composite", "fan_out", {{3, 4}}, {kAny},
      [](const TV& x) { return x[0] * ad::exp(x[0]) + ad::sin(x[0] * x[0]); });
  return cat;
}

const std::vector<OpCase>& catalog() {
  static const std::vector<OpCase> c = build_catalog();
  return c;
}

class OpsGradcheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpsGradcheck, GradcheckAndGradgradcheck) {
  const OpCase& c = GetParam();
  SCOPED_TRACE("op " + c.op + ", case " + c.case_name);
  const TV xs = make_inputs(c);

  // The forward records (or, for masks and indices, does not) a graph.
  const Tensor out = c.fn(xs);
  if (c.differentiable) {
    EXPECT_TRUE(out.requires_grad()) << "output of a differentiable op on inputs requiring grad must require grad";
  } else {
    EXPECT_FALSE(out.requires_grad()) << "a mask / index output must not require grad";
  }
  EXPECT_EQ(out.dtype(), ad::kFloat64);

  const auto r1 = ad::gradcheck(c.fn, xs);
  EXPECT_TRUE(r1.ok) << r1.report;
  const auto r2 = ad::gradgradcheck(c.fn, xs);
  EXPECT_TRUE(r2.ok) << r2.report;

  if (c.zero_gradient) {
    ad::Generator gen(7);
    const Tensor v = ad::randn(out.shape(), ad::dtype(ad::kFloat64), &gen);
    const auto gs =
        ad::grad({out}, xs, {v}, ad::GradOptions{.retain_graph = true, .create_graph = false, .allow_unused = true});
    for (const Tensor& g : gs) {
      if (!g.defined()) continue;
      for (double e : g.to_vector()) EXPECT_EQ(e, 0.0) << "gradient must be exactly zero";
    }
  }
}

// The same values in non-contiguous layouts, built differentiably so gradients flow back to the
// contiguous inputs gradcheck perturbs: transposed (the last two dims' strides swapped), strided
// (every other element of a wider buffer) and expanded (stride 0: the input is a [..., 1] base
// broadcast along its last dim).
Tensor transposed_layout(const Tensor& x) {
  if (x.dim() < 2) return x;
  return x.transpose(-1, -2).contiguous().transpose(-1, -2);
}
Tensor strided_layout(const Tensor& x) {
  if (x.dim() == 0) return x;
  return ad::stack({x, x * 0.0}, -1).select(-1, 0);
}

TEST_P(OpsGradcheck, OnNonContiguousInputs) {
  const OpCase& c = GetParam();
  SCOPED_TRACE("op " + c.op + ", case " + c.case_name);
  const TV xs = make_inputs(c);
  if (c.needs_contiguous) {
    const std::string msg = ad::testing::error_of([&] { c.fn({transposed_layout(xs[0])}); });
    EXPECT_NE(msg.find("without a copy"), std::string::npos) << msg;
    return;
  }
  const std::vector<double> want = c.fn(xs).to_vector();
  for (auto layout : {transposed_layout, strided_layout}) {
    const ad::TensorFunction f = [&](const TV& in) {
      TV views;
      for (const Tensor& x : in) views.push_back(layout(x));
      for (std::size_t i = 0; i < in.size(); ++i) {
        const Tensor& x = in[i];
        const bool changes =
            layout == strided_layout ? x.numel() > 1 : x.dim() >= 2 && x.size(-1) > 1 && x.size(-2) > 1;
        if (changes) {
          EXPECT_FALSE(views[i].is_contiguous()) << "input " << i << " should be a non-contiguous view";
        }
      }
      return c.fn(views);
    };
    const std::vector<double> got = f(xs).to_vector();
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t k = 0; k < got.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-12 * (1 + std::abs(want[k])));
    const auto r1 = ad::gradcheck(f, xs);
    EXPECT_TRUE(r1.ok) << r1.report;
    const auto r2 = ad::gradgradcheck(f, xs);
    EXPECT_TRUE(r2.ok) << r2.report;
  }
  // Expanded: only where values may repeat (not the tie-sensitive rows).
  const bool ties_matter = std::any_of(c.domains.begin(), c.domains.end(), [](const Domain& d) { return d.distinct; });
  if (ties_matter) return;
  TV bases;
  std::vector<Shape> full;
  for (const Tensor& x : xs) {
    full.push_back(x.shape());
    const bool expandable = x.dim() > 0 && x.size(-1) > 0;
    bases.push_back(expandable ? x.detach().narrow(-1, 0, 1).contiguous().requires_grad_() : x);
  }
  const ad::TensorFunction fe = [&](const TV& in) {
    TV views;
    for (std::size_t i = 0; i < in.size(); ++i) views.push_back(in[i].dim() == 0 ? in[i] : in[i].expand(full[i]));
    return c.fn(views);
  };
  const auto r3 = ad::gradcheck(fe, bases);
  EXPECT_TRUE(r3.ok) << "expanded: " << r3.report;
  const auto r4 = ad::gradgradcheck(fe, bases);
  EXPECT_TRUE(r4.ok) << "expanded: " << r4.report;
}

// Full names look like Ops/OpsGradcheck.GradcheckAndGradgradcheck/add__bcast_3x4_4.
INSTANTIATE_TEST_SUITE_P(Ops, OpsGradcheck, ::testing::ValuesIn(catalog()),
                         [](const ::testing::TestParamInfo<OpCase>& p) { return test_name(p.param); });

// Every op declared in autodiff/ops.h (free functions and operators, overloads named by
// signature where the catalog distinguishes them) and every op method of ad::Tensor.
TEST(OpsCatalog, CoversEveryOpInOpsHeader) {
  const std::vector<std::string> declared = {
      // arithmetic
      "add",
      "sub",
      "mul",
      "div",
      "neg",
      "pow(T,double)",
      "pow(T,T)",
      "maximum",
      "minimum",
      "operator+",
      "operator-",
      "operator*",
      "operator/",
      "operator+(T,double)",
      "operator-(T,double)",
      "operator*(T,double)",
      "operator/(T,double)",
      "operator+(double,T)",
      "operator-(double,T)",
      "operator*(double,T)",
      "operator/(double,T)",
      // elementwise math
      "exp",
      "log",
      "sqrt",
      "abs",
      "sin",
      "cos",
      "clamp",
      // activations
      "tanh",
      "sigmoid",
      "relu",
      "leaky_relu",
      "step",
      // comparisons and selection
      "eq",
      "ne",
      "lt",
      "le",
      "gt",
      "ge",
      "operator==",
      "operator<",
      "operator>",
      "operator<(T,double)",
      "operator>(T,double)",
      "operator<=(T,double)",
      "operator>=(T,double)",
      "operator==(T,double)",
      "operator!=(T,double)",
      "operator!=",
      "logical_and",
      "logical_or",
      "logical_xor",
      "logical_not",
      "operator&&",
      "operator||",
      "operator!",
      "where",
      // linear algebra
      "matmul",
      // shape
      "reshape",
      "transpose",
      "permute",
      "squeeze",
      "squeeze(dim)",
      "unsqueeze",
      "flatten",
      "expand",
      "broadcast_to",
      // selection
      "slice",
      "narrow",
      "select",
      "diagonal",
      "unfold",
      "view",
      "index",
      "masked_fill",
      "masked_select",
      "index_select",
      "gather",
      "scatter_add",
      "index_add",
      "cat",
      "stack",
      // reductions
      "sum",
      "sum(dims)",
      "mean",
      "mean(dims)",
      "prod",
      "amax",
      "max(dim)",
      "min(dim)",
      "var",
      "std",
      "norm",
      "amin",
      "argmax",
      "argmin",
      "sum_to",
      // softmax family
      "logsumexp",
      "softmax",
      "log_softmax",
      // convolution and pooling
      "pad",
      "unfold(kernel)",
      "fold",
      "conv2d",
      "conv1d",
      "conv_transpose2d",
      "max_pool2d_with_indices",
      "max_pool2d",
      "avg_pool2d",
      "adaptive_avg_pool2d",
      // layer functions
      "embedding",
      "one_hot",
      "dropout",
      "cumsum",
      // loss terms
      "binary_cross_entropy_terms",
      // recurrent cells
      "lstm_cell_state",
      "lstm_cell_output",
      "gru_cell",
      // normalization
      "batch_norm",
      "layer_norm",
      "group_norm",
      // Tensor op methods (tensor.h); Tensor::to is only checked on the same-dtype no-op, see catalog
      "Tensor::operator-",
      "Tensor::pow(double)",
      "Tensor::pow(T)",
      "Tensor::exp",
      "Tensor::log",
      "Tensor::sqrt",
      "Tensor::abs",
      "Tensor::sin",
      "Tensor::cos",
      "Tensor::tanh",
      "Tensor::sigmoid",
      "Tensor::relu",
      "Tensor::clamp",
      "Tensor::matmul",
      "Tensor::mm",
      "Tensor::t",
      "Tensor::transpose",
      "Tensor::permute",
      "Tensor::reshape",
      "Tensor::view",
      "Tensor::flatten",
      "Tensor::squeeze",
      "Tensor::squeeze(dim)",
      "Tensor::unsqueeze",
      "Tensor::expand",
      "Tensor::sum",
      "Tensor::sum(dims)",
      "Tensor::mean",
      "Tensor::mean(dims)",
      "Tensor::max",
      "Tensor::prod",
      "Tensor::var",
      "Tensor::std",
      "Tensor::norm",
      "Tensor::max(dim)",
      "Tensor::min",
      "Tensor::min(dim)",
      "Tensor::argmax",
      "Tensor::softmax",
      "Tensor::log_softmax",
      "Tensor::logsumexp",
      "Tensor::slice",
      "Tensor::narrow",
      "Tensor::select",
      "Tensor::diagonal",
      "Tensor::unfold",
      "Tensor::index",
      "Tensor::index_select",
      "Tensor::gather",
      "Tensor::clone",
      "Tensor::contiguous",
  };
  std::set<std::string> covered;
  for (const auto& c : catalog()) covered.insert(c.op);
  for (const auto& name : declared) EXPECT_TRUE(covered.count(name)) << "op '" << name << "' has no catalog row";

  // Each differentiable elementwise/binary op is checked on more than one case.
  for (const char* name : {"add", "sub", "mul", "div", "maximum", "minimum", "pow(T,T)"}) {
    const auto n = std::count_if(catalog().begin(), catalog().end(), [&](const OpCase& c) { return c.op == name; });
    EXPECT_GE(n, 5) << name;
  }
}

TEST(OpsCatalog, CaseNamesAreUniqueAndShapesSmall) {
  std::set<std::string> names;
  for (const auto& c : catalog()) {
    EXPECT_TRUE(names.insert(test_name(c)).second) << "duplicate case " << test_name(c);
    EXPECT_FALSE(c.shapes.empty()) << test_name(c);
    for (const auto& s : c.shapes) EXPECT_LE(ad::numel_of(s), 40) << test_name(c);
  }
}

}  // namespace
