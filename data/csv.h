#pragma once
// CSV loading: a header row of column names, then numeric rows, into a Float64 tensor.
//
//   ad::data::Table t = ad::data::read_csv(ad::data::project_file("digits.csv"));  // t.values: [1797, 65]
//   auto [X, y] = ad::data::split_label(t, "label");                      // X [1797, 64], y Int64 [1797]
//
// Malformed input throws ad::Error naming the file, the 1-based line and column and the fix.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad::data {

// Features and integer class labels: X Float64 [n, features], y Int64 [n].
// A plain aggregate, so `auto [X, y] = ...` works.
struct Dataset {
  ad::Tensor X;
  ad::Tensor y;
};

struct CsvOptions {
  char delimiter = ',';
  // Accept "nan", "inf", "-inf" (any case, as std::from_chars reads them) as values; when
  // false such a field is an error naming its line and column.
  bool allow_nonfinite = false;
};

// A parsed CSV file.
struct Table {
  std::string source;                // the file path (or stream name) used in error messages
  std::vector<std::string> columns;  // header names, in file order
  ad::Tensor values;                 // Float64 [rows, columns]
  std::vector<std::int64_t> lines;   // 1-based line in `source` of each row (blank lines are skipped)

  std::int64_t rows() const { return values.defined() ? values.size(0) : 0; }
  std::int64_t cols() const { return static_cast<std::int64_t>(columns.size()); }
  bool has_column(std::string_view name) const;
  // Position of `name`; throws ad::Error listing the columns when it is absent.
  std::int64_t column_index(std::string_view name) const;
  ad::Tensor column(std::string_view name) const;                  // Float64 [rows]
  ad::Tensor select(const std::vector<std::string>& names) const;  // Float64 [rows, names.size()]
  // Every column name except `name`, in file order.
  std::vector<std::string> columns_except(std::string_view name) const;
};

// Reads a CSV file: the first line is the header (names, unique and non-empty), every other
// non-blank line a row with as many numeric fields. Fields may be surrounded by spaces or
// double quotes ("" inside quotes is a literal quote). A trailing '\r' (CRLF files) is ignored.
// Errors (ad::Error; the message starts "read_csv: <path>: line L, column C:"):
//   the file cannot be opened; the file is empty (no header) or has no data rows; an empty or
//   duplicate column name; a row with the wrong number of fields (the column is the first
//   extra field, or the one after the last field present); an empty, non-numeric (quoted in the
//   message) or out-of-range field; NaN/Inf unless `allow_nonfinite`; an unterminated quote.
Table read_csv(const std::string& path, const CsvOptions& options = {});
// The same from a stream; `source` names it in error messages.
Table parse_csv(std::istream& in, const std::string& source = "<stream>", const CsvOptions& options = {});

// Splits a table into the features (every other column, in order) and the label column as
// Int64. Throws ad::Error when the label column is missing (listing the columns), when it is
// the only column, or when a label is not an integer (naming its line and column).
Dataset split_label(const Table& table, std::string_view label = "label");
// read_csv + split_label.
Dataset load_csv_dataset(const std::string& path, std::string_view label = "label", const CsvOptions& options = {});

// The path of a file shipped in the project's data/files/ directory (e.g. "digits.csv").
// Looked up, in order:
//   1. $AD_DATA_DIR/<name>, when that environment variable is set;
//   2. <libdir>/../share/adgraph/<name> beside the installed libadgraph_data (cmake --install,
//      the .deb), found from the library's own path at run time;
//   3. <source dir>/data/files/<name>, where the source dir is taken from __FILE__ of
//      data/csv.cpp at compile time (works for every build dir of this checkout);
//   4. data/files/<name> in the current directory and then in each parent directory.
// Throws ad::Error listing the places tried when none holds the file.
std::string project_file(const char* name);

}  // namespace ad::data
