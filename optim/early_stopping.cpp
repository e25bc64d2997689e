#include "adgraph/optim/early_stopping.h"

#include <cmath>
#include <limits>
#include <string>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/optim/optimizer.h"

namespace ad::optim {

EarlyStopping::EarlyStopping(std::int64_t patience, double min_delta, Mode mode)
    : patience_(patience), min_delta_(min_delta), mode_(mode) {
  if (patience < 0) throw ad::Error("EarlyStopping: patience must be >= 0, got " + std::to_string(patience));
  if (!(std::isfinite(min_delta) && min_delta >= 0.0))
    throw ad::Error("EarlyStopping: min_delta must be finite and >= 0, got " + format_number(min_delta));
  reset();
}

void EarlyStopping::reset() {
  best_ = mode_ == Mode::Min ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  best_epoch_ = -1;
  wait_ = 0;
  epoch_ = 0;
  stopped_ = false;
}

bool EarlyStopping::step(double metric) {
  const bool improved = mode_ == Mode::Min ? metric < best_ - min_delta_ : metric > best_ + min_delta_;
  if (improved) {
    best_ = metric;
    best_epoch_ = epoch_;
    wait_ = 0;
  } else {
    ++wait_;
    if (wait_ >= patience_) stopped_ = true;
  }
  ++epoch_;
  return stopped_;
}

}  // namespace ad::optim
