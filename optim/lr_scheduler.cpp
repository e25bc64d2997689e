#include "adgraph/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

namespace ad::optim {

LRScheduler::LRScheduler(const char* name, Optimizer& optimizer)
    : name_(name), optimizer_(optimizer), base_lr_(optimizer.lr()) {}

void LRScheduler::fail(const std::string& what) const { throw ad::Error(std::string(name_) + ": " + what); }

void LRScheduler::start() { optimizer_.set_lr(lr_at(0)); }

void LRScheduler::step() { set_step(t_ + 1); }

void LRScheduler::set_step(std::int64_t t) {
  if (t < 0) fail("set_step: the step must be >= 0, got " + std::to_string(t));
  optimizer_.set_lr(lr_at(t));
  t_ = t;
}

// ---- ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail("gamma must be finite and > 0, got " + format_number(gamma));
  start();
}

double ExponentialLR::lr_at(std::int64_t t) const { return base_lr() * std::pow(gamma_, static_cast<double>(t)); }

// ---- MultiStepLR

namespace {

// Strictly increasing and each >= lo; returns an empty string when fine, else the problem.
std::string check_increasing(const std::vector<std::int64_t>& v, std::int64_t lo, const char* what) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo)
      return std::string(what) + " must be >= " + std::to_string(lo) + ", got " + std::to_string(v[i]) + " at index " +
             std::to_string(i);
    if (i > 0 && v[i] <= v[i - 1])
      return std::string(what) + " must be strictly increasing, got " + std::to_string(v[i - 1]) + " then " +
             std::to_string(v[i]) + " at index " + std::to_string(i);
  }
  return {};
}

}  // namespace

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler("MultiStepLR", optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  if (const std::string e = check_increasing(milestones_, 1, "milestones"); !e.empty()) fail(e);
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail("gamma must be finite and > 0, got " + format_number(gamma));
  start();
}

double MultiStepLR::lr_at(std::int64_t t) const {
  const auto k = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();  // #{m <= t}
  return base_lr() * std::pow(gamma_, static_cast<double>(k));
}

// ---- PiecewiseConstantLR

PiecewiseConstantLR::PiecewiseConstantLR(Optimizer& optimizer, std::vector<std::int64_t> boundaries,
                                         std::vector<double> values)
    : LRScheduler("PiecewiseConstantLR", optimizer), boundaries_(std::move(boundaries)), values_(std::move(values)) {
  if (const std::string e = check_increasing(boundaries_, 0, "boundaries"); !e.empty()) fail(e);
  if (values_.size() != boundaries_.size() + 1)
    fail("needs one more value than boundaries, got " + std::to_string(values_.size()) + " values for " +
         std::to_string(boundaries_.size()) + " boundaries");
  for (std::size_t i = 0; i < values_.size(); ++i)
    if (!(std::isfinite(values_[i]) && values_[i] >= 0.0))
      fail("values must be finite and >= 0, got " + format_number(values_[i]) + " at index " + std::to_string(i));
  start();
}

double PiecewiseConstantLR::lr_at(std::int64_t t) const {
  const auto k = std::lower_bound(boundaries_.begin(), boundaries_.end(), t) - boundaries_.begin();  // #{b < t}
  return values_[static_cast<std::size_t>(k)];
}

// ---- PolynomialLR

PolynomialLR::PolynomialLR(Optimizer& optimizer, PolynomialLROptions opt)
    : LRScheduler("PolynomialLR", optimizer), opt_(opt) {
  if (opt.total_steps < 1) fail("total_steps must be >= 1, got " + std::to_string(opt.total_steps));
  if (!(std::isfinite(opt.power) && opt.power > 0.0))
    fail("power must be finite and > 0, got " + format_number(opt.power));
  if (!(std::isfinite(opt.end_lr) && opt.end_lr >= 0.0))
    fail("end_lr must be finite and >= 0, got " + format_number(opt.end_lr));
  start();
}

double PolynomialLR::lr_at(std::int64_t t) const {
  const std::int64_t T = opt_.total_steps;
  double horizon = static_cast<double>(T);
  double s = static_cast<double>(t);
  if (opt_.cycle)
    horizon *= std::max<double>(1.0, std::ceil(s / horizon));  // T' = T * max(1, ceil(t / T))
  else
    s = std::min(s, horizon);  // t = min(t, T)
  return (base_lr() - opt_.end_lr) * std::pow(1.0 - s / horizon, opt_.power) + opt_.end_lr;
}

// ---- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max < 1) fail("T_max must be >= 1, got " + std::to_string(t_max));
  if (!(std::isfinite(eta_min) && eta_min >= 0.0))
    fail("eta_min must be finite and >= 0, got " + format_number(eta_min));
  start();
}

double CosineAnnealingLR::lr_at(std::int64_t t) const {
  const double c = std::cos(std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max_));
  return eta_min_ + (base_lr() - eta_min_) * (1.0 + c) / 2.0;
}

// ---- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, ReduceLROnPlateauOptions opt)
    : optimizer_(optimizer),
      opt_(opt),
      best_(opt.mode == Mode::Min ? std::numeric_limits<double>::infinity()
                                  : -std::numeric_limits<double>::infinity()) {
  auto fail = [](const std::string& what) { throw ad::Error("ReduceLROnPlateau: " + what); };
  if (!(opt.factor > 0.0 && opt.factor < 1.0)) fail("factor must be in (0, 1), got " + format_number(opt.factor));
  if (opt.patience < 0) fail("patience must be >= 0, got " + std::to_string(opt.patience));
  if (opt.cooldown < 0) fail("cooldown must be >= 0, got " + std::to_string(opt.cooldown));
  if (!(std::isfinite(opt.threshold) && opt.threshold >= 0.0))
    fail("threshold must be finite and >= 0, got " + format_number(opt.threshold));
  if (!(std::isfinite(opt.min_lr) && opt.min_lr >= 0.0))
    fail("min_lr must be finite and >= 0, got " + format_number(opt.min_lr));
  if (!(std::isfinite(opt.eps) && opt.eps >= 0.0)) fail("eps must be finite and >= 0, got " + format_number(opt.eps));
}

bool ReduceLROnPlateau::is_better(double m) const {
  const double th = opt_.threshold;
  const bool rel = opt_.threshold_mode == ThresholdMode::Rel;
  if (opt_.mode == Mode::Min) return rel ? m < best_ * (1.0 - th) : m < best_ - th;
  return rel ? m > best_ * (1.0 + th) : m > best_ + th;
}

bool ReduceLROnPlateau::step(double metric) {
  ++t_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ <= opt_.patience) return false;
  cooldown_counter_ = opt_.cooldown;
  num_bad_epochs_ = 0;
  const double old_lr = optimizer_.lr();
  const double new_lr = std::max(old_lr * opt_.factor, opt_.min_lr);  // lr = max(lr * factor, min_lr)
  if (old_lr - new_lr <= opt_.eps) return false;
  optimizer_.set_lr(new_lr);
  return true;
}

}  // namespace ad::optim
