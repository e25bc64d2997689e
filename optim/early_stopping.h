#pragma once
#include <cstdint>

#include "adgraph/optim/mode.h"

namespace ad::optim {

// Stops training when a monitored metric has not improved for `patience` epochs (Keras's
// EarlyStopping). step(metric) is called once per epoch (epochs count from 0):
//   improved (Min: m < best - min_delta; Max: m > best + min_delta) ? best = m, wait = 0 : wait += 1
//   stop once wait >= patience (patience 0: at the first epoch without improvement).
// The first finite metric always improves; NaN never does. Once stopped, should_stop() stays true.
class EarlyStopping {
 public:
  explicit EarlyStopping(std::int64_t patience, double min_delta = 0.0, Mode mode = Mode::Min);
  bool step(double metric);  // true when training should stop
  bool should_stop() const { return stopped_; }
  double best() const { return best_; }
  std::int64_t best_epoch() const { return best_epoch_; }  // -1 before any improvement
  std::int64_t epochs_without_improvement() const { return wait_; }
  std::int64_t epoch() const { return epoch_; }  // the number of step() calls
  void reset();

 private:
  std::int64_t patience_;
  double min_delta_;
  Mode mode_;
  double best_;
  std::int64_t best_epoch_ = -1;
  std::int64_t wait_ = 0;
  std::int64_t epoch_ = 0;
  bool stopped_ = false;
};

}  // namespace ad::optim
