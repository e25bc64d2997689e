// History as CSV: "epoch,<names...>", one row per epoch, empty cells for missing values.
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "adgraph/autodiff/dtype.h"  // ad::Error
#include "adgraph/autodiff/file.h"
#include "adgraph/report/history.h"

namespace ad::report {
namespace {

// %.17g without the C locale: enough digits for from_chars to give back the same bits.
void append_exact(std::string& out, double v) {
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
  out.append(buf, ec == std::errc() ? end : buf);
}

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> cells;
  for (std::size_t start = 0;;) {
    const std::size_t comma = line.find(',', start);
    cells.push_back(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return cells;
    start = comma + 1;
  }
}

template <class T>
bool parse(std::string_view cell, T& value) {
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  return ec == std::errc() && end == cell.data() + cell.size();
}

}  // namespace

void History::write_csv(const std::string& path) const {
  std::string text = "epoch";
  for (const auto& n : names_) text += ',' + n;
  text += '\n';
  for (std::size_t row = 0; row < epochs_.size(); ++row) {
    text += std::to_string(epochs_[row]);
    for (const auto& c : columns_) {
      text += ',';
      if (c[row]) append_exact(text, *c[row]);
    }
    text += '\n';
  }
  ad::replace_file(path, text, "ad::report::History::write_csv");
}

History History::read_csv(const std::string& path) {
  std::istringstream in(ad::read_file(path, "ad::report::History::read_csv"));
  std::int64_t lineno = 0;
  const auto fail = [&](const std::string& what) {
    throw ad::Error("ad::report::History::read_csv: " + path + ": line " + std::to_string(lineno) + ": " + what);
  };
  std::string line;
  const auto next = [&] {
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) return true;
    }
    return false;
  };

  if (!next()) fail("the file is empty; expected the header 'epoch,<metric names...>'");
  History h;
  const std::vector<std::string_view> header = split(line);
  if (header.front() != "epoch")
    fail("the header starts with '" + std::string(header.front()) +
         "', not 'epoch'; expected 'epoch,<metric names...>' as History::write_csv writes it");
  try {  // the names as record() checks them
    Metrics names;
    for (std::size_t i = 1; i < header.size(); ++i) names.emplace_back(std::string(header[i]), 0.0);
    History probe;
    probe.record(0, names);
  } catch (const ad::Error& e) {
    fail(std::string("bad header: ") + e.what());
  }
  for (std::size_t i = 1; i < header.size(); ++i) h.names_.emplace_back(header[i]);
  h.columns_.resize(h.names_.size());

  while (next()) {
    const std::vector<std::string_view> cells = split(line);
    if (cells.size() != header.size())
      fail(std::to_string(cells.size()) + " cells, but the header has " + std::to_string(header.size()) +
           "; every row needs one cell per column (an empty cell for a missing value)");
    std::int64_t epoch = 0;
    if (!parse(cells[0], epoch)) fail("epoch '" + std::string(cells[0]) + "' is not an integer");
    if (!h.epochs_.empty() && epoch <= h.epochs_.back())
      fail("epoch " + std::to_string(epoch) + " is not after the epoch " + std::to_string(h.epochs_.back()) +
           " of the row before; epochs must strictly increase");
    h.epochs_.push_back(epoch);
    for (std::size_t k = 0; k < h.names_.size(); ++k) {
      const std::string_view cell = cells[k + 1];
      double v = 0;
      if (!cell.empty() && !parse(cell, v))
        fail("the '" + h.names_[k] + "' cell '" + std::string(cell) + "' is not a number (nor empty: missing)");
      h.columns_[k].push_back(cell.empty() ? std::nullopt : std::optional<double>(v));
    }
  }
  if (in.bad()) fail("read error");
  return h;
}

}  // namespace ad::report
