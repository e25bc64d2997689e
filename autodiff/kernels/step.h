#pragma once
// The fused optimizer kernels (step.cpp, Highway, one binary for every instruction set) behind
// fused_step.h. Each runs over elements [0, n) of contiguous arrays, threaded above kGrain.
// Not part of the public API.
#include <cstdint>

namespace ad::kernels {

template <class T>
struct AdamArgs {
  T *p, *m, *v, *vmax;  // vmax null unless amsgrad
  const T* g;
  std::int64_t n;
  bool l2, decoupled;                                      // weight decay into g, or into p (AdamW)
  double wd, decay, w1, b2, c2, inv_bc2s, eps, step_size;  // decay = 1 - lr wd; w1 = 1 - b1; c2 = 1 - b2
};
template <class T>
void adam(const AdamArgs<T>& a);

template <class T>
struct SgdArgs {
  T *p, *b;  // b null without momentum
  const T* g;
  std::int64_t n;
  bool l2, first, nesterov;
  double wd, momentum, damp1, lr;  // damp1 = 1 - dampening
};
template <class T>
void sgd(const SgdArgs<T>& a);

template <class T>
struct RmspropArgs {
  T *p, *v, *m, *b;  // m null unless centered, b null without momentum
  const T* g;
  std::int64_t n;
  bool l2;
  double wd, alpha, c, eps, momentum, lr;  // c = 1 - alpha
};
template <class T>
void rmsprop(const RmspropArgs<T>& a);

}  // namespace ad::kernels
