#include "adgraph/data/csv.h"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <system_error>
#include <unordered_set>

#include "adgraph/autodiff/file.h"
#include "adgraph/autodiff/ops.h"

namespace ad::data {
namespace {

// "read_csv: <source>: line L, column C: <what>"
[[noreturn]] void fail(const std::string& source, std::int64_t line, std::int64_t column, const std::string& what) {
  std::string msg = "read_csv: " + source + ": line " + std::to_string(line);
  if (column > 0) msg += ", column " + std::to_string(column);
  throw ad::Error(msg + ": " + what);
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
  };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool is_blank(std::string_view s) { return trim(s).empty(); }

// Splits one line into fields: trimmed, with surrounding double quotes removed ("" -> ").
std::vector<std::string> split_fields(std::string_view line, char delim, const std::string& source,
                                      std::int64_t lineno) {
  std::vector<std::string> out;
  std::size_t i = 0;
  const std::size_t n = line.size();
  while (true) {
    // Skip leading spaces of the field.
    std::size_t start = i;
    while (start < n && (line[start] == ' ' || line[start] == '\t') && line[start] != delim) ++start;
    if (start < n && line[start] == '"') {
      std::string field;
      std::size_t j = start + 1;
      bool closed = false;
      while (j < n) {
        if (line[j] == '"') {
          if (j + 1 < n && line[j + 1] == '"') {
            field += '"';
            j += 2;
            continue;
          }
          closed = true;
          ++j;
          break;
        }
        field += line[j++];
      }
      if (!closed)
        fail(source, lineno, static_cast<std::int64_t>(out.size()) + 1,
             "unterminated quoted field (a field starting with \" must end with \")");
      while (j < n && line[j] != delim) {
        if (line[j] != ' ' && line[j] != '\t')
          fail(source, lineno, static_cast<std::int64_t>(out.size()) + 1,
               "unexpected text after the closing quote of a quoted field");
        ++j;
      }
      out.push_back(std::move(field));
      if (j >= n) break;
      i = j + 1;  // past the delimiter
    } else {
      const std::size_t end = line.find(delim, i);
      const std::string_view f = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      out.emplace_back(trim(f));
      if (end == std::string_view::npos) break;
      i = end + 1;
    }
  }
  return out;
}

double parse_number(const std::string& field, const CsvOptions& opt, const std::string& source, std::int64_t line,
                    std::int64_t column) {
  std::string_view s = trim(field);
  if (s.empty()) fail(source, line, column, "empty field (every field must hold a number)");
  std::string_view digits = s;
  if (digits.size() > 1 && digits.front() == '+' && digits[1] != '-' && digits[1] != '+') digits.remove_prefix(1);
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec == std::errc::result_out_of_range) {
    fail(source, line, column, "the number \"" + std::string(s) + "\" is out of the range of a double");
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    fail(source, line, column, "field \"" + std::string(s) + "\" is not a number");
  }
  if (!std::isfinite(v) && !opt.allow_nonfinite) {
    fail(source, line, column,
         "non-finite value \"" + std::string(s) + "\" (set CsvOptions::allow_nonfinite to accept NaN/Inf)");
  }
  return v;
}

// "a, b, c"; long lists keep the first 8 and the last 2 names.
std::string join(const std::vector<std::string>& names) {
  std::string s;
  const std::size_t n = names.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (n > 12 && i == 8) {
      s += ", ... (" + std::to_string(n) + " columns)";
      i = n - 3;
      continue;
    }
    if (i) s += ", ";
    s += names[i];
  }
  return s;
}

}  // namespace

// ---------------------------------------------------------------- Table

bool Table::has_column(std::string_view name) const {
  return std::find(columns.begin(), columns.end(), name) != columns.end();
}

std::int64_t Table::column_index(std::string_view name) const {
  const auto it = std::find(columns.begin(), columns.end(), name);
  if (it == columns.end())
    throw ad::Error("Table: no column '" + std::string(name) + "' in " + source +
                    "; the columns are: " + join(columns));
  return it - columns.begin();
}

ad::Tensor Table::column(std::string_view name) const {
  const std::int64_t c = column_index(name);
  return ad::index_select(values, 1, ad::index_tensor({c})).reshape({rows()});
}

ad::Tensor Table::select(const std::vector<std::string>& names) const {
  std::vector<std::int64_t> idx;
  idx.reserve(names.size());
  for (const auto& n : names) idx.push_back(column_index(n));
  return ad::index_select(values, 1, ad::index_tensor(idx));
}

std::vector<std::string> Table::columns_except(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& c : columns)
    if (c != name) out.push_back(c);
  return out;
}

// ---------------------------------------------------------------- parsing

Table parse_csv(std::istream& in, const std::string& source, const CsvOptions& options) {
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    throw ad::Error("read_csv: " + source + ": the delimiter cannot be a quote or a line break");
  Table t;
  t.source = source;
  std::string line;
  std::int64_t lineno = 0;

  // Header: the first non-blank line.
  bool have_header = false;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF
    if (is_blank(line)) continue;
    t.columns = split_fields(line, options.delimiter, source, lineno);
    have_header = true;
    break;
  }
  if (!have_header)
    throw ad::Error("read_csv: " + source +
                    ": the file is empty (expected a header row of column names, then numeric rows)");
  std::unordered_set<std::string> seen;
  for (std::size_t c = 0; c < t.columns.size(); ++c) {
    const auto col = static_cast<std::int64_t>(c) + 1;
    if (t.columns[c].empty()) fail(source, lineno, col, "empty column name in the header row");
    if (!seen.insert(t.columns[c]).second)
      fail(source, lineno, col, "duplicate column name \"" + t.columns[c] + "\" in the header row");
  }
  const auto ncols = static_cast<std::int64_t>(t.columns.size());

  std::vector<double> values;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();  // CRLF
    if (is_blank(line)) continue;
    const std::vector<std::string> fields = split_fields(line, options.delimiter, source, lineno);
    const auto nf = static_cast<std::int64_t>(fields.size());
    if (nf != ncols) {
      const std::int64_t col = nf > ncols ? ncols + 1 : nf + 1;
      fail(source, lineno, col,
           "expected " + std::to_string(ncols) + " fields (as in the header row) but found " + std::to_string(nf));
    }
    for (std::int64_t c = 0; c < ncols; ++c)
      values.push_back(parse_number(fields[static_cast<std::size_t>(c)], options, source, lineno, c + 1));
    t.lines.push_back(lineno);
  }
  if (in.bad()) throw ad::Error("read_csv: " + source + ": read error after line " + std::to_string(lineno));
  if (t.lines.empty())
    throw ad::Error("read_csv: " + source + ": no data rows after the header row (the file has " +
                    std::to_string(lineno) + " line" + (lineno == 1 ? "" : "s") + ")");
  const auto rows = static_cast<std::int64_t>(t.lines.size());
  t.values = ad::tensor(values, {rows, ncols}, ad::dtype(ad::kFloat64));
  return t;
}

Table read_csv(const std::string& path, const CsvOptions& options) {
  std::string bytes;
  try {
    bytes = ad::read_file(path, "read_csv");  // refuses FIFOs and directories without blocking
  } catch (const ad::Error& e) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) throw;
    throw ad::Error(std::string(e.what()) + " (ad::data::project_file(name) finds files shipped in data/files/)");
  }
  std::istringstream in(std::move(bytes));
  return parse_csv(in, path, options);
}

// ---------------------------------------------------------------- features / label

Dataset split_label(const Table& table, std::string_view label) {
  if (!table.has_column(label))
    throw ad::Error("split_label: no label column '" + std::string(label) + "' in " + table.source +
                    "; the columns are: " + join(table.columns) + " (pass the label column's name)");
  if (table.cols() < 2)
    throw ad::Error("split_label: " + table.source + " has only the label column '" + std::string(label) +
                    "', no features");
  const std::int64_t lc = table.column_index(label);
  const std::vector<double> lv = table.column(label).to_vector();
  std::vector<std::int64_t> labels(lv.size());
  for (std::size_t r = 0; r < lv.size(); ++r) {
    const double v = lv[r];
    const std::int64_t line = r < table.lines.size() ? table.lines[r] : static_cast<std::int64_t>(r) + 2;
    if (!std::isfinite(v) || v != std::floor(v) || std::abs(v) > 9.0e15) {
      std::string msg = "split_label: " + table.source + ": line " + std::to_string(line) + ", column " +
                        std::to_string(lc + 1) + ": label " + std::to_string(v) +
                        " is not an integer class id (column '" + std::string(label) + "')";
      throw ad::Error(msg);
    }
    labels[r] = static_cast<std::int64_t>(v);
  }
  Dataset d;
  d.X = table.select(table.columns_except(label));
  d.y = ad::index_tensor(labels, {table.rows()});
  return d;
}

Dataset load_csv_dataset(const std::string& path, std::string_view label, const CsvOptions& options) {
  return split_label(read_csv(path, options), label);
}

// ---------------------------------------------------------------- project files

std::string project_file(const char* name) {
  namespace fs = std::filesystem;
  if (name == nullptr || *name == '\0') throw ad::Error("project_file: empty file name");
  std::vector<fs::path> tried;
  std::error_code ec;
  const auto found = [&](const fs::path& p) {
    tried.push_back(p);
    std::error_code file_ec;
    return fs::is_regular_file(p, file_ec);
  };
  if (const char* env = std::getenv("AD_DATA_DIR"); env != nullptr && *env != '\0') {
    const fs::path p = fs::path(env) / name;
    if (found(p)) return p.string();
  }
#ifdef ADGRAPH_DATA_FROM_LIBDIR
  // Installed: the data directory relative to the directory of the library holding this code.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&project_file), &info) != 0 && info.dli_fname != nullptr) {
    const fs::path lib = fs::weakly_canonical(fs::path(info.dli_fname), ec);
    if (!ec) {
      const fs::path p = lib.parent_path() / ADGRAPH_DATA_FROM_LIBDIR / name;
      if (found(p.lexically_normal())) return p.lexically_normal().string();
    }
    ec.clear();
  }
#endif
  // This file is <source dir>/data/csv.cpp.
  const fs::path here = fs::path(__FILE__);
  if (here.is_absolute()) {
    const fs::path p = here.parent_path() / "files" / name;
    if (found(p)) return p.string();
  }
  fs::path dir = fs::current_path(ec);
  while (!ec && !dir.empty()) {
    const fs::path p = dir / "data" / "files" / name;
    if (found(p)) return p.string();
    if (dir == dir.root_path() || dir.parent_path() == dir) break;
    dir = dir.parent_path();
  }
  std::string msg = "project_file: '" + std::string(name) + "' not found; tried:";
  for (const auto& p : tried) msg.append(" ").append(p.string());
  throw ad::Error(msg + " (set AD_DATA_DIR to the directory holding it)");
}

}  // namespace ad::data
