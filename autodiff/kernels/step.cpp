// The fused optimizer kernels (see step.h and fused_step.h), on Highway like simd.cpp: the
// per-target part first, the dispatch and threading in the HWY_ONCE part. The vector body and
// the scalar tail write the same formula; this file is compiled with -ffp-contract=off, so both
// round each operation as the composite in-place ops do.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "adgraph/autodiff/kernels/step.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// highway.h after foreach_target.h:
// clang-format off
#include <hwy/highway.h>
// clang-format on

#include <cmath>
#include <cstddef>

#include "adgraph/autodiff/kernels/step.h"

HWY_BEFORE_NAMESPACE();
namespace adstep {
namespace HWY_NAMESPACE {
namespace {  // internal linkage: nothing of the per-target code is a symbol of the library
namespace hn = hwy::HWY_NAMESPACE;
using ad::kernels::AdamArgs;
using ad::kernels::RmspropArgs;
using ad::kernels::SgdArgs;

template <class T>
void adam_impl(const AdamArgs<T>& a, std::size_t begin, std::size_t end) {
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const T wd = T(a.wd), decay = T(a.decay), w1 = T(a.w1), b2 = T(a.b2), c2 = T(a.c2), inv = T(a.inv_bc2s),
          eps = T(a.eps), step = T(a.step_size);
  const auto vwd = hn::Set(d, wd), vdecay = hn::Set(d, decay), vw1 = hn::Set(d, w1), vb2 = hn::Set(d, b2),
             vc2 = hn::Set(d, c2), vinv = hn::Set(d, inv), veps = hn::Set(d, eps), vstep = hn::Set(d, step);
  std::size_t i = begin;
  for (; i + N <= end; i += N) {
    auto p = hn::LoadU(d, a.p + i), g = hn::LoadU(d, a.g + i), m = hn::LoadU(d, a.m + i), v = hn::LoadU(d, a.v + i);
    if (a.l2) g = hn::Add(g, hn::Mul(p, vwd));
    if (a.decoupled) p = hn::Mul(p, vdecay);
    m = hn::Add(m, hn::Mul(vw1, hn::Sub(g, m)));
    v = hn::Mul(v, vb2);
    v = hn::Add(v, hn::Mul(hn::Mul(vc2, g), g));
    auto second = v;
    if (a.vmax) {
      const auto vm = hn::LoadU(d, a.vmax + i);
      second = hn::IfThenElse(hn::Gt(vm, v), vm, v);
      hn::StoreU(second, d, a.vmax + i);
    }
    const auto den = hn::Add(hn::Mul(hn::Sqrt(second), vinv), veps);
    p = hn::Add(p, hn::Div(hn::Mul(vstep, m), den));
    hn::StoreU(p, d, a.p + i);
    hn::StoreU(m, d, a.m + i);
    hn::StoreU(v, d, a.v + i);
  }
  for (; i < end; ++i) {
    T p = a.p[i], g = a.g[i], m = a.m[i], v = a.v[i];
    if (a.l2) g = g + p * wd;
    if (a.decoupled) p = p * decay;
    m = m + w1 * (g - m);
    v = v * b2;
    v = v + c2 * g * g;
    T second = v;
    if (a.vmax) second = a.vmax[i] = a.vmax[i] > v ? a.vmax[i] : v;
    const T den = std::sqrt(second) * inv + eps;
    a.p[i] = p + step * m / den;
    a.m[i] = m;
    a.v[i] = v;
  }
}

template <class T>
void sgd_impl(const SgdArgs<T>& a, std::size_t begin, std::size_t end) {
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const T wd = T(a.wd), mom = T(a.momentum), damp1 = T(a.damp1), lr = T(a.lr);
  const auto vwd = hn::Set(d, wd), vmom = hn::Set(d, mom), vdamp1 = hn::Set(d, damp1), vlr = hn::Set(d, lr);
  std::size_t i = begin;
  for (; i + N <= end; i += N) {
    auto p = hn::LoadU(d, a.p + i), g = hn::LoadU(d, a.g + i);
    if (a.l2) g = hn::Add(g, hn::Mul(p, vwd));
    if (a.b) {
      auto b = g;
      if (!a.first) b = hn::Add(hn::Mul(hn::LoadU(d, a.b + i), vmom), hn::Mul(vdamp1, g));
      hn::StoreU(b, d, a.b + i);
      g = a.nesterov ? hn::Add(g, hn::Mul(b, vmom)) : b;
    }
    hn::StoreU(hn::Sub(p, hn::Mul(vlr, g)), d, a.p + i);
  }
  for (; i < end; ++i) {
    T g = a.g[i];
    if (a.l2) g = g + a.p[i] * wd;
    if (a.b) {
      const T b = a.first ? g : a.b[i] * mom + damp1 * g;
      a.b[i] = b;
      g = a.nesterov ? g + b * mom : b;
    }
    a.p[i] = a.p[i] - lr * g;
  }
}

template <class T>
void rmsprop_impl(const RmspropArgs<T>& a, std::size_t begin, std::size_t end) {
  const hn::ScalableTag<T> d;
  const std::size_t N = hn::Lanes(d);
  const T wd = T(a.wd), alpha = T(a.alpha), c = T(a.c), eps = T(a.eps), mom = T(a.momentum), lr = T(a.lr);
  const auto vwd = hn::Set(d, wd), valpha = hn::Set(d, alpha), vc = hn::Set(d, c), veps = hn::Set(d, eps),
             vmom = hn::Set(d, mom), vlr = hn::Set(d, lr);
  std::size_t i = begin;
  for (; i + N <= end; i += N) {
    auto p = hn::LoadU(d, a.p + i), g = hn::LoadU(d, a.g + i), v = hn::LoadU(d, a.v + i);
    if (a.l2) g = hn::Add(g, hn::Mul(p, vwd));
    v = hn::Add(hn::Mul(v, valpha), hn::Mul(vc, hn::Mul(g, g)));
    hn::StoreU(v, d, a.v + i);
    auto den = hn::Sqrt(v);
    if (a.m) {
      const auto m = hn::Add(hn::Mul(hn::LoadU(d, a.m + i), valpha), hn::Mul(vc, g));
      hn::StoreU(m, d, a.m + i);
      den = hn::Sqrt(hn::Sub(v, hn::Mul(m, m)));
    }
    den = hn::Add(den, veps);
    auto upd = hn::Div(g, den);
    if (a.b) {
      upd = hn::Add(hn::Mul(hn::LoadU(d, a.b + i), vmom), upd);
      hn::StoreU(upd, d, a.b + i);
    }
    hn::StoreU(hn::Sub(p, hn::Mul(vlr, upd)), d, a.p + i);
  }
  for (; i < end; ++i) {
    T g = a.g[i];
    if (a.l2) g = g + a.p[i] * wd;
    const T v = a.v[i] = a.v[i] * alpha + c * (g * g);
    T den = std::sqrt(v);
    if (a.m) {
      const T m = a.m[i] = a.m[i] * alpha + c * g;
      den = std::sqrt(v - m * m);
    }
    den = den + eps;
    T upd = g / den;
    if (a.b) upd = a.b[i] = a.b[i] * mom + upd;
    a.p[i] = a.p[i] - lr * upd;
  }
}

void AdamF32(const AdamArgs<float>& a, std::size_t b, std::size_t e) { adam_impl(a, b, e); }
void AdamF64(const AdamArgs<double>& a, std::size_t b, std::size_t e) { adam_impl(a, b, e); }
void SgdF32(const SgdArgs<float>& a, std::size_t b, std::size_t e) { sgd_impl(a, b, e); }
void SgdF64(const SgdArgs<double>& a, std::size_t b, std::size_t e) { sgd_impl(a, b, e); }
void RmspropF32(const RmspropArgs<float>& a, std::size_t b, std::size_t e) { rmsprop_impl(a, b, e); }
void RmspropF64(const RmspropArgs<double>& a, std::size_t b, std::size_t e) { rmsprop_impl(a, b, e); }

}  // namespace
}  // namespace HWY_NAMESPACE
}  // namespace adstep
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "adgraph/autodiff/kernels/parallel.h"
#include "adgraph/autodiff/kernels/simd.h"

namespace adstep {
HWY_EXPORT(AdamF32);
HWY_EXPORT(AdamF64);
HWY_EXPORT(SgdF32);
HWY_EXPORT(SgdF64);
HWY_EXPORT(RmspropF32);
HWY_EXPORT(RmspropF64);
}  // namespace adstep

namespace ad::kernels {

// Each kernel over [0, n) in chunks among the threads; the F32/F64 pair picked by T.
#define ADGRAPH_STEP_KERNEL(name, Args, F32, F64)                                    \
  template <class T>                                                                 \
  void name(const Args<T>& a) {                                                      \
    apply_isa_cap();                                                                 \
    for_chunks(a.n, [&](std::int64_t b, std::int64_t e) {                            \
      const auto sb = static_cast<std::size_t>(b), se = static_cast<std::size_t>(e); \
      if constexpr (sizeof(T) == 4)                                                  \
        HWY_DYNAMIC_DISPATCH(adstep::F32)(a, sb, se);                                \
      else                                                                           \
        HWY_DYNAMIC_DISPATCH(adstep::F64)(a, sb, se);                                \
    });                                                                              \
  }                                                                                  \
  template void name<float>(const Args<float>&);                                     \
  template void name<double>(const Args<double>&);
ADGRAPH_STEP_KERNEL(adam, AdamArgs, AdamF32, AdamF64)
ADGRAPH_STEP_KERNEL(sgd, SgdArgs, SgdF32, SgdF64)
ADGRAPH_STEP_KERNEL(rmsprop, RmspropArgs, RmspropF32, RmspropF64)
#undef ADGRAPH_STEP_KERNEL

}  // namespace ad::kernels
#endif  // HWY_ONCE
