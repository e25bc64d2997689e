#include "adgraph/optim/lr_scheduler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numbers>
#include <set>

namespace ad::optim {

namespace {

ad::Tensor f64(double v) { return ad::scalar_tensor(v, ad::dtype(ad::kFloat64)); }
ad::Tensor i64(std::int64_t v) {
  ad::Tensor t = ad::zeros({}, ad::dtype(ad::kInt64));
  t.data_ptr<std::int64_t>()[0] = v;
  return t;
}

// Reads entries of a scheduler's state by name, with the checks every entry needs.
class StateReader {
 public:
  StateReader(const ad::NamedTensors& state, std::string where) : where_(std::move(where)) {
    for (const auto& [key, t] : state) {
      if (!t.defined()) throw ad::Error(where_ + "entry '" + key + "' is an undefined tensor");
      if (!entries_.emplace(key, t).second) throw ad::Error(where_ + "entry '" + key + "' appears twice");
    }
  }
  const ad::Tensor& take(const std::string& key) {
    const auto it = entries_.find(key);
    if (it == entries_.end())
      throw ad::Error(where_ + "missing entry '" + key + "' (is this the state of another schedule?)");
    used_.insert(key);
    return it->second;
  }
  std::int64_t take_int(const std::string& key) {
    const ad::Tensor& t = take(key);
    if (t.dtype() != ad::kInt64 || t.numel() != 1)
      throw ad::Error(where_ + "entry '" + key + "' must be a one-element Int64 tensor, got " +
                      ad::dtype_name(t.dtype()) + " of shape " + ad::shape_str(t.shape()));
    const std::int64_t v = t.data_ptr<std::int64_t>()[0];
    if (v < 0) throw ad::Error(where_ + "entry '" + key + "' must be >= 0, got " + std::to_string(v));
    return v;
  }
  double take_float(const std::string& key) {
    const ad::Tensor& t = take(key);
    if (!ad::is_floating(t.dtype()) || t.numel() != 1)
      throw ad::Error(where_ + "entry '" + key + "' must be a one-element floating tensor, got " +
                      ad::dtype_name(t.dtype()) + " of shape " + ad::shape_str(t.shape()));
    return t.item();
  }
  void check_constants(const std::vector<std::pair<std::string, double>>& constants, const std::string& prefix = {}) {
    for (const auto& [key, value] : constants) {
      const double saved = take_float(prefix + "constant." + key);
      const bool same = saved == value || (std::isnan(saved) && std::isnan(value));
      if (!same)
        throw ad::Error(where_ + prefix + key + " is " + format_number(saved) + " in the state but " +
                        format_number(value) + " in this schedule; construct it with the settings it was saved with");
    }
  }
  std::set<std::string>& used() { return used_; }
  void check_all_used() const {
    for (const auto& [key, t] : entries_)
      if (!used_.contains(key)) throw ad::Error(where_ + "unexpected entry '" + key + "' (another schedule?)");
  }

 private:
  std::string where_;
  std::map<std::string, ad::Tensor> entries_;
  std::set<std::string> used_;
};

void put_constants(ad::NamedTensors& out, const std::vector<std::pair<std::string, double>>& constants,
                   const std::string& prefix = {}) {
  for (const auto& [key, value] : constants) out.emplace_back(prefix + "constant." + key, f64(value));
}

}  // namespace

LRScheduler::LRScheduler(const char* name, Optimizer& optimizer) : name_(name), optimizer_(optimizer) {
  const std::size_t n = optimizer.num_param_groups();
  base_lrs_.resize(n);
  for (std::size_t g = 0; g < n; ++g) {
    const std::optional<double> initial = optimizer.initial_lr(g);
    base_lrs_[g] = initial ? *initial : optimizer.lr(g);
  }
  // Recorded only once the derived constructor has validated its arguments (start()), so a
  // failed construction changes nothing.
}

void LRScheduler::fail(const std::string& what) const { throw ad::Error(std::string(name_) + ": " + what); }

double LRScheduler::base_lr(std::size_t group) const {
  if (group >= base_lrs_.size())
    fail("param group " + std::to_string(group) + " does not exist (the schedule has " +
         std::to_string(base_lrs_.size()) + ")");
  return base_lrs_[group];
}

double LRScheduler::lr_at(std::int64_t t, std::size_t group) const {
  if (t < 0) fail("the step must be >= 0, got " + std::to_string(t));
  base_lr(group);  // checks the group
  return compute_lr(t, group);
}

void LRScheduler::apply(std::int64_t t) {
  if (optimizer_.num_param_groups() != base_lrs_.size())
    fail("the optimizer has " + std::to_string(optimizer_.num_param_groups()) +
         " param groups but the schedule was built for " + std::to_string(base_lrs_.size()) +
         "; build the schedule after the last add_param_group");
  std::vector<double> lrs(base_lrs_.size());
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    lrs[g] = compute_lr(t, g);
    if (!(std::isfinite(lrs[g]) && lrs[g] >= 0.0))
      fail("the lr of param group " + std::to_string(g) + " at step " + std::to_string(t) + " would be " +
           format_number(lrs[g]) + "; it must be finite and >= 0");
  }
  for (std::size_t g = 0; g < lrs.size(); ++g) optimizer_.set_lr(g, lrs[g]);  // all checked first
}

void LRScheduler::start() {
  apply(0);
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    if (!optimizer_.initial_lr(g)) optimizer_.set_initial_lr(g, base_lrs_[g]);
}

void LRScheduler::step() { set_step(t_ + 1); }

void LRScheduler::set_step(std::int64_t t) {
  if (t < 0) fail("set_step: the step must be >= 0, got " + std::to_string(t));
  apply(t);
  t_ = t;
}

void LRScheduler::save_extra(ad::NamedTensors&) const {}
void LRScheduler::check_extra(const ad::NamedTensors&, std::set<std::string>&) const {}
void LRScheduler::load_extra(const ad::NamedTensors&) {}

ad::NamedTensors LRScheduler::state_dict() const {
  ad::NamedTensors out;
  out.emplace_back("last_step", i64(t_));
  for (std::size_t g = 0; g < base_lrs_.size(); ++g)
    out.emplace_back("base_lr." + std::to_string(g), f64(base_lrs_[g]));
  put_constants(out, constants());
  save_extra(out);
  return out;
}

std::pair<std::int64_t, std::vector<double>> LRScheduler::read_state(const ad::NamedTensors& state) const {
  StateReader r(state, std::string(name_) + "::load_state_dict: ");
  const std::int64_t t = r.take_int("last_step");
  std::vector<double> bases(base_lrs_.size());
  for (std::size_t g = 0; g < bases.size(); ++g) {
    bases[g] = r.take_float("base_lr." + std::to_string(g));
    if (!(std::isfinite(bases[g]) && bases[g] >= 0.0))
      fail("load_state_dict: entry 'base_lr." + std::to_string(g) + "' must be finite and >= 0, got " +
           format_number(bases[g]));
  }
  r.check_constants(constants());
  check_extra(state, r.used());
  r.check_all_used();
  return {t, bases};
}

void LRScheduler::check_state_dict(const ad::NamedTensors& state) const { read_state(state); }

void LRScheduler::load_state_dict(const ad::NamedTensors& state) {
  auto [t, bases] = read_state(state);
  base_lrs_ = std::move(bases);
  load_extra(state);
  t_ = t;
  apply(t);
}

void LRScheduler::save_state(const std::string& path) const {
  ad::save_safetensors(path, state_dict(), {{"scheduler", name_}});
}

void LRScheduler::load_state(const std::string& path) {
  const ad::SafetensorsFile file = ad::load_safetensors(path);
  const auto it = file.metadata.find("scheduler");
  if (it == file.metadata.end()) fail("load_state: " + path + " is not a schedule's state (no \"scheduler\" metadata)");
  if (it->second != name_) fail("load_state: " + path + " holds the state of a " + it->second + ", not " + name_);
  try {
    load_state_dict(file.tensors);
  } catch (const ad::Error& e) {
    throw ad::Error(std::string(e.what()) + " (file " + path + ")");
  }
}

// ---- ExponentialLR

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma)
    : LRScheduler("ExponentialLR", optimizer), gamma_(gamma) {
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail("gamma must be finite and > 0, got " + format_number(gamma));
  start();
}

double ExponentialLR::compute_lr(std::int64_t t, std::size_t group) const {
  return base_lr(group) * std::pow(gamma_, static_cast<double>(t));
}

std::vector<std::pair<std::string, double>> ExponentialLR::constants() const { return {{"gamma", gamma_}}; }

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

double MultiStepLR::compute_lr(std::int64_t t, std::size_t group) const {
  const auto k = std::upper_bound(milestones_.begin(), milestones_.end(), t) - milestones_.begin();  // #{m <= t}
  return base_lr(group) * std::pow(gamma_, static_cast<double>(k));
}

std::vector<std::pair<std::string, double>> MultiStepLR::constants() const {
  std::vector<std::pair<std::string, double>> c{{"gamma", gamma_},
                                                {"milestones", static_cast<double>(milestones_.size())}};
  for (std::size_t i = 0; i < milestones_.size(); ++i)
    c.emplace_back("milestone." + std::to_string(i), static_cast<double>(milestones_[i]));
  return c;
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

double PiecewiseConstantLR::compute_lr(std::int64_t t, std::size_t) const {
  const auto k = std::lower_bound(boundaries_.begin(), boundaries_.end(), t) - boundaries_.begin();  // #{b < t}
  return values_[static_cast<std::size_t>(k)];
}

std::vector<std::pair<std::string, double>> PiecewiseConstantLR::constants() const {
  std::vector<std::pair<std::string, double>> c{{"boundaries", static_cast<double>(boundaries_.size())}};
  for (std::size_t i = 0; i < boundaries_.size(); ++i)
    c.emplace_back("boundary." + std::to_string(i), static_cast<double>(boundaries_[i]));
  for (std::size_t i = 0; i < values_.size(); ++i) c.emplace_back("value." + std::to_string(i), values_[i]);
  return c;
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

double PolynomialLR::compute_lr(std::int64_t t, std::size_t group) const {
  const std::int64_t T = opt_.total_steps;
  double horizon = static_cast<double>(T);
  double s = static_cast<double>(t);
  if (opt_.cycle)
    horizon *= std::max<double>(1.0, std::ceil(s / horizon));  // T' = T * max(1, ceil(t / T))
  else
    s = std::min(s, horizon);  // t = min(t, T)
  return (base_lr(group) - opt_.end_lr) * std::pow(1.0 - s / horizon, opt_.power) + opt_.end_lr;
}

std::vector<std::pair<std::string, double>> PolynomialLR::constants() const {
  return {{"total_steps", static_cast<double>(opt_.total_steps)},
          {"power", opt_.power},
          {"end_lr", opt_.end_lr},
          {"cycle", opt_.cycle ? 1.0 : 0.0}};
}

// ---- CosineAnnealingLR

CosineAnnealingLR::CosineAnnealingLR(Optimizer& optimizer, std::int64_t t_max, double eta_min)
    : LRScheduler("CosineAnnealingLR", optimizer), t_max_(t_max), eta_min_(eta_min) {
  if (t_max < 1) fail("T_max must be >= 1, got " + std::to_string(t_max));
  if (!(std::isfinite(eta_min) && eta_min >= 0.0))
    fail("eta_min must be finite and >= 0, got " + format_number(eta_min));
  start();
}

double CosineAnnealingLR::compute_lr(std::int64_t t, std::size_t group) const {
  const double c = std::cos(std::numbers::pi * static_cast<double>(t) / static_cast<double>(t_max_));
  return eta_min_ + (base_lr(group) - eta_min_) * (1.0 + c) / 2.0;
}

std::vector<std::pair<std::string, double>> CosineAnnealingLR::constants() const {
  return {{"T_max", static_cast<double>(t_max_)}, {"eta_min", eta_min_}};
}

// ---- StepLR

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler("StepLR", optimizer), step_size_(step_size), gamma_(gamma) {
  if (step_size < 1) fail("step_size must be >= 1, got " + std::to_string(step_size));
  if (!(std::isfinite(gamma) && gamma > 0.0)) fail("gamma must be finite and > 0, got " + format_number(gamma));
  start();
}

double StepLR::compute_lr(std::int64_t t, std::size_t group) const {
  return base_lr(group) * std::pow(gamma_, static_cast<double>(t / step_size_));  // base * gamma^floor(t / step)
}

std::vector<std::pair<std::string, double>> StepLR::constants() const {
  return {{"step_size", static_cast<double>(step_size_)}, {"gamma", gamma_}};
}

// ---- LambdaLR

LambdaLR::LambdaLR(Optimizer& optimizer, Factor factor) : LRScheduler("LambdaLR", optimizer) {
  if (!factor) fail("the factor function is empty");
  factors_.assign(num_groups(), factor);
  start();
}

LambdaLR::LambdaLR(Optimizer& optimizer, std::vector<Factor> factors)
    : LRScheduler("LambdaLR", optimizer), factors_(std::move(factors)) {
  if (factors_.size() != num_groups())
    fail("got " + std::to_string(factors_.size()) + " factor functions for " + std::to_string(num_groups()) +
         " param groups; pass one per group, or a single one for all");
  for (std::size_t g = 0; g < factors_.size(); ++g)
    if (!factors_[g]) fail("the factor function of param group " + std::to_string(g) + " is empty");
  start();
}

double LambdaLR::compute_lr(std::int64_t t, std::size_t group) const {
  const double f = factors_[group](t);
  if (!(std::isfinite(f) && f >= 0.0))
    fail("the factor of param group " + std::to_string(group) + " at step " + std::to_string(t) + " is " +
         format_number(f) + "; it must be finite and >= 0");
  return base_lr(group) * f;  // base * factor(t)
}

// ---- LinearLR

LinearLR::LinearLR(Optimizer& optimizer, LinearLROptions opt) : LRScheduler("LinearLR", optimizer), opt_(opt) {
  if (!(opt.start_factor > 0.0 && opt.start_factor <= 1.0))
    fail("start_factor must be in (0, 1], got " + format_number(opt.start_factor));
  if (!(opt.end_factor >= 0.0 && opt.end_factor <= 1.0))
    fail("end_factor must be in [0, 1], got " + format_number(opt.end_factor));
  if (opt.total_iters < 1) fail("total_iters must be >= 1, got " + std::to_string(opt.total_iters));
  start();
}

double LinearLR::compute_lr(std::int64_t t, std::size_t group) const {
  const double s = static_cast<double>(std::min(t, opt_.total_iters)) / static_cast<double>(opt_.total_iters);
  return base_lr(group) * (opt_.start_factor + (opt_.end_factor - opt_.start_factor) * s);
}

std::vector<std::pair<std::string, double>> LinearLR::constants() const {
  return {{"start_factor", opt_.start_factor},
          {"end_factor", opt_.end_factor},
          {"total_iters", static_cast<double>(opt_.total_iters)}};
}

// ---- OneCycleLR

OneCycleLR::OneCycleLR(Optimizer& optimizer, OneCycleLROptions opt) : LRScheduler("OneCycleLR", optimizer), opt_(opt) {
  if (opt_.max_lrs.empty()) {
    if (!(std::isfinite(opt_.max_lr) && opt_.max_lr > 0.0))
      fail("max_lr must be finite and > 0, got " + format_number(opt_.max_lr) + " (or give max_lrs, one per group)");
    opt_.max_lrs.assign(num_groups(), opt_.max_lr);
  } else if (opt_.max_lrs.size() != num_groups()) {
    fail("got " + std::to_string(opt_.max_lrs.size()) + " max_lrs for " + std::to_string(num_groups()) +
         " param groups");
  }
  for (std::size_t g = 0; g < opt_.max_lrs.size(); ++g)
    if (!(std::isfinite(opt_.max_lrs[g]) && opt_.max_lrs[g] > 0.0))
      fail("max_lrs must be finite and > 0, got " + format_number(opt_.max_lrs[g]) + " for param group " +
           std::to_string(g));
  if (opt.total_steps < 1) fail("total_steps must be >= 1, got " + std::to_string(opt.total_steps));
  if (!(opt.pct_start >= 0.0 && opt.pct_start <= 1.0))
    fail("pct_start must be in [0, 1], got " + format_number(opt.pct_start));
  if (!(std::isfinite(opt.div_factor) && opt.div_factor > 0.0))
    fail("div_factor must be finite and > 0, got " + format_number(opt.div_factor));
  if (!(std::isfinite(opt.final_div_factor) && opt.final_div_factor > 0.0))
    fail("final_div_factor must be finite and > 0, got " + format_number(opt.final_div_factor));
  start();
}

double OneCycleLR::compute_lr(std::int64_t t, std::size_t group) const {
  if (t > opt_.total_steps)
    fail("tried to step " + std::to_string(t) + " times; the schedule has total_steps = " +
         std::to_string(opt_.total_steps) + " (make total_steps the number of optimizer steps)");
  const double peak = opt_.max_lrs[group];
  const double initial = peak / opt_.div_factor;
  const double final_lr = initial / opt_.final_div_factor;
  const double T = static_cast<double>(opt_.total_steps);
  struct Phase {
    double end_step, from, to;
  };
  std::vector<Phase> phases;
  if (opt_.three_phase)
    phases = {{opt_.pct_start * T - 1.0, initial, peak},
              {2.0 * opt_.pct_start * T - 2.0, peak, initial},
              {T - 1.0, initial, final_lr}};
  else
    phases = {{opt_.pct_start * T - 1.0, initial, peak}, {T - 1.0, peak, final_lr}};
  const double step = static_cast<double>(t);
  double start_step = 0.0;
  for (std::size_t k = 0; k < phases.size(); ++k) {
    const Phase& ph = phases[k];
    if (step <= ph.end_step || k + 1 == phases.size()) {
      const double len = ph.end_step - start_step;
      const double pct = len > 0.0 ? (step - start_step) / len : 1.0;  // a phase of no length gives its end
      if (opt_.anneal_strategy == AnnealStrategy::Cos)
        return ph.to + (ph.from - ph.to) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
      return (ph.to - ph.from) * pct + ph.from;
    }
    start_step = ph.end_step;
  }
  return final_lr;  // not reached: the last phase always returns
}

std::vector<std::pair<std::string, double>> OneCycleLR::constants() const {
  std::vector<std::pair<std::string, double>> c{{"total_steps", static_cast<double>(opt_.total_steps)},
                                                {"pct_start", opt_.pct_start},
                                                {"anneal_cos", opt_.anneal_strategy == AnnealStrategy::Cos ? 1.0 : 0.0},
                                                {"div_factor", opt_.div_factor},
                                                {"final_div_factor", opt_.final_div_factor},
                                                {"three_phase", opt_.three_phase ? 1.0 : 0.0}};
  for (std::size_t g = 0; g < opt_.max_lrs.size(); ++g) c.emplace_back("max_lr." + std::to_string(g), opt_.max_lrs[g]);
  return c;
}

// ---- CosineAnnealingWarmRestarts

CosineAnnealingWarmRestarts::CosineAnnealingWarmRestarts(Optimizer& optimizer, std::int64_t t_0, std::int64_t t_mult,
                                                         double eta_min)
    : LRScheduler("CosineAnnealingWarmRestarts", optimizer), t_0_(t_0), t_mult_(t_mult), eta_min_(eta_min) {
  if (t_0 < 1) fail("T_0 must be >= 1, got " + std::to_string(t_0));
  if (t_mult < 1) fail("T_mult must be >= 1, got " + std::to_string(t_mult));
  if (!(std::isfinite(eta_min) && eta_min >= 0.0))
    fail("eta_min must be finite and >= 0, got " + format_number(eta_min));
  start();
}

double CosineAnnealingWarmRestarts::compute_lr(std::int64_t t, std::size_t group) const {
  std::int64_t t_cur = t, t_i = t_0_;
  if (t_mult_ == 1) {
    t_cur = t % t_0_;
  } else {
    while (t_cur >= t_i) {  // at most log_{T_mult}(t) cycles
      t_cur -= t_i;
      if (t_i > std::numeric_limits<std::int64_t>::max() / t_mult_) break;  // t_cur < t_i from here on
      t_i *= t_mult_;
    }
  }
  const double c = std::cos(std::numbers::pi * static_cast<double>(t_cur) / static_cast<double>(t_i));
  return eta_min_ + (base_lr(group) - eta_min_) * (1.0 + c) / 2.0;
}

std::vector<std::pair<std::string, double>> CosineAnnealingWarmRestarts::constants() const {
  return {{"T_0", static_cast<double>(t_0_)}, {"T_mult", static_cast<double>(t_mult_)}, {"eta_min", eta_min_}};
}

// ---- SequentialLR

SequentialLR::SequentialLR(Optimizer& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedules,
                           std::vector<std::int64_t> milestones)
    : LRScheduler("SequentialLR", optimizer), schedules_(std::move(schedules)), milestones_(std::move(milestones)) {
  if (schedules_.empty()) fail("got no schedules");
  for (std::size_t i = 0; i < schedules_.size(); ++i) {
    if (!schedules_[i]) fail("schedule " + std::to_string(i) + " is null");
    if (&schedules_[i]->optimizer() != &optimizer)
      fail("schedule " + std::to_string(i) + " (" + schedules_[i]->name() +
           ") drives another optimizer; build every schedule on this one");
  }
  if (const std::string e = check_increasing(milestones_, 1, "milestones"); !e.empty()) fail(e);
  if (milestones_.size() + 1 != schedules_.size())
    fail("needs one milestone fewer than schedules, got " + std::to_string(milestones_.size()) + " milestones for " +
         std::to_string(schedules_.size()) + " schedules");
  start();
}

double SequentialLR::compute_lr(std::int64_t t, std::size_t group) const {
  const auto k = static_cast<std::size_t>(std::upper_bound(milestones_.begin(), milestones_.end(), t) -
                                          milestones_.begin());  // #{m <= t}
  const std::int64_t since = k == 0 ? 0 : milestones_[k - 1];
  return schedules_[k]->lr_at(t - since, group);
}

std::vector<std::pair<std::string, double>> SequentialLR::constants() const {
  std::vector<std::pair<std::string, double>> c{{"schedules", static_cast<double>(schedules_.size())}};
  for (std::size_t i = 0; i < milestones_.size(); ++i)
    c.emplace_back("milestone." + std::to_string(i), static_cast<double>(milestones_[i]));
  return c;
}

void SequentialLR::save_extra(ad::NamedTensors& out) const {
  for (std::size_t i = 0; i < schedules_.size(); ++i) {
    const std::string prefix = "schedule." + std::to_string(i) + ".";
    for (auto& [key, t] : schedules_[i]->state_dict()) out.emplace_back(prefix + key, t);
  }
}

namespace {

ad::NamedTensors with_prefix_removed(const ad::NamedTensors& state, const std::string& prefix) {
  ad::NamedTensors out;
  for (const auto& [key, t] : state)
    if (key.starts_with(prefix)) out.emplace_back(key.substr(prefix.size()), t);
  return out;
}

}  // namespace

void SequentialLR::check_extra(const ad::NamedTensors& state, std::set<std::string>& used) const {
  for (std::size_t i = 0; i < schedules_.size(); ++i) {
    const std::string prefix = "schedule." + std::to_string(i) + ".";
    const ad::NamedTensors child = with_prefix_removed(state, prefix);
    try {
      schedules_[i]->check_state_dict(child);
    } catch (const ad::Error& e) {
      fail("load_state_dict: schedule " + std::to_string(i) + ": " + e.what());
    }
    for (const auto& [key, t] : child) used.insert(prefix + key);
  }
}

void SequentialLR::load_extra(const ad::NamedTensors& state) {
  // The children's states were checked; each restores its own count and base lrs (their lr
  // writes are overwritten by this schedule's right after).
  for (std::size_t i = 0; i < schedules_.size(); ++i)
    schedules_[i]->load_state_dict(with_prefix_removed(state, "schedule." + std::to_string(i) + "."));
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
  bool reduced = false;
  for (std::size_t g = 0; g < optimizer_.num_param_groups(); ++g) {
    const double old_lr = optimizer_.lr(g);
    const double new_lr = std::max(old_lr * opt_.factor, opt_.min_lr);  // lr = max(lr * factor, min_lr)
    if (old_lr - new_lr <= opt_.eps) continue;
    optimizer_.set_lr(g, new_lr);
    reduced = true;
  }
  return reduced;
}

std::vector<std::pair<std::string, double>> ReduceLROnPlateau::constants() const {
  return {{"mode_max", opt_.mode == Mode::Max ? 1.0 : 0.0},
          {"factor", opt_.factor},
          {"patience", static_cast<double>(opt_.patience)},
          {"threshold", opt_.threshold},
          {"threshold_abs", opt_.threshold_mode == ThresholdMode::Abs ? 1.0 : 0.0},
          {"cooldown", static_cast<double>(opt_.cooldown)},
          {"min_lr", opt_.min_lr},
          {"eps", opt_.eps}};
}

ad::NamedTensors ReduceLROnPlateau::state_dict() const {
  ad::NamedTensors out;
  out.emplace_back("last_step", i64(t_));
  out.emplace_back("best", f64(best_));
  out.emplace_back("num_bad_epochs", i64(num_bad_epochs_));
  out.emplace_back("cooldown_counter", i64(cooldown_counter_));
  put_constants(out, constants());
  return out;
}

void ReduceLROnPlateau::check_state_dict(const ad::NamedTensors& state) const {
  StateReader r(state, "ReduceLROnPlateau::load_state_dict: ");
  r.take_int("last_step");
  r.take_float("best");
  r.take_int("num_bad_epochs");
  r.take_int("cooldown_counter");
  r.check_constants(constants());
  r.check_all_used();
}

void ReduceLROnPlateau::load_state_dict(const ad::NamedTensors& state) {
  StateReader r(state, "ReduceLROnPlateau::load_state_dict: ");
  const std::int64_t t = r.take_int("last_step");
  const double best = r.take_float("best");
  const std::int64_t bad = r.take_int("num_bad_epochs");
  const std::int64_t cooldown = r.take_int("cooldown_counter");
  r.check_constants(constants());
  r.check_all_used();
  t_ = t;
  best_ = best;
  num_bad_epochs_ = bad;
  cooldown_counter_ = cooldown;
}

}  // namespace ad::optim
