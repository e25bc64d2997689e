#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/autodiff/safetensors.h"

namespace ad::optim {

// The shortest decimal form of v that reads back exactly ("0.9", "1e-08"), for messages.
std::string format_number(double v);

// What an optimizer remembers about one parameter: how many updates it received (Adam's bias
// correction uses this count) and its named buffers ("exp_avg", "momentum_buffer", ...), which
// are created at the parameter's first update, in the parameter's shape and dtype.
struct ParamState {
  std::int64_t step = 0;
  std::map<std::string, ad::Tensor> buffers;
};

// A group of parameters with its own options (PyTorch's param_groups): options unset means the
// optimizer's defaults (the options given to its constructor).
template <class Options>
struct ParamGroup {
  std::vector<ad::Tensor> params = {};
  std::optional<Options> options = {};
};

// Base of the first-order optimizers. It holds the parameters (leaves that require grad) in
// groups, each group with its own options and its own current lr, and each parameter's state;
// step() reads each parameter's .grad, as accumulated by the engine, and updates the parameter in
// place under ad::NoGradGuard. Parameters whose .grad is undefined are skipped (and their state
// does not advance), as in PyTorch. Parameters are numbered across the groups in order
// (params(), state(i)); a parameter may appear in one group only.
//
// Learning rates: lr(g) is group g's current lr, which starts at the group's options.lr and is
// what schedulers change. initial_lr(g) is the lr a schedule starts from: the first scheduler
// built on the optimizer records the group's lr there (PyTorch's "initial_lr"), it is saved with
// the state, and a scheduler built after restoring a state starts from it, not from the decayed
// lr, so a resumed run does not apply the decay twice.
//
// State: state_dict() returns copies of everything the next step depends on — the step counter,
// each group's size, current lr, initial lr and other options (so a mismatch is caught) and each
// parameter's step count and buffers — as flat named tensors:
//   "step" (Int64), "group.<g>.params" (Int64), "group.<g>.lr" (Float64),
//   "group.<g>.initial_lr" (Float64, once a scheduler set it), "group.<g>.options.<name>"
//   (Float64, bools as 0/1), "param.<i>.step" (Int64), "param.<i>.<buffer>" (the parameter's
//   dtype and shape).
// load_state_dict validates all of it before changing anything, so a rejected state leaves the
// optimizer as it was; it also reads the single-group layout of earlier versions ("lr",
// "options.<name>"). save_state/load_state put the same entries in a safetensors file.
//
// Threads: an optimizer is used by one thread at a time (step, zero_grad and the lr setters
// write its state); distinct optimizers over distinct parameters may step concurrently.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<ad::Tensor>& params() const { return params_; }  // every group's, in order
  std::size_t num_param_groups() const { return groups_.size(); }
  std::vector<ad::Tensor> group_params(std::size_t group) const;
  // The index of parameter i's group.
  std::size_t group_of(std::size_t param_index) const;

  // Resets every parameter's .grad. By default (as PyTorch 2.x) the gradient becomes undefined, so
  // the next backward stores its result instead of adding it to zeros (one pass less per
  // parameter); set_to_none = false fills existing gradients with zeros instead.
  void zero_grad(bool set_to_none = true);
  void step();  // one update from the current .grad of each parameter
  // PyTorch's closure form: runs `closure` (which typically zeroes the grads, computes the loss
  // and calls backward) with grad mode on, then steps. Returns the closure's loss.
  ad::Tensor step(const std::function<ad::Tensor()>& closure);

  double lr(std::size_t group = 0) const;
  void set_lr(double lr);                     // every group's; finite and >= 0
  void set_lr(std::size_t group, double lr);  // one group's (schedulers call this)
  std::optional<double> initial_lr(std::size_t group) const;
  void set_initial_lr(std::size_t group, double lr);       // schedulers call this; finite and >= 0
  std::int64_t step_count() const { return step_count_; }  // number of step() calls
  const ParamState& state(std::size_t i) const { return state_.at(i); }

  ad::NamedTensors state_dict() const;
  void load_state_dict(const ad::NamedTensors& state);
  // Throws what load_state_dict would throw for `state`, and changes nothing.
  void check_state_dict(const ad::NamedTensors& state) const;
  // Writes state_dict() with metadata {"optimizer": name()}; atomic (ad::save_safetensors).
  void save_state(const std::string& path) const;
  // Reads a file written by save_state of an optimizer of the same kind, groups, options and
  // parameter shapes. Any failure (missing or corrupt file, other optimizer, mismatch) throws
  // ad::Error and leaves this optimizer untouched.
  void load_state(const std::string& path);

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}
  // Appends a group: checks every parameter (defined, a leaf requiring grad, in no group yet)
  // and the lr before changing anything. `where` prefixes errors ("param group 1: ").
  void add_group(std::vector<ad::Tensor> params, double lr, const std::string& where);

  // Updates `param` (of group `group`) in place from `grad`; state.step has already been incremented.
  virtual void step_param(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, std::size_t group) = 0;
  // The buffers every parameter of the group holds once it has been updated (may depend on the options).
  virtual std::vector<std::string> group_buffer_names(std::size_t group) const = 0;
  // Every option of the group except lr, as numbers (bools as 0/1), for state_dict and its validation.
  virtual std::vector<std::pair<std::string, double>> group_option_values(std::size_t group) const = 0;

 public:
  // Throws ad::Error "<name>: <where><option> must be <range>, got <value>" unless `ok`.
  void check_option(bool ok, const std::string& option, const std::string& range, double value,
                    const std::string& where = {}) const;

 protected:
  // The buffer `key` of `state`, created as zeros like `param` (or `fill`) at the first call.
  static ad::Tensor& buffer(ParamState& state, const std::string& key, const ad::Tensor& param, double fill = 0.0);

 private:
  struct Group {
    std::size_t begin = 0, end = 0;  // its parameters are params_[begin, end)
    double lr = 0.0;
    std::optional<double> initial_lr = {};
  };
  const Group& group_at(std::size_t g, const char* where) const;
  struct LoadedState {
    std::int64_t steps = 0;
    std::vector<Group> groups = {};
    std::vector<ParamState> params = {};
  };
  LoadedState read_state(const ad::NamedTensors& state) const;
  std::string name_;
  std::vector<ad::Tensor> params_;
  std::vector<ParamState> state_;
  std::vector<Group> groups_;
  std::int64_t step_count_ = 0;
};

// The base of an optimizer with an options struct (SGDOptions, AdamOptions, ...): it keeps each
// group's options and forwards each update with the group's options and current lr.
template <class Options>
class OptimizerWithOptions : public Optimizer {
 public:
  using Group = ParamGroup<Options>;
  // Group g's options as given (or the defaults); its current lr is lr(g), which a schedule may
  // have changed from options(g).lr.
  const Options& options(std::size_t group = 0) const { return options_.at(group); }
  const Options& defaults() const { return defaults_; }
  // Appends a group (PyTorch's add_param_group), checked like the constructor's groups; its
  // parameters start with no state. Errors name the group ("param group 2: ") unless the
  // optimizer was built with a single one.
  void add_param_group(Group group) {
    const Options o = group.options.value_or(defaults_);
    const std::string where = named_groups_ ? "param group " + std::to_string(num_param_groups()) + ": " : "";
    check_(*this, o, where);
    add_group(std::move(group.params), o.lr, where);
    options_.push_back(o);
  }

 protected:
  using Check = void (*)(const Optimizer& self, const Options& o, const std::string& where);
  OptimizerWithOptions(std::string name, std::vector<Group> groups, Options defaults, Check check)
      : Optimizer(std::move(name)), defaults_(defaults), check_(check), named_groups_(groups.size() > 1) {
    check_(*this, defaults_, {});
    if (groups.empty()) throw ad::Error(this->name() + ": got no parameter groups; pass model.parameters()");
    for (auto& g : groups) add_param_group(std::move(g));
    named_groups_ = true;  // groups added later are named
  }
  // One group of `params` with options `o`.
  OptimizerWithOptions(std::string name, std::vector<ad::Tensor> params, Options o, Check check)
      : OptimizerWithOptions(std::move(name),
                             std::vector<Group>{Group{.params = std::move(params), .options = std::nullopt}}, o,
                             check) {}

  // The update of one parameter with its group's options `o` and current `lr`.
  virtual void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, const Options& o, double lr) = 0;
  virtual std::vector<std::string> buffer_names(const Options& o) const = 0;
  virtual std::vector<std::pair<std::string, double>> option_values(const Options& o) const = 0;

 private:
  void step_param(ad::Tensor& param, const ad::Tensor& grad, ParamState& state, std::size_t group) final {
    update(param, grad, state, options_[group], lr(group));
  }
  std::vector<std::string> group_buffer_names(std::size_t group) const final { return buffer_names(options_[group]); }
  std::vector<std::pair<std::string, double>> group_option_values(std::size_t group) const final {
    return option_values(options_[group]);
  }
  Options defaults_;
  Check check_;
  bool named_groups_ = true;
  std::vector<Options> options_;
};

}  // namespace ad::optim
