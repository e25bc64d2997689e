#include "adgraph/report/metrics.h"

#include <charconv>

namespace ad::report {

std::string format_value(double value) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general, 4);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

std::string format_metrics(const Metrics& metrics) {
  std::string s;
  for (const auto& [name, value] : metrics) {
    if (!s.empty()) s += "  ";
    s += name + ' ' + format_value(value);
  }
  return s;
}

}  // namespace ad::report
