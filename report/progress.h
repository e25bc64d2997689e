#pragma once
// A progress line for training loops, redrawn in place:
//
//   ad::report::Progress progress("train", epochs);
//   for (int epoch = 1; epoch <= epochs; ++epoch) {
//     ...
//     progress.update(epoch, {{"loss", loss}, {"acc", acc}});
//   }
//
// draws (on a terminal, at most every 0.1 s, and always the last update)
//
//   train [########------------]  40%  8/20  0:04 eta 0:06  loss 0.4312  acc 0.912
//
// then ends the line with '\n' when the count reaches the total. The ETA is the mean time per
// step so far times the steps left. By default (Display::Auto) the line is drawn only when the
// stream is std::cout or std::cerr and that stream is a terminal, so logs and CTest output stay
// clean; counting and the errors are the same in every mode.
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>

#include "adgraph/report/metrics.h"

namespace ad::report {

enum class Display {
  Auto,    // draw when `out` is std::cout / std::cerr / std::clog and its fd is a terminal
  Always,  // draw to any stream (e.g. an std::ostringstream in tests)
  Never,   // draw nothing
};

struct ProgressOptions {
  std::ostream* out = &std::cout;
  Display mode = Display::Auto;
  double min_interval = 0.1;           // seconds between two drawings (0: every update); the final one is always drawn
  int bar_width = 20;                  // characters inside [...]; 0: no bar
  int max_width = 0;                   // longer lines are cut to max_width - 1; 0: the terminal's width, if any
  std::function<double()> clock = {};  // seconds (any origin); empty: std::chrono::steady_clock
};

// "0:07", "12:34", "1:02:03": whole seconds as m:ss below an hour, else h:mm:ss. Negative values
// count as 0; NaN and infinities give "-:--". Never throws.
std::string format_duration(double seconds);

class Progress {
 public:
  // A line for `total` steps (e.g. epochs), starting at count 0; the clock starts now. Draws
  // nothing yet. Throws ad::Error when total < 1, options.out is null, min_interval is negative
  // or not finite, or bar_width / max_width is negative.
  Progress(std::string label, std::int64_t total, ProgressOptions options = {});
  // Ends a line that was drawn but not finished (e.g. after an early stop or an exception).
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count of steps done (0..total, never decreasing) and the metrics shown (an empty
  // list keeps the previous ones). Draws when the line is enabled and the last drawing is at
  // least min_interval old (or none was drawn yet); count == total draws and finishes the line.
  // Throws ad::Error when count is below the previous count or above total, or when the line is
  // already finished.
  void update(std::int64_t count, const Metrics& metrics = {});
  // update(count() + 1, metrics); the same errors, naming step.
  void step(const Metrics& metrics = {});
  // Draws the latest state if it was not drawn yet and ends the line with '\n' (only when
  // enabled). Later calls do nothing; later updates throw.
  void finish();

  // The text of the line for the state of the last update: label, bar, percent, count/total,
  // elapsed time, ETA (left out once count == total) and metrics; without '\r' or padding.
  std::string line() const;

  bool enabled() const { return enabled_; }  // whether anything is ever drawn
  bool finished() const { return finished_; }
  std::int64_t count() const { return count_; }
  std::int64_t total() const { return total_; }
  const Metrics& metrics() const { return metrics_; }

 private:
  void advance(const char* op, std::int64_t count, const Metrics& metrics);
  void draw();

  std::string label_;
  std::int64_t total_;
  ProgressOptions options_;
  bool enabled_ = false;
  int max_width_ = 0;
  double start_ = 0, now_ = 0, last_draw_ = 0;
  std::int64_t count_ = 0;
  Metrics metrics_;
  bool drawn_ = false, pending_ = false, finished_ = false;
  std::size_t last_length_ = 0;  // of the last drawn text, to blank its rest
};

}  // namespace ad::report
