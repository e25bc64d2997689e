#pragma once

namespace ad {

// Thread-local switch for recording ops. Off inside NoGradGuard and during a backward pass
// that was not asked to create_graph.
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};

// RAII: sets grad mode for a scope and restores the previous mode on exit.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool on) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(on); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

// RAII: no recording in this scope (optimizer steps, evaluation).
struct NoGradGuard : AutoGradMode {
  NoGradGuard() : AutoGradMode(false) {}
};

// Thread-local anomaly detection: when on, backward checks each op's gradients and throws,
// naming the forward op, as soon as one holds NaN or Inf.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};

class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : prev_(AnomalyMode::is_enabled()) { AnomalyMode::set_enabled(true); }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

// Thread-local switch for recording what to_dot shows beyond ops and shapes (values of
// one-element tensors, labels of constants). Off by default: nodes stay lean.
struct DrawMode {
  static bool is_enabled();
  static void set_enabled(bool on);
};

// RAII: record drawing annotations in this scope (wrap the forward pass you want to draw).
class DrawGuard {
 public:
  DrawGuard() : prev_(DrawMode::is_enabled()) { DrawMode::set_enabled(true); }
  ~DrawGuard() { DrawMode::set_enabled(prev_); }
  DrawGuard(const DrawGuard&) = delete;
  DrawGuard& operator=(const DrawGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace ad
