// History: recording and reading back the rows (the CSV and the picture are in history_csv.cpp
// and history_plot.cpp).
#include "adgraph/report/history.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "adgraph/autodiff/dtype.h"  // ad::Error

namespace ad::report {
namespace {

// Why `name` cannot be a column name, or "" when it can.
std::string bad_name(const std::string& name) {
  if (name.empty()) return "a metric name is empty";
  if (name == "epoch") return "the metric name 'epoch' is taken by the epoch column";
  if (name.find_first_of(",\"\r\n") != std::string::npos)
    return "the metric name '" + name + "' holds a comma, a quote or a line break";
  if (name.front() == ' ' || name.back() == ' ' || name.front() == '\t' || name.back() == '\t')
    return "the metric name '" + name + "' starts or ends with a space";
  return {};
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

void History::record(std::int64_t epoch, const Metrics& metrics) {
  const std::string op = "ad::report::History::record: ";
  if (!epochs_.empty() && epoch <= epochs_.back())
    throw ad::Error(op + "epoch " + std::to_string(epoch) + " is not after the last recorded epoch " +
                    std::to_string(epochs_.back()) +
                    "; epochs must strictly increase (record each epoch once, in order)");
  // Check everything before changing anything.
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    const std::string& name = metrics[i].first;
    if (const std::string why = bad_name(name); !why.empty())
      throw ad::Error(op + why + " (epoch " + std::to_string(epoch) +
                      "); names are CSV column names: non-empty, no commas, quotes or line breaks");
    for (std::size_t j = 0; j < i; ++j)
      if (metrics[j].first == name)
        throw ad::Error(op + "metric '" + name + "' appears twice in the row of epoch " + std::to_string(epoch) +
                        "; pass each metric once");
  }
  epochs_.push_back(epoch);
  for (auto& c : columns_) c.emplace_back();
  for (const auto& [name, value] : metrics) {
    auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end()) {
      names_.push_back(name);
      columns_.emplace_back(epochs_.size());  // no value in the earlier rows
      it = names_.end() - 1;
    }
    columns_[static_cast<std::size_t>(it - names_.begin())].back() = value;
  }
}

bool History::has(std::string_view name) const { return std::find(names_.begin(), names_.end(), name) != names_.end(); }

std::size_t History::column(const char* op, std::string_view name) const {
  const auto it = std::find(names_.begin(), names_.end(), name);
  if (it != names_.end()) return static_cast<std::size_t>(it - names_.begin());
  throw ad::Error(std::string(op) + ": no metric '" + std::string(name) + "'; " +
                  (names_.empty() ? std::string("the history has no metrics yet (record some first)")
                                  : "the recorded metrics are: " + join(names_) + " (names are case-sensitive)"));
}

std::vector<double> History::values(std::string_view name) const {
  const auto& c = columns_[column("ad::report::History::values", name)];
  std::vector<double> out(c.size());
  for (std::size_t i = 0; i < c.size(); ++i) out[i] = c[i].value_or(std::numeric_limits<double>::quiet_NaN());
  return out;
}

double History::last(std::string_view name) const {
  const auto& c = columns_[column("ad::report::History::last", name)];
  for (auto it = c.rbegin(); it != c.rend(); ++it)
    if (*it) return **it;
  throw ad::Error("ad::report::History::last: metric '" + std::string(name) + "' has no recorded value");
}

History::Best History::best(std::string_view name, Mode mode) const {
  const auto& c = columns_[column("ad::report::History::best", name)];
  Best b;
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (!c[i] || !std::isfinite(*c[i])) continue;
    const double v = *c[i];
    if (b.epoch < 0 || (mode == Mode::Min ? v < b.value : v > b.value)) b = {v, epochs_[i]};
  }
  if (b.epoch < 0)
    throw ad::Error("ad::report::History::best: metric '" + std::string(name) +
                    "' has no finite value (every recorded value is NaN or infinite)");
  return b;
}

}  // namespace ad::report
