#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/optim/mode.h"
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

// Base of the step-indexed schedules (PyTorch's LRScheduler, with closed forms). Each param
// group g has a base lr: the optimizer's initial_lr(g), which the first scheduler built on the
// optimizer records from the group's lr (PyTorch's "initial_lr"); a scheduler built after the
// optimizer's state was restored therefore starts from the saved initial lr, not from the decayed
// one, and never applies the decay twice. Construction sets each group's lr to lr_at(0, g); each
// step() advances the counter t by one and sets it to lr_at(t, g). lr_at is pure (it reads only
// the schedule's constants), so a schedule can be tabulated or plotted without an optimizer
// stepping.
//
// State: state_dict() holds "last_step" (Int64), "base_lr.<g>" (Float64) and the schedule's
// constants as "constant.<name>" (Float64), which load_state_dict checks against this schedule's
// before changing anything (a mismatch is an error naming both values); loading sets t and the
// base lrs and then each group's lr to lr_at(t, g). save_state/load_state use a safetensors file
// with metadata {"scheduler": name()}, written atomically. A function (LambdaLR's) is not saved:
// construct the schedule with the same one.
//
// A schedule keeps a reference to its optimizer, which must outlive it. Build it after the
// optimizer's param groups are complete (add_param_group afterwards is an error at the next
// step). One thread at a time, like the optimizer.
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  // The lr of param group `group` at step t (t >= 0).
  double lr_at(std::int64_t t, std::size_t group = 0) const;
  void step();                    // t += 1; each group's lr = lr_at(t, g)
  void set_step(std::int64_t t);  // jump to t (t >= 0), e.g. when resuming; each group's lr = lr_at(t, g)
  std::int64_t last_step() const { return t_; }
  double base_lr(std::size_t group = 0) const;
  std::size_t num_groups() const { return base_lrs_.size(); }
  double last_lr(std::size_t group = 0) const { return optimizer_.lr(group); }
  const char* name() const { return name_; }
  const Optimizer& optimizer() const { return optimizer_; }

  ad::NamedTensors state_dict() const;
  void load_state_dict(const ad::NamedTensors& state);
  // Throws what load_state_dict would throw for `state`, and changes nothing.
  void check_state_dict(const ad::NamedTensors& state) const;
  void save_state(const std::string& path) const;
  void load_state(const std::string& path);  // any failure throws and leaves the schedule and lr as they were

 protected:
  LRScheduler(const char* name, Optimizer& optimizer);
  void start();  // derived constructors call this last: each group's lr = lr_at(0, g)
  [[noreturn]] void fail(const std::string& what) const;
  // The closed form; t >= 0 and group < num_groups() are checked by the caller.
  virtual double compute_lr(std::int64_t t, std::size_t group) const = 0;
  // The constants the schedule depends on, saved and checked by load_state_dict.
  virtual std::vector<std::pair<std::string, double>> constants() const = 0;
  // Extra state of a composite schedule (SequentialLR's children), saved under "<prefix>".
  virtual void save_extra(ad::NamedTensors& out) const;
  virtual void check_extra(const ad::NamedTensors& state, std::set<std::string>& used) const;
  virtual void load_extra(const ad::NamedTensors& state);
  Optimizer& mutable_optimizer() const { return optimizer_; }

 private:
  void apply(std::int64_t t);
  std::pair<std::int64_t, std::vector<double>> read_state(const ad::NamedTensors& state) const;
  const char* name_;
  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::int64_t t_ = 0;
};

// lr = base_lr * gamma^floor(t / step_size)   (PyTorch's StepLR; step_size >= 1, gamma > 0)
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// lr = base_lr * factor(t)   (PyTorch's LambdaLR). One function for every group, or one per
// group. factor(t) must be finite and >= 0 (else an ad::Error at that step). Not saved: a
// restored LambdaLR must be built with the same functions.
class LambdaLR : public LRScheduler {
 public:
  using Factor = std::function<double(std::int64_t t)>;
  LambdaLR(Optimizer& optimizer, Factor factor);
  LambdaLR(Optimizer& optimizer, std::vector<Factor> factors);  // one per param group

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override { return {}; }

 private:
  std::vector<Factor> factors_;
};

struct LinearLROptions {
  double start_factor = 1.0 / 3.0;  // in (0, 1]
  double end_factor = 1.0;          // in [0, 1]
  std::int64_t total_iters = 5;     // >= 1
};

// Warm-up (or linear decay), PyTorch's LinearLR:
//   lr = base_lr * (start + (end - start) * min(t, total_iters) / total_iters)
class LinearLR : public LRScheduler {
 public:
  LinearLR(Optimizer& optimizer, LinearLROptions opt = {});

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  LinearLROptions opt_;
};

enum class AnnealStrategy { Cos, Linear };

struct OneCycleLROptions {
  double max_lr = 0.0;               // > 0; the peak (every group's, unless max_lrs is given)
  std::vector<double> max_lrs = {};  // optional: one peak per param group
  std::int64_t total_steps = 0;      // >= 1
  double pct_start = 0.3;            // in [0, 1]: the share of the steps spent rising
  AnnealStrategy anneal_strategy = AnnealStrategy::Cos;
  double div_factor = 25.0;       // > 0: the start lr is max_lr / div_factor
  double final_div_factor = 1e4;  // > 0: the final lr is the start lr / final_div_factor
  bool three_phase = false;       // rise, fall back to the start lr, then anneal to the final lr
};

// Smith & Topin's 1cycle policy, PyTorch's OneCycleLR (lr only: PyTorch's cycle_momentum = False;
// the optimizer's momentum options stay fixed). With s = max_lr / div_factor and
// f = s / final_div_factor, the phases are (e_k: the last step of phase k)
//   two phases:   s -> max_lr until e_0 = pct_start * T - 1, then max_lr -> f until e_1 = T - 1
//   three phases: s -> max_lr until pct_start * T - 1, max_lr -> s until 2 pct_start * T - 2,
//                 then s -> f until T - 1
// and within a phase from a to b over steps (e_{k-1}, e_k] (e_{-1} = 0):
//   p = (t - e_{k-1}) / (e_k - e_{k-1});  cos: b + (a - b) (1 + cos(pi p)) / 2;  linear: a + (b - a) p
// A phase of no length gives its end value. The optimizer's own lrs are replaced; t > T is an
// ad::Error (PyTorch: "Tried to step ... times").
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& optimizer, OneCycleLROptions opt);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  OneCycleLROptions opt_;
};

// SGDR (Loshchilov & Hutter 2017), PyTorch's CosineAnnealingWarmRestarts at integer steps:
//   T_i = T_0 * T_mult^i for the i-th cycle, T_cur = the steps since the last restart,
//   lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
// T_0 >= 1, T_mult >= 1 (an integer, as PyTorch), eta_min >= 0.
class CosineAnnealingWarmRestarts : public LRScheduler {
 public:
  CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t t_0, std::int64_t t_mult = 1, double eta_min = 0.0);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  std::int64_t t_0_, t_mult_;
  double eta_min_;
};

// One schedule after another (PyTorch's SequentialLR): schedule k runs from milestone k-1 (0 for
// the first) and restarts its own count there:
//   lr(t) = schedules[k].lr_at(t - milestones[k-1]),  k = the number of milestones <= t
// Milestones strictly increasing and >= 1, one fewer than schedules; every schedule on this
// optimizer (they share the base lrs, as all read initial_lr). The children are only read, never
// stepped: their own last_step() stays where it was. Their constants are saved with this one's.
class SequentialLR : public LRScheduler {
 public:
  SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedules,
               std::vector<std::int64_t> milestones);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;
  void save_extra(ad::NamedTensors& out) const override;
  void check_extra(const ad::NamedTensors& state, std::set<std::string>& used) const override;
  void load_extra(const ad::NamedTensors& state) override;

 private:
  std::vector<std::shared_ptr<LRScheduler>> schedules_;
  std::vector<std::int64_t> milestones_;
};

// lr = base_lr * gamma^t   (gamma > 0)
class ExponentialLR : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  double gamma_;
};

// lr = base_lr * gamma^k, k = the number of milestones <= t (PyTorch's MultiStepLR: the decay
// applies from the milestone itself). Milestones strictly increasing and >= 1; gamma > 0.
class MultiStepLR : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

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

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

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

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

 private:
  PolynomialLROptions opt_;
};

// lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2   (PyTorch's closed form;
// past T_max it rises again, as in PyTorch). T_max >= 1, eta_min >= 0.
class CosineAnnealingLR : public LRScheduler {
 public:
  CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min = 0.0);

 protected:
  double compute_lr(std::int64_t t, std::size_t group) const override;
  std::vector<std::pair<std::string, double>> constants() const override;

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

// PyTorch's ReduceLROnPlateau, on every param group. Each step(metric):
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
  bool step(double metric);  // true when this step reduced the lr of some group
  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }
  std::int64_t cooldown_counter() const { return cooldown_counter_; }
  bool in_cooldown() const { return cooldown_counter_ > 0; }
  std::int64_t last_step() const { return t_; }
  double last_lr(std::size_t group = 0) const { return optimizer_.lr(group); }

  // "last_step", "best", "num_bad_epochs", "cooldown_counter" and the options as "constant.<name>"
  // (checked on load). The lrs themselves live in the optimizer's state.
  ad::NamedTensors state_dict() const;
  void load_state_dict(const ad::NamedTensors& state);
  void check_state_dict(const ad::NamedTensors& state) const;  // throws what load would; changes nothing

 private:
  bool is_better(double metric) const;
  std::vector<std::pair<std::string, double>> constants() const;
  Optimizer& optimizer_;
  ReduceLROnPlateauOptions opt_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
  std::int64_t t_ = 0;
};

}  // namespace ad::optim
