// Highway kernels (see simd.h). foreach_target.h compiles this file once per instruction set;
// the code between HWY_BEFORE_NAMESPACE and HWY_AFTER_NAMESPACE is the per-target part, the
// HWY_ONCE part at the end (compiled once) dispatches to the best target and splits large spans
// among threads.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "adgraph/autodiff/kernels/simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// highway.h after foreach_target.h, then the math on top of it:
// clang-format off
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>
// clang-format on

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "adgraph/autodiff/kernels/simd.h"
#include "adgraph/autodiff/scalar_rules.h"

HWY_BEFORE_NAMESPACE();
namespace adsimd {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: nothing of the per-target code is a symbol of the library
namespace hn = hwy::HWY_NAMESPACE;
using ad::kernels::Act;
using ad::kernels::Binary;
using ad::kernels::Unary;

// f(j) for every lane j where the mask m is false.
template <class D, class M, class F>
HWY_INLINE void for_rejected_lanes(D d, M m, const F& f) {
  std::uint8_t bits[8] = {};  // one bit per lane, at most 64 lanes
  hn::StoreMaskBits(d, m, bits);
  for (std::size_t j = 0, N = hn::Lanes(d); j < N; ++j)
    if (!((bits[j / 8] >> (j % 8)) & 1)) f(j);
}

// dst[0..N) = vf(src[0..N)), and sf(src[j]) in the lanes where ok() is false (outside the range
// Highway's function is documented for), so each element's result depends on its value only.
// Exact operations pass ok = nullptr: every lane is the vector result.
template <class D, class T, class VF, class OK, class SF>
HWY_INLINE void apply1(D d, const T* HWY_RESTRICT src, T* HWY_RESTRICT dst, const VF& vf, const OK& ok, const SF& sf) {
  const auto x = hn::LoadU(d, src);
  if constexpr (std::is_null_pointer_v<OK>) {
    return hn::StoreU(vf(d, x), d, dst);
  } else {
    const auto m = ok(d, x);
    if (HWY_LIKELY(hn::AllTrue(d, m))) return hn::StoreU(vf(d, x), d, dst);
    hn::StoreU(vf(d, hn::IfThenElseZero(m, x)), d, dst);
    for_rejected_lanes(d, m, [&](std::size_t j) { dst[j] = sf(src[j]); });
  }
}

// out[i] = vf(a[i]) over n elements: full vectors, then the tail through a padded buffer.
template <class D, class T, class VF, class OK, class SF>
HWY_INLINE void map1(D d, const T* HWY_RESTRICT a, T* HWY_RESTRICT out, std::size_t n, VF vf, OK ok, SF sf) {
  const std::size_t N = hn::Lanes(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) apply1(d, a + i, out + i, vf, ok, sf);
  if (i < n) {
    HWY_ALIGN T in[hn::MaxLanes(D())] = {};
    HWY_ALIGN T res[hn::MaxLanes(D())];
    std::copy(a + i, a + n, in);
    apply1(d, in, res, vf, ok, sf);
    std::copy(res, res + (n - i), out + i);
  }
}

// The ranges where Highway's functions hold (math-inl.h); exp and sigmoid also stay where the
// result is a normal number.
template <class T>
struct Limits {
  static constexpr bool f32 = sizeof(T) == 4;
  static constexpr T exp_lo = f32 ? T(-87) : T(-708), exp_hi = f32 ? T(88) : T(706);
  static constexpr T trig = T(39000);
};

// rules::sigmoid: e = exp(-|x|); 1 / (1 + e) for x >= 0, e / (1 + e) below.
template <class D, class V>
HWY_INLINE V sigmoid_vec(D d, V x) {
  using T = hn::TFromD<D>;
  const auto one = hn::Set(d, T(1));
  const auto e = hn::Exp(d, hn::Neg(hn::Abs(x)));
  return hn::Div(hn::IfThenElse(hn::Ge(x, hn::Zero(d)), one, e), hn::Add(one, e));
}
constexpr auto sigmoid_ok = [](auto d, auto x) {
  using T = hn::TFromD<decltype(d)>;
  return hn::Le(hn::Abs(x), hn::Set(d, -Limits<T>::exp_lo));
};

template <class T>
void unary_impl(Unary op, const T* HWY_RESTRICT a, T* HWY_RESTRICT out, std::size_t n) {
  const hn::ScalableTag<T> d;
  using L = Limits<T>;
  switch (op) {  // exact operations first: no range, no libm
    case Unary::neg:
      return map1(
          d, a, out, n, [](auto, auto x) { return hn::Neg(x); }, nullptr, nullptr);
    case Unary::abs:
      return map1(
          d, a, out, n, [](auto, auto x) { return hn::Abs(x); }, nullptr, nullptr);
    case Unary::sqrt:
      return map1(
          d, a, out, n, [](auto, auto x) { return hn::Sqrt(x); }, nullptr, nullptr);
    case Unary::relu:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::IfThenElseZero(hn::Gt(x, hn::Zero(dd)), x); }, nullptr,
          nullptr);
    case Unary::exp:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::Exp(dd, x); },
          [](auto dd, auto x) { return hn::And(hn::Ge(x, hn::Set(dd, L::exp_lo)), hn::Le(x, hn::Set(dd, L::exp_hi))); },
          [](T x) { return std::exp(x); });
    case Unary::log:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::Log(dd, x); },
          [](auto dd, auto x) {
            return hn::And(hn::Ge(x, hn::Set(dd, std::numeric_limits<T>::min())),
                           hn::Le(x, hn::Set(dd, std::numeric_limits<T>::max())));
          },
          [](T x) { return std::log(x); });
    case Unary::sin:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::Sin(dd, x); },
          [](auto dd, auto x) { return hn::Le(hn::Abs(x), hn::Set(dd, L::trig)); }, [](T x) { return std::sin(x); });
    case Unary::cos:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::Cos(dd, x); },
          [](auto dd, auto x) { return hn::Le(hn::Abs(x), hn::Set(dd, L::trig)); }, [](T x) { return std::cos(x); });
    case Unary::tanh:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return hn::Tanh(dd, x); },
          [](auto dd, auto x) { return hn::Le(hn::Abs(x), hn::Set(dd, std::numeric_limits<T>::max())); },
          [](T x) { return std::tanh(x); });
    case Unary::sigmoid:
      return map1(
          d, a, out, n, [](auto dd, auto x) { return sigmoid_vec(dd, x); }, sigmoid_ok,
          [](T x) { return ad::rules::sigmoid(x); });
  }
}

// r = f(x, y) for the binary ops, on vectors.
template <class D, class V>
HWY_INLINE V binary_vec(Binary op, D d, V x, V y) {
  switch (op) {
    case Binary::add:
      return hn::Add(x, y);
    case Binary::sub:
      return hn::Sub(x, y);
    case Binary::mul:
      return hn::Mul(x, y);
    case Binary::div:
      return hn::Div(x, y);
    case Binary::mul_grad:
      return hn::IfThenZeroElse(hn::Eq(x, hn::Zero(d)), hn::Mul(x, y));
    case Binary::div_grad:
      return hn::IfThenZeroElse(hn::Eq(x, hn::Zero(d)), hn::Div(x, y));
    case Binary::maximum:
      return hn::IfThenElse(hn::Gt(x, y), x, y);
    case Binary::minimum:
      return hn::IfThenElse(hn::Lt(x, y), x, y);
  }
  return x;
}

// mode 0: a and b arrays; 1: b one element; 2: a one element. The op is a template argument so
// each loop is compiled without a branch inside.
template <Binary kOp, class T>
void binary_loop(int mode, const T* a, const T* b, T* out, std::size_t n) {  // out may be a (in place)
  const hn::ScalableTag<T> d;
  constexpr std::size_t kMax = hn::MaxLanes(decltype(d)());
  const std::size_t N = hn::Lanes(d);
  auto load = [&](const T* p, bool one) { return one ? hn::Set(d, *p) : hn::LoadU(d, p); };
  const bool sa = mode == 2, sb = mode == 1;
  std::size_t i = 0;
  for (; i + N <= n; i += N)
    hn::StoreU(binary_vec(kOp, d, load(sa ? a : a + i, sa), load(sb ? b : b + i, sb)), d, out + i);
  if (i < n) {
    HWY_ALIGN T x[kMax] = {};
    HWY_ALIGN T y[kMax] = {};
    HWY_ALIGN T r[kMax];
    std::copy(sa ? a : a + i, sa ? a + 1 : a + n, x);
    std::copy(sb ? b : b + i, sb ? b + 1 : b + n, y);
    hn::Store(binary_vec(kOp, d, load(x, sa), load(y, sb)), d, r);
    std::copy(r, r + (n - i), out + i);
  }
}

template <class T>
void binary_impl(Binary op, int mode, const T* a, const T* b, T* out, std::size_t n) {
  switch (op) {
#define ADGRAPH_CASE(name) \
  case Binary::name:       \
    return binary_loop<Binary::name>(mode, a, b, out, n);
    ADGRAPH_CASE(add)
    ADGRAPH_CASE(sub)
    ADGRAPH_CASE(mul)
    ADGRAPH_CASE(div)
    ADGRAPH_CASE(mul_grad)
    ADGRAPH_CASE(div_grad)
    ADGRAPH_CASE(maximum)
    ADGRAPH_CASE(minimum)
#undef ADGRAPH_CASE
  }
}

// Sum of n elements in double: four vector accumulators, combined in a fixed order.
template <class T>
double sum_impl(const T* HWY_RESTRICT a, std::size_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<T, decltype(dd)> dt;  // as many T lanes as double lanes
  const std::size_t N = hn::Lanes(dd);
  auto s0 = hn::Zero(dd), s1 = s0, s2 = s0, s3 = s0;
  auto load = [&](std::size_t i) {
    if constexpr (sizeof(T) == 8)
      return hn::LoadU(dd, a + i);
    else
      return hn::PromoteTo(dd, hn::LoadU(dt, a + i));
  };
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    s0 = hn::Add(s0, load(i));
    s1 = hn::Add(s1, load(i + N));
    s2 = hn::Add(s2, load(i + 2 * N));
    s3 = hn::Add(s3, load(i + 3 * N));
  }
  for (; i + N <= n; i += N) s0 = hn::Add(s0, load(i));
  double r = hn::GetLane(hn::SumOfLanes(dd, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) r += static_cast<double>(a[i]);
  return r;
}

// The largest of n elements, NaN when any is NaN; -inf for none.
template <class T>
T max_impl(const T* HWY_RESTRICT a, std::size_t n) {
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const T lowest = -std::numeric_limits<T>::infinity();
  auto m = hn::Set(d, lowest), nan = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto x = hn::LoadU(d, a + i);
    nan = hn::Or(nan, hn::VecFromMask(d, hn::Not(hn::Eq(x, x))));  // Eq is ordered: false for NaN
    m = hn::Max(m, x);
  }
  bool any_nan = !hn::AllFalse(d, hn::MaskFromVec(nan));
  T r = n >= N ? hn::GetLane(hn::MaxOfLanes(d, m)) : lowest;
  for (; i < n; ++i) {
    any_nan = any_nan || a[i] != a[i];
    r = a[i] > r ? a[i] : r;
  }
  return any_nan ? std::numeric_limits<T>::quiet_NaN() : r;
}

// out = mul_grad(g, d) with d the activation's derivative from its input x and output o:
// sigmoid o * sigmoid(-x), tanh 1 - o * o, relu [x > 0]; the same operations, in the same order,
// as the composite rules in ops/activation.cpp, so the bits agree.
template <class D, class V>
HWY_INLINE V grad_vec(Act act, D d, V g, V x, V o) {
  using T = hn::TFromD<D>;
  const auto one = hn::Set(d, T(1));
  V dv;
  switch (act) {
    case Act::sigmoid:
      dv = hn::Mul(o, sigmoid_vec(d, hn::Neg(x)));
      break;
    case Act::tanh:
      dv = hn::Sub(one, hn::Mul(o, o));
      break;
    case Act::relu:
      dv = hn::IfThenElseZero(hn::Gt(x, hn::Zero(d)), one);
      break;
  }
  return hn::IfThenZeroElse(hn::Eq(g, hn::Zero(d)), hn::Mul(g, dv));
}

// g_scalar: g is one element for all (the gradient of a sum).
template <class T>
void grad_impl(Act act, const T* g, bool g_scalar, const T* x, const T* o, T* out, std::size_t n) {
  const hn::ScalableTag<T> d;
  constexpr std::size_t kMax = hn::MaxLanes(decltype(d)());
  const std::size_t N = hn::Lanes(d);
  auto one = [&](const T* gp, const T* xp, const T* op, T* dst) {
    const auto gv = g_scalar ? hn::Set(d, *gp) : hn::LoadU(d, gp);
    const auto xv = hn::LoadU(d, xp);
    hn::StoreU(grad_vec(act, d, gv, xv, hn::LoadU(d, op)), d, dst);
    if (act != Act::sigmoid) return;
    const auto m = sigmoid_ok(d, xv);
    if (!hn::AllTrue(d, m))  // sigmoid's tails: rules::sigmoid (libm) in those lanes, as the unary kernel
      for_rejected_lanes(d, m, [&](std::size_t j) {
        const T gj = g_scalar ? *gp : gp[j];
        dst[j] = gj == 0 ? T(0) : gj * (op[j] * ad::rules::sigmoid(-xp[j]));
      });
  };
  std::size_t i = 0;
  for (; i + N <= n; i += N) one(g_scalar ? g : g + i, x + i, o + i, out + i);
  if (i < n) {
    HWY_ALIGN T gb[kMax] = {};
    HWY_ALIGN T xb[kMax] = {};
    HWY_ALIGN T ob[kMax] = {};
    HWY_ALIGN T r[kMax];
    std::copy(g_scalar ? g : g + i, g_scalar ? g + 1 : g + n, gb);
    std::copy(x + i, x + n, xb);
    std::copy(o + i, o + n, ob);
    one(gb, xb, ob, r);
    std::copy(r, r + (n - i), out + i);
  }
}

void UnaryF32(Unary op, const float* a, float* out, std::size_t n) { unary_impl(op, a, out, n); }
void UnaryF64(Unary op, const double* a, double* out, std::size_t n) { unary_impl(op, a, out, n); }
void BinaryF32(Binary op, int mode, const float* a, const float* b, float* out, std::size_t n) {
  binary_impl(op, mode, a, b, out, n);
}
void BinaryF64(Binary op, int mode, const double* a, const double* b, double* out, std::size_t n) {
  binary_impl(op, mode, a, b, out, n);
}
void GradF32(Act act, const float* g, bool gs, const float* x, const float* o, float* out, std::size_t n) {
  grad_impl(act, g, gs, x, o, out, n);
}
void GradF64(Act act, const double* g, bool gs, const double* x, const double* o, double* out, std::size_t n) {
  grad_impl(act, g, gs, x, o, out, n);
}
float MaxF32(const float* a, std::size_t n) { return max_impl(a, n); }
double MaxF64(const double* a, std::size_t n) { return max_impl(a, n); }
double SumF32(const float* a, std::size_t n) { return sum_impl(a, n); }
double SumF64(const double* a, std::size_t n) { return sum_impl(a, n); }
const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace adsimd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <cstdlib>
#include <vector>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/autodiff/kernels/parallel.h"

namespace adsimd {
HWY_EXPORT(UnaryF32);
HWY_EXPORT(UnaryF64);
HWY_EXPORT(BinaryF32);
HWY_EXPORT(BinaryF64);
HWY_EXPORT(GradF32);
HWY_EXPORT(GradF64);
HWY_EXPORT(SumF32);
HWY_EXPORT(SumF64);
HWY_EXPORT(MaxF32);
HWY_EXPORT(MaxF64);
HWY_EXPORT(TargetName);
}  // namespace adsimd

namespace ad::kernels {
namespace {

constexpr std::int64_t kSumBlock = 4096;  // summation blocks: the order does not depend on threads
constexpr std::int64_t kGather = 512;     // strided operands are copied in pieces of this size

struct Isa {
  const char* name;
  std::int64_t bit;
};
constexpr Isa kIsas[] = {{"AVX3", HWY_AVX3}, {"AVX2", HWY_AVX2}, {"SCALAR", HWY_SCALAR}};

void apply_limit(const std::string& name, const char* from) {
  if (name.empty()) return hwy::DisableTargets(0);
  for (const Isa& isa : kIsas)
    if (name == isa.name) return hwy::DisableTargets(isa.bit - 1);  // lower bits are the better targets
  throw Error(std::string(from) + ": unknown instruction set '" + name + "'; use AVX3, AVX2 or SCALAR");
}

template <class T>
void unary_contiguous(Unary op, const T* a, T* out, std::int64_t n) {
  for_chunks(n, [&](std::int64_t b, std::int64_t e) {
    if constexpr (sizeof(T) == 4)
      HWY_DYNAMIC_DISPATCH(adsimd::UnaryF32)(op, a + b, out + b, static_cast<std::size_t>(e - b));
    else
      HWY_DYNAMIC_DISPATCH(adsimd::UnaryF64)(op, a + b, out + b, static_cast<std::size_t>(e - b));
  });
}

template <class T>
void binary_mode(Binary op, int mode, const T* a, const T* b, T* out, std::int64_t n) {
  for_chunks(n, [&](std::int64_t s, std::int64_t e) {
    const T* x = mode == 2 ? a : a + s;
    const T* y = mode == 1 ? b : b + s;
    if constexpr (sizeof(T) == 4)
      HWY_DYNAMIC_DISPATCH(adsimd::BinaryF32)(op, mode, x, y, out + s, static_cast<std::size_t>(e - s));
    else
      HWY_DYNAMIC_DISPATCH(adsimd::BinaryF64)(op, mode, x, y, out + s, static_cast<std::size_t>(e - s));
  });
}

template <class T>
void gather(const T* a, std::int64_t sa, std::int64_t n, T* dst) {
  for (std::int64_t j = 0; j < n; ++j) dst[j] = a[j * sa];
}

}  // namespace

template <class T>
void unary(Unary op, const T* a, std::int64_t sa, T* out, std::int64_t n) {
  apply_isa_cap();
  if (sa == 1) return unary_contiguous(op, a, out, n);
  T buf[kGather];
  for (std::int64_t i = 0; i < n; i += kGather) {
    const std::int64_t len = std::min(kGather, n - i);
    gather(a + i * sa, sa, len, buf);
    unary_contiguous(op, buf, out + i, len);
  }
}

template <class T>
void binary(Binary op, const T* a, std::int64_t sa, const T* b, std::int64_t sb, T* out, std::int64_t n) {
  apply_isa_cap();
  if ((sa == 1 || sa == 0) && (sb == 1 || sb == 0) && !(sa == 0 && sb == 0))
    return binary_mode(op, sa == 0 ? 2 : sb == 0 ? 1 : 0, a, b, out, n);
  T x[kGather], y[kGather];
  for (std::int64_t i = 0; i < n; i += kGather) {
    const std::int64_t len = std::min(kGather, n - i);
    gather(a + i * sa, sa, len, x);
    gather(b + i * sb, sb, len, y);
    binary_mode(op, 0, x, y, out + i, len);
  }
}

template <class T>
void activation_grad(Act act, const T* g, bool g_scalar, const T* x, const T* o, T* out, std::int64_t n) {
  apply_isa_cap();
  for_chunks(n, [&](std::int64_t s, std::int64_t e) {
    const T* gp = g_scalar ? g : g + s;
    const auto len = static_cast<std::size_t>(e - s);
    if constexpr (sizeof(T) == 4)
      HWY_DYNAMIC_DISPATCH(adsimd::GradF32)(act, gp, g_scalar, x + s, o + s, out + s, len);
    else
      HWY_DYNAMIC_DISPATCH(adsimd::GradF64)(act, gp, g_scalar, x + s, o + s, out + s, len);
  });
}

template <class T>
double sum(const T* a, std::int64_t n) {
  apply_isa_cap();
  const std::int64_t blocks = (n + kSumBlock - 1) / kSumBlock;
  auto block = [&](std::int64_t k) {
    const std::size_t len = static_cast<std::size_t>(std::min(kSumBlock, n - k * kSumBlock));
    if constexpr (sizeof(T) == 4)
      return HWY_DYNAMIC_DISPATCH(adsimd::SumF32)(a + k * kSumBlock, len);
    else
      return HWY_DYNAMIC_DISPATCH(adsimd::SumF64)(a + k * kSumBlock, len);
  };
  if (blocks <= 1) return n == 0 ? 0.0 : block(0);
  std::vector<double> part(static_cast<std::size_t>(blocks));
  for_chunks(blocks * kSumBlock, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t k = b / kSumBlock; k < e / kSumBlock; ++k) part[static_cast<std::size_t>(k)] = block(k);
  });
  double r = 0;
  for (double p : part) r += p;
  return r;
}

template <class T>
T max(const T* a, std::int64_t n) {
  apply_isa_cap();
  if constexpr (sizeof(T) == 4)
    return HWY_DYNAMIC_DISPATCH(adsimd::MaxF32)(a, static_cast<std::size_t>(n));
  else
    return HWY_DYNAMIC_DISPATCH(adsimd::MaxF64)(a, static_cast<std::size_t>(n));
}

template void unary<float>(Unary, const float*, std::int64_t, float*, std::int64_t);
template void unary<double>(Unary, const double*, std::int64_t, double*, std::int64_t);
template void binary<float>(Binary, const float*, std::int64_t, const float*, std::int64_t, float*, std::int64_t);
template void binary<double>(Binary, const double*, std::int64_t, const double*, std::int64_t, double*, std::int64_t);
template void activation_grad<float>(Act, const float*, bool, const float*, const float*, float*, std::int64_t);
template void activation_grad<double>(Act, const double*, bool, const double*, const double*, double*, std::int64_t);
template double sum<float>(const float*, std::int64_t);
template double sum<double>(const double*, std::int64_t);
template float max<float>(const float*, std::int64_t);
template double max<double>(const double*, std::int64_t);

void apply_isa_cap() {
  static const bool done = [] {
    if (const char* v = std::getenv("ADGRAPH_MAX_ISA")) apply_limit(v, "ADGRAPH_MAX_ISA");
    return true;
  }();
  (void)done;
}

std::string simd_target() {
  apply_isa_cap();
  return HWY_DYNAMIC_DISPATCH(adsimd::TargetName)();
}

void limit_simd(const std::string& name) {
  apply_isa_cap();
  apply_limit(name, "limit_simd");
}

}  // namespace ad::kernels
#endif  // HWY_ONCE
