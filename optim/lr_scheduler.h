#pragma once
#include <cstdint>
#include <vector>

#include "adgraph/optim/mode.h"
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

// Base of the epoch-indexed schedules (PyTorch's LRScheduler with closed forms). Construction
// reads the optimizer's lr as base_lr and sets the lr to lr_at(0); each step() advances the
// counter t by one and sets the lr to lr_at(t). lr_at is pure (it reads only the schedule's
// constants), so a schedule can be tabulated or plotted without an optimizer stepping.
// A schedule keeps a reference to its optimizer, which must outlive it.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual double lr_at(std::int64_t t) const = 0;
  void step();                    // t += 1; optimizer lr = lr_at(t)
  void set_step(std::int64_t t);  // jump to t (t >= 0), e.g. when resuming; optimizer lr = lr_at(t)
  std::int64_t last_step() const { return t_; }
  double base_lr() const { return base_lr_; }
  double last_lr() const { return optimizer_.lr(); }

 protected:
  LRScheduler(const char* name, Optimizer& optimizer);
  void start();  // derived constructors call this last: optimizer lr = lr_at(0)
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const char* name_;
  Optimizer& optimizer_;
  double base_lr_;
  std::int64_t t_ = 0;
};

// lr = base_lr * gamma^t   (gamma > 0)
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  double lr_at(std::int64_t t) const override;

 private:
  double gamma_;
};

// lr = base_lr * gamma^k, k = the number of milestones <= t (PyTorch's MultiStepLR: the decay
// applies from the milestone itself). Milestones strictly increasing and >= 1; gamma > 0.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);
  double lr_at(std::int64_t t) const override;

 private:
  std::vector<std::int64_t> milestones_;
  double gamma_;
};

// lr = values[k], k = the number of boundaries < t (TensorFlow's piecewise_constant: values[0]
// for t <= b_0, values[i] for b_{i-1} < t <= b_i, values[n] for t > b_{n-1}). Boundaries
// strictly increasing and >= 0; one more value than boundaries, each finite and >= 0. The
// optimizer's own lr is replaced by values[0].
class PiecewiseConstantLR : public LRScheduler {
 public:
  PiecewiseConstantLR(Optimizer& optimizer, std::vector<std::int64_t> boundaries, std::vector<double> values);
  double lr_at(std::int64_t t) const override;

 private:
  std::vector<std::int64_t> boundaries_;
  std::vector<double> values_;
};

struct PolynomialLROptions {
  std::int64_t total_steps = 0;  // the decay horizon T, >= 1
  double power = 1.0;            // > 0 (1: linear)
  double end_lr = 0.0;           // >= 0
  bool cycle = false;            // restart the decay: the horizon becomes T * ceil(t / T)
};

// TensorFlow's polynomial_decay (PyTorch's PolynomialLR when end_lr = 0 and cycle is off):
//   no cycle: lr = (base_lr - end_lr) * (1 - min(t, T) / T)^power + end_lr
//   cycle:    lr = (base_lr - end_lr) * (1 - t / T')^power + end_lr,  T' = T * max(1, ceil(t / T))
class PolynomialLR : public LRScheduler {
 public:
  PolynomialLR(Optimizer& optimizer, PolynomialLROptions opt);
  double lr_at(std::int64_t t) const override;

 private:
  PolynomialLROptions opt_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2   (PyTorch's closed form;
// past T_max it rises again, as in PyTorch). T_max >= 1, eta_min >= 0.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);
  double lr_at(std::int64_t t) const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

enum class ThresholdMode { Rel, Abs };

struct ReduceLROnPlateauOptions {
  Mode mode = Mode::Min;
  double factor = 0.1;         // new lr = max(lr * factor, min_lr); in (0, 1)
  std::int64_t patience = 10;  // bad epochs tolerated before reducing, >= 0
  double threshold = 1e-4;     // >= 0: the least change that counts as an improvement
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  std::int64_t cooldown = 0;  // epochs to wait after a reduction, >= 0
  double min_lr = 0.0;        // >= 0
  double eps = 1e-8;          // a reduction smaller than eps is skipped
};

// PyTorch's ReduceLROnPlateau. Each step(metric):
//   improved (Min, Rel: m < best * (1 - threshold); Min, Abs: m < best - threshold;
//             Max, Rel: m > best * (1 + threshold); Max, Abs: m > best + threshold)
//     ? best = m, bad = 0 : bad += 1
//   in cooldown: cooldown_counter -= 1, bad = 0
//   bad > patience: lr = max(lr * factor, min_lr) (if that lowers it by more than eps),
//                   cooldown_counter = cooldown, bad = 0
// A NaN metric is never an improvement.
class ReduceLROnPlateau {
 public:
  ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions opt = {});
  bool step(double metric);  // true when this step reduced the lr
  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }
  std::int64_t last_step() const { return t_; }
  double last_lr() const { return optimizer_.lr(); }

 private:
  bool is_better(double metric) const;
  Optimizer& optimizer_;
  ReduceLROnPlateauOptions opt_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t t_ = 0;
};

}  // namespace ad::optim
