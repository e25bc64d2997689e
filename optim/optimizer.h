#pragma once
#include <cstdint>
#include <functional>
#include <map>
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

// Base of the first-order optimizers. It holds the parameters (leaves that require grad) and
// their state; step() reads each parameter's .grad, as accumulated by the engine, and updates the
// parameter in place under ad::NoGradGuard. Parameters whose .grad is undefined are skipped (and
// their state does not advance), as in PyTorch.
//
// State: state_dict() returns copies of everything the next step depends on — the step counter,
// the current lr (a scheduler may have changed it), the other options (so a mismatch is caught)
// and each parameter's step count and buffers — as flat named tensors:
//   "step" (Int64), "lr" (Float64), "options.<name>" (Float64, bools as 0/1),
//   "param.<i>.step" (Int64), "param.<i>.<buffer>" (the parameter's dtype and shape).
// load_state_dict validates all of it before changing anything, so a rejected state leaves the
// optimizer as it was. save_state/load_state put the same entries in a safetensors file.
class Optimizer {
 public:
  Optimizer(std::string name, std::vector<ad::Tensor> params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<ad::Tensor>& params() const { return params_; }

  // Resets every parameter's .grad. By default (as PyTorch 2.x) the gradient becomes undefined, so
  // the next backward stores its result instead of adding it to zeros (one pass less per
  // parameter); set_to_none = false fills existing gradients with zeros instead.
  void zero_grad(bool set_to_none = true);
  void step();  // one update from the current .grad of each parameter
  // PyTorch's closure form: runs `closure` (which typically zeroes the grads, computes the loss
  // and calls backward) with grad mode on, then steps. Returns the closure's loss.
  ad::Tensor step(const std::function<ad::Tensor()>& closure);

  double lr() const { return lr_; }
  void set_lr(double lr);                                  // finite and >= 0; learning-rate schedulers call this
  std::int64_t step_count() const { return step_count_; }  // number of step() calls
  const ParamState& state(std::size_t i) const { return state_.at(i); }

  ad::NamedTensors state_dict() const;
  void load_state_dict(const ad::NamedTensors& state);
  // Writes state_dict() with metadata {"optimizer": name()}; atomic (ad::save_safetensors).
  void save_state(const std::string& path) const;
  // Reads a file written by save_state of an optimizer of the same kind, options and parameter
  // shapes. Any failure (missing or corrupt file, other optimizer, mismatch) throws ad::Error and
  // leaves this optimizer untouched.
  void load_state(const std::string& path);

 protected:
  // Updates `param` in place from `grad`; state.step has already been incremented.
  virtual void update(ad::Tensor& param, const ad::Tensor& grad, ParamState& state) = 0;
  // The buffers every parameter holds once it has been updated (may depend on the options).
  virtual std::vector<std::string> buffer_names() const = 0;
  // Every option except lr, as numbers (bools as 0/1), for state_dict and its validation.
  virtual std::vector<std::pair<std::string, double>> option_values() const = 0;

  // Throws ad::Error "<name>: <option> must be <range>, got <value>" unless `ok`.
  void check_option(bool ok, const std::string& option, const std::string& range, double value) const;
  // The buffer `key` of `state`, created as zeros like `param` (or `fill`) at the first call.
  static ad::Tensor& buffer(ParamState& state, const std::string& key, const ad::Tensor& param, double fill = 0.0);

 private:
  std::string name_;
  std::vector<ad::Tensor> params_;
  std::vector<ParamState> state_;
  double lr_ = 0.0;
  std::int64_t step_count_ = 0;
};

}  // namespace ad::optim
