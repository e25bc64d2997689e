#pragma once
// The metrics of a training run, one row per epoch:
//
//   ad::report::History history;
//   for (int epoch = 1; epoch <= epochs; ++epoch) {
//     ...
//     history.record(epoch, {{"loss", loss}, {"train_acc", train_acc}, {"test_acc", test_acc}});
//   }
//   history.write_csv("out/digits_history.csv");   // epoch,loss,train_acc,test_acc
//   history.save_plot("out/digits_history.png");   // loss curves | the other metrics
//   history.save("out/digits_history");            // both
//   auto [acc, epoch] = history.best("test_acc", ad::report::Mode::Max);
//
// A metric may first appear in a later epoch (e.g. a validation metric computed every 5 epochs):
// the epochs without it have no value (NaN in values(), an empty CSV cell).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adgraph/optim/mode.h"
#include "adgraph/report/metrics.h"

namespace ad::report {

// Min: lower is better (a loss); Max: higher is better (an accuracy). The same enum as
// ad::optim::EarlyStopping's.
using Mode = ad::optim::Mode;

class History {
 public:
  struct Best {
    double value = 0;
    std::int64_t epoch = -1;
  };

  // Appends the row of `epoch`. Epochs strictly increase (any start, e.g. 0 or 1); names are
  // non-empty CSV column names (no ',', '"' or line breaks, no surrounding spaces, not "epoch"),
  // each at most once per row; values may be any double, NaN included. Throws ad::Error naming
  // the epochs or the name and the fix; the history is unchanged then.
  void record(std::int64_t epoch, const Metrics& metrics);

  const std::vector<std::int64_t>& epochs() const { return epochs_; }
  const std::vector<std::string>& names() const { return names_; }  // in first-seen order
  std::size_t size() const { return epochs_.size(); }               // the number of rows
  bool empty() const { return epochs_.empty(); }
  bool has(std::string_view name) const;

  // One value per epoch (NaN where the metric was not recorded). Throws ad::Error listing the
  // known names when `name` is not one of them; so do last() and best().
  std::vector<double> values(std::string_view name) const;
  // The value of the latest epoch that recorded `name`.
  double last(std::string_view name) const;
  // The best finite value and its epoch (the earliest on ties). Also throws when `name` has no
  // finite value.
  Best best(std::string_view name, Mode mode) const;

  // Writes "epoch,<names...>" and one row per epoch: values in full precision (%.17g, so
  // read_csv gives back the same bits), an empty cell where a metric is missing. Atomic: the
  // text goes to a temporary file in the same directory, renamed over `path`. Throws ad::Error
  // naming `path` when it cannot be written; no temporary file is left and an existing file at
  // `path` is untouched then.
  void write_csv(const std::string& path) const;
  // Reads what write_csv wrote (e.g. to resume a run and continue its history). Throws
  // ad::Error naming the path, the line and the fix when the file cannot be read, its header is
  // not "epoch,<names...>", a row has the wrong number of cells, a cell is not a number, or the
  // epochs do not strictly increase.
  static History read_csv(const std::string& path);

  // Draws the curves over the epochs into a PNG or SVG file (by the extension): a panel with the
  // metrics whose name contains "loss" and, when there are others (accuracies...), a second
  // panel with those; legends, titles, `title` above both when given. Atomic like write_csv.
  // Throws ad::Error when the history has no metrics, the extension is not .png or .svg, or the
  // file cannot be written.
  void save_plot(const std::string& path, const std::string& title = {}) const;
  // Both at once: write_csv(stem + ".csv") and save_plot(stem + ".png", title), e.g.
  // save("out/digits_history") writes out/digits_history.csv and out/digits_history.png.
  void save(const std::string& stem, const std::string& title = {}) const;

 private:
  std::size_t column(const char* op, std::string_view name) const;  // index in names_, or throws

  std::vector<std::int64_t> epochs_;
  std::vector<std::string> names_;
  std::vector<std::vector<std::optional<double>>> columns_;  // columns_[name][row]
};

}  // namespace ad::report
