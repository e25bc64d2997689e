// CSV loading: the happy path, every malformed-input error with its line and column, the
// feature/label split and the shipped digits file.
#include <gtest/gtest.h>
#include <stdlib.h>  // setenv
#include <sys/stat.h>
#include <unistd.h>  // getpid

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "adgraph/data/csv.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

ad::data::Table parse(const std::string& text, ad::data::CsvOptions opt = {}) {
  std::istringstream in(text);
  return ad::data::parse_csv(in, "test.csv", opt);
}

std::string parse_error(const std::string& text, ad::data::CsvOptions opt = {}) {
  return error_of([&] { parse(text, opt); });
}

// ---------------------------------------------------------------- happy path

TEST(Csv, ParsesHeaderAndRows) {
  const ad::data::Table t = parse("a,b,label\n1,2.5,0\n-3,4e2,1\n");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"a", "b", "label"}));
  EXPECT_EQ(t.rows(), 2);
  EXPECT_EQ(t.cols(), 3);
  EXPECT_EQ(t.values.dtype(), ad::kFloat64);
  EXPECT_EQ(t.values.shape(), (ad::Shape{2, 3}));
  EXPECT_EQ(t.values.to_vector(), (std::vector<double>{1, 2.5, 0, -3, 400, 1}));
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(t.source, "test.csv");
}

TEST(Csv, ToleratesSpacesQuotesCrlfBlankLinesAndNoFinalNewline) {
  const ad::data::Table t = parse("\"x\", y ,\"z\"\"q\"\r\n\n 1 , +2 ,\"3\"\r\n\n4,5,6");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"x", "y", "z\"q"}));
  EXPECT_EQ(t.values.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(t.lines, (std::vector<std::int64_t>{3, 5}));
}

TEST(Csv, OtherDelimiter) {
  ad::data::CsvOptions opt;
  opt.delimiter = ';';
  const ad::data::Table t = parse("a;b\n1.5;2\n", opt);
  EXPECT_EQ(t.values.to_vector(), (std::vector<double>{1.5, 2}));
}

TEST(Csv, NonFiniteAllowedOnlyWhenAsked) {
  ad::data::CsvOptions opt;
  opt.allow_nonfinite = true;
  const ad::data::Table t = parse("a,b,c\nnan,inf,-inf\n", opt);
  const auto v = t.values.to_vector();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_TRUE(std::isinf(v[1]) && v[1] > 0);
  EXPECT_TRUE(std::isinf(v[2]) && v[2] < 0);

  const std::string msg = parse_error("a,b\n1,2\n3,NaN\n");
  EXPECT_TRUE(contains(msg, "test.csv")) << msg;
  EXPECT_TRUE(contains(msg, "line 3, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "\"NaN\"")) << msg;
  EXPECT_TRUE(contains(msg, "allow_nonfinite")) << msg;
}

TEST(Csv, ColumnAccessors) {
  const ad::data::Table t = parse("a,b,c\n1,2,3\n4,5,6\n");
  EXPECT_TRUE(t.has_column("b"));
  EXPECT_FALSE(t.has_column("d"));
  EXPECT_EQ(t.column_index("c"), 2);
  EXPECT_EQ(t.column("b").shape(), (ad::Shape{2}));
  EXPECT_EQ(t.column("b").to_vector(), (std::vector<double>{2, 5}));
  EXPECT_EQ(t.select({"c", "a"}).to_vector(), (std::vector<double>{3, 1, 6, 4}));
  EXPECT_EQ(t.columns_except("b"), (std::vector<std::string>{"a", "c"}));
  const std::string msg = error_of([&] { t.column("d"); });
  EXPECT_TRUE(contains(msg, "'d'") && contains(msg, "a, b, c")) << msg;
}

// ---------------------------------------------------------------- errors, with line and column

TEST(CsvErrors, EmptyFile) {
  for (const std::string text : {"", "\n\n  \n"}) {
    const std::string msg = parse_error(text);
    EXPECT_TRUE(contains(msg, "test.csv")) << msg;
    EXPECT_TRUE(contains(msg, "empty")) << msg;
  }
}

TEST(CsvErrors, HeaderOnly) {
  const std::string msg = parse_error("a,b\n");
  EXPECT_TRUE(contains(msg, "no data rows")) << msg;
}

TEST(CsvErrors, TooManyFields) {
  const std::string msg = parse_error("a,b,c\n1,2,3\n4,5,6,7\n");
  EXPECT_TRUE(contains(msg, "test.csv: line 3, column 4")) << msg;
  EXPECT_TRUE(contains(msg, "expected 3 fields")) << msg;
  EXPECT_TRUE(contains(msg, "found 4")) << msg;
}

TEST(CsvErrors, TooFewFields) {
  const std::string msg = parse_error("a,b,c\n1,2,3\n\n4,5\n");
  EXPECT_TRUE(contains(msg, "line 4, column 3")) << msg;  // the blank line 3 still counts
  EXPECT_TRUE(contains(msg, "found 2")) << msg;
}

TEST(CsvErrors, NonNumericFieldIsQuoted) {
  const std::string msg = parse_error("a,b,c\n1,2,3\n4,five,6\n");
  EXPECT_TRUE(contains(msg, "line 3, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "\"five\" is not a number")) << msg;
}

TEST(CsvErrors, TrailingGarbageInNumber) {
  const std::string msg = parse_error("a,b\n1,2x\n");
  EXPECT_TRUE(contains(msg, "line 2, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "\"2x\"")) << msg;
}

TEST(CsvErrors, EmptyField) {
  const std::string msg = parse_error("a,b,c\n1,,3\n");
  EXPECT_TRUE(contains(msg, "line 2, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "empty field")) << msg;
}

TEST(CsvErrors, OutOfRange) {
  const std::string msg = parse_error("a\n1e999\n");
  EXPECT_TRUE(contains(msg, "line 2, column 1")) << msg;
  EXPECT_TRUE(contains(msg, "out of the range")) << msg;
}

TEST(CsvErrors, InfinityWithoutOption) {
  const std::string msg = parse_error("a,b\n1,2\n3,4\n5,-inf\n");
  EXPECT_TRUE(contains(msg, "line 4, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "non-finite")) << msg;
}

TEST(CsvErrors, HeaderProblems) {
  std::string msg = parse_error("a,,c\n1,2,3\n");
  EXPECT_TRUE(contains(msg, "line 1, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "empty column name")) << msg;
  msg = parse_error("\na,b,a\n1,2,3\n");
  EXPECT_TRUE(contains(msg, "line 2, column 3")) << msg;
  EXPECT_TRUE(contains(msg, "duplicate column name \"a\"")) << msg;
}

TEST(CsvErrors, UnterminatedQuote) {
  const std::string msg = parse_error("a,b\n1,\"2\n");
  EXPECT_TRUE(contains(msg, "line 2, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "unterminated")) << msg;
}

TEST(CsvErrors, AFifoOrADirectoryIsRefusedWithoutBlocking) {
  const auto dir = std::filesystem::temp_directory_path() / ("ad_csv_fifo_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "pipe.csv").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string msg = error_of([&] { ad::data::read_csv(fifo); });
  EXPECT_TRUE(contains(msg, "read_csv: cannot read '" + fifo + "': it is a FIFO, not a regular file")) << msg;
  msg = error_of([&] { ad::data::read_csv(dir.string()); });
  EXPECT_TRUE(contains(msg, "it is a directory")) << msg;
  std::filesystem::remove_all(dir);
}

TEST(CsvErrors, MissingFileNamesThePath) {
  const std::string msg = error_of([] { ad::data::read_csv("/nonexistent/dir/none.csv"); });
  EXPECT_TRUE(contains(msg, "/nonexistent/dir/none.csv")) << msg;
  EXPECT_TRUE(contains(msg, "cannot read")) << msg;
  EXPECT_TRUE(contains(msg, "no such file")) << msg;
}

TEST(CsvErrors, ErrorsFromAFileNameTheFile) {
  const auto path = std::filesystem::temp_directory_path() / ("ad_test_csv_bad_" + std::to_string(::getpid()) + ".csv");
  {
    std::ofstream out(path);
    out << "x,y\n1,2\n3,oops\n";
  }
  const std::string msg = error_of([&] { ad::data::read_csv(path.string()); });
  std::filesystem::remove(path);
  EXPECT_TRUE(contains(msg, path.string() + ": line 3, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "\"oops\"")) << msg;
}

// ---------------------------------------------------------------- features and labels

TEST(CsvLabels, SplitLabelAnywhere) {
  const ad::data::Table t = parse("f0,label,f1\n1,0,2\n3,2,4\n");
  const auto [X, y] = ad::data::split_label(t);
  EXPECT_EQ(X.shape(), (ad::Shape{2, 2}));
  EXPECT_EQ(X.dtype(), ad::kFloat64);
  EXPECT_EQ(X.to_vector(), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(y.dtype(), ad::kInt64);
  EXPECT_EQ(y.shape(), (ad::Shape{2}));
  EXPECT_EQ(y.to_vector(), (std::vector<double>{0, 2}));
}

TEST(CsvLabels, MissingLabelColumn) {
  const ad::data::Table t = parse("a,b\n1,2\n");
  const std::string msg = error_of([&] { ad::data::split_label(t, "target"); });
  EXPECT_TRUE(contains(msg, "'target'")) << msg;
  EXPECT_TRUE(contains(msg, "test.csv")) << msg;
  EXPECT_TRUE(contains(msg, "a, b")) << msg;
}

TEST(CsvLabels, OnlyTheLabelColumn) {
  const ad::data::Table t = parse("label\n1\n");
  EXPECT_TRUE(contains(error_of([&] { ad::data::split_label(t); }), "no features"));
}

TEST(CsvLabels, NonIntegerLabelNamesLineAndColumn) {
  const ad::data::Table t = parse("a,label\n1,0\n\n2,0.5\n");
  const std::string msg = error_of([&] { ad::data::split_label(t); });
  EXPECT_TRUE(contains(msg, "line 4, column 2")) << msg;
  EXPECT_TRUE(contains(msg, "not an integer")) << msg;
}

// ---------------------------------------------------------------- shipped data

TEST(CsvDigits, ProjectFileFindsTheShippedCopy) {
  const std::string path = ad::data::project_file("digits.csv");
  EXPECT_TRUE(std::filesystem::is_regular_file(path)) << path;
  const std::string msg = error_of([] { ad::data::project_file("no_such_dataset.csv"); });
  EXPECT_TRUE(contains(msg, "no_such_dataset.csv")) << msg;
}

TEST(CsvDigits, ProjectFileHonoursAdDataDirAndSearchesUpward) {
  namespace fs = std::filesystem;
  const fs::path root = fs::temp_directory_path() / ("ad_test_project_file_" + std::to_string(::getpid()));
  fs::create_directories(root / "data" / "files");
  fs::create_directories(root / "env");
  fs::create_directories(root / "a" / "b");
  std::ofstream(root / "env" / "only_in_env.csv") << "x\n1\n";
  std::ofstream(root / "data" / "files" / "only_upward.csv") << "x\n1\n";

  ::setenv("AD_DATA_DIR", (root / "env").c_str(), 1);
  EXPECT_EQ(ad::data::project_file("only_in_env.csv"), (root / "env" / "only_in_env.csv").string());
  ::unsetenv("AD_DATA_DIR");
  EXPECT_FALSE(error_of([] { ad::data::project_file("only_in_env.csv"); }).empty());

  const fs::path cwd = fs::current_path();
  fs::current_path(root / "a" / "b");
  std::string found;
  try {
    found = ad::data::project_file("only_upward.csv");
  } catch (const ad::Error& e) {
    ADD_FAILURE() << e.what();
  }
  fs::current_path(cwd);
  EXPECT_EQ(fs::weakly_canonical(found), fs::weakly_canonical(root / "data" / "files" / "only_upward.csv"));
  fs::remove_all(root);
}

TEST(CsvDigits, Loads1797By65WithLabels0To9) {
  const ad::data::Table t = ad::data::read_csv(ad::data::project_file("digits.csv"));
  EXPECT_EQ(t.values.shape(), (ad::Shape{1797, 65}));
  EXPECT_EQ(t.columns.front(), "p0");
  EXPECT_EQ(t.columns.back(), "label");

  const auto [X, y] = ad::data::split_label(t);
  EXPECT_EQ(X.shape(), (ad::Shape{1797, 64}));
  EXPECT_EQ(y.shape(), (ad::Shape{1797}));
  EXPECT_EQ(y.dtype(), ad::kInt64);
  const std::vector<double> labels = y.to_vector();
  const std::set<double> classes(labels.begin(), labels.end());
  EXPECT_EQ(classes, (std::set<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  for (double c = 0; c < 10; ++c) {  // roughly 180 images of each digit
    const auto k = std::count(labels.begin(), labels.end(), c);
    EXPECT_GT(k, 170);
    EXPECT_LT(k, 190);
  }
  const std::vector<double> px = X.to_vector();
  EXPECT_EQ(*std::min_element(px.begin(), px.end()), 0.0);
  EXPECT_EQ(*std::max_element(px.begin(), px.end()), 16.0);

  const auto [X2, y2] = ad::data::load_csv_dataset(ad::data::project_file("digits.csv"));
  EXPECT_EQ(X2.to_vector(), px);
  EXPECT_EQ(y2.to_vector(), labels);
}

}  // namespace
