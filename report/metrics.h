#pragma once
// Metrics as the report library passes them around: an ordered list of (name, value) pairs,
// e.g. {{"loss", 0.4312}, {"acc", 0.912}}. The order is the order they are shown and stored in.
#include <string>
#include <utility>
#include <vector>

namespace ad::report {

using Metrics = std::vector<std::pair<std::string, double>>;

// "0.4312", "0.912", "1.235e+04", "nan": the value with 4 significant digits (printf's %.4g),
// independent of the C locale. Never throws.
std::string format_value(double value);

// "loss 0.4312  acc 0.912": each name, a space and format_value(value), separated by two spaces
// ("" for no metrics). Never throws.
std::string format_metrics(const Metrics& metrics);

}  // namespace ad::report
