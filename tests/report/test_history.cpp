// History: recording (missing values, first-seen order, best/last), the errors, the exact CSV
// text, atomic writes, the bit-exact read_csv round trip, and
// the pictures (PNG read back with cairo, SVG).
#include <cairo/cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>  // getpid

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "adgraph/report/history.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::report::History;
using ad::report::Mode;
using ad::testing::contains;
using ad::testing::error_of;
using ad::testing::read_bytes;
using ad::testing::write_bytes;

// A fresh, empty directory per test (tests may run in parallel processes).
fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("ad_report_tests_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

class CleanUp : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("ad_report_tests_" + std::to_string(::getpid())), ec);
  }
};
const auto* const kCleanUp = ::testing::AddGlobalTestEnvironment(new CleanUp);

std::vector<std::string> entries(const fs::path& dir) { return ad::testing::dir_entries(dir); }

// loss in epochs 1-2, acc from epoch 2 on.
History sample() {
  History h;
  h.record(1, {{"loss", 0.5}});
  h.record(2, {{"loss", 0.25}, {"acc", 0.75}});
  h.record(3, {{"acc", 0.8}});
  return h;
}

TEST(History, RecordsRowsWithMissingValues) {
  const History h = sample();
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.epochs(), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(h.names(), (std::vector<std::string>{"loss", "acc"}));  // first-seen order
  const std::vector<double> loss = h.values("loss"), acc = h.values("acc");
  ASSERT_EQ(loss.size(), 3u);
  ASSERT_EQ(acc.size(), 3u);
  EXPECT_EQ(loss[0], 0.5);
  EXPECT_EQ(loss[1], 0.25);
  EXPECT_TRUE(std::isnan(loss[2]));  // not recorded in epoch 3
  EXPECT_TRUE(std::isnan(acc[0]));   // appeared in epoch 2
  EXPECT_EQ(acc[2], 0.8);
  EXPECT_EQ(h.last("loss"), 0.25);  // the latest epoch that has it
  EXPECT_EQ(h.last("acc"), 0.8);
  EXPECT_TRUE(h.has("acc"));
  EXPECT_FALSE(h.has("Acc"));
}

TEST(History, Best) {
  History h;
  h.record(0, {{"loss", 0.9}, {"acc", 0.5}});
  h.record(1, {{"loss", 0.3}, {"acc", 0.7}});
  h.record(2, {{"loss", std::nan("")}, {"acc", 0.7}});  // NaN never wins; ties keep the earliest
  h.record(5, {{"loss", 0.4}, {"acc", 0.6}});
  const History::Best low = h.best("loss", Mode::Min);
  EXPECT_EQ(low.value, 0.3);
  EXPECT_EQ(low.epoch, 1);
  const History::Best high = h.best("acc", Mode::Max);
  EXPECT_EQ(high.value, 0.7);
  EXPECT_EQ(high.epoch, 1);
  EXPECT_EQ(h.best("loss", Mode::Max).epoch, 0);

  History nan;
  nan.record(1, {{"loss", std::nan("")}});
  EXPECT_TRUE(contains(error_of([&] { nan.best("loss", Mode::Min); }), "'loss' has no finite value"));
}

TEST(History, Errors) {
  History h = sample();
  const std::string again = error_of([&] { h.record(3, {{"loss", 1.0}}); });
  EXPECT_TRUE(contains(again, "ad::report::History::record: epoch 3 is not after the last recorded epoch 3")) << again;
  EXPECT_TRUE(contains(again, "strictly increase")) << again;
  EXPECT_TRUE(contains(error_of([&] { h.record(2, {}); }), "epoch 2 is not after the last recorded epoch 3"));
  EXPECT_TRUE(contains(error_of([&] { h.record(4, {{"a,b", 1.0}}); }), "'a,b' holds a comma"));
  EXPECT_TRUE(contains(error_of([&] { h.record(4, {{"epoch", 1.0}}); }), "'epoch' is taken"));
  EXPECT_TRUE(contains(error_of([&] { h.record(4, {{"", 1.0}}); }), "a metric name is empty"));
  EXPECT_TRUE(contains(error_of([&] { h.record(4, {{" loss", 1.0}}); }), "starts or ends with a space"));
  const std::string twice = error_of([&] { h.record(4, {{"loss", 1.0}, {"x", 2.0}, {"loss", 3.0}}); });
  EXPECT_TRUE(contains(twice, "metric 'loss' appears twice in the row of epoch 4")) << twice;
  // A failed record changes nothing.
  EXPECT_EQ(h.size(), 3u);
  EXPECT_EQ(h.names(), (std::vector<std::string>{"loss", "acc"}));

  const std::string unknown = error_of([&] { h.values("lost"); });
  EXPECT_TRUE(contains(unknown, "ad::report::History::values: no metric 'lost'; the recorded metrics are: loss, acc"))
      << unknown;
  EXPECT_TRUE(contains(error_of([&] { h.last("x"); }), "ad::report::History::last: no metric 'x'"));
  EXPECT_TRUE(contains(error_of([&] { h.best("x", Mode::Min); }), "ad::report::History::best: no metric 'x'"));
  EXPECT_TRUE(contains(error_of([] { History().values("loss"); }), "the history has no metrics yet"));
}

TEST(HistoryCsv, ExactText) {
  const fs::path dir = fresh_dir("exact");
  const std::string path = (dir / "h.csv").string();
  sample().write_csv(path);
  // Full precision: 0.8 is 0.80000000000000004 as a double; missing values are empty cells.
  EXPECT_EQ(read_bytes(path), "epoch,loss,acc\n1,0.5,\n2,0.25,0.75\n3,,0.80000000000000004\n");
  History().write_csv(path);
  EXPECT_EQ(read_bytes(path), "epoch\n");
}

TEST(HistoryCsv, RoundTripIsBitExact) {
  const double values[] = {0.1,
                           1.0 / 3.0,
                           -0.0,
                           std::numeric_limits<double>::denorm_min(),
                           std::numeric_limits<double>::max(),
                           -1e-300,
                           std::numeric_limits<double>::infinity(),
                           -std::numeric_limits<double>::infinity(),
                           std::nan("")};
  History h;
  std::int64_t epoch = -2;  // any start
  for (const double v : values) h.record(epoch++, {{"x", v}, {"y", -v}});
  h.record(epoch++, {{"y", 1.0}});  // x missing
  h.record(epoch++, {});            // both missing

  const fs::path dir = fresh_dir("roundtrip");
  const std::string a = (dir / "a.csv").string(), b = (dir / "b.csv").string();
  h.write_csv(a);
  const History back = History::read_csv(a);
  EXPECT_EQ(back.epochs(), h.epochs());
  EXPECT_EQ(back.names(), h.names());
  for (const std::string name : {"x", "y"}) {
    const std::vector<double> want = h.values(name), got = back.values(name);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      if (std::isnan(want[i]))
        EXPECT_TRUE(std::isnan(got[i])) << name << " row " << i;
      else
        EXPECT_EQ(std::bit_cast<std::uint64_t>(got[i]), std::bit_cast<std::uint64_t>(want[i])) << name << " row " << i;
    }
  }
  back.write_csv(b);
  EXPECT_EQ(read_bytes(b), read_bytes(a));  // NaN stays "nan", missing stays empty
  EXPECT_TRUE(contains(read_bytes(a), "\n7,,1\n8,,\n"));

  // A resumed run continues the history read back.
  History resumed = History::read_csv(a);
  EXPECT_TRUE(contains(error_of([&] { resumed.record(8, {{"x", 1.0}}); }), "epoch 8 is not after"));
  resumed.record(9, {{"x", 2.0}});
  EXPECT_EQ(resumed.last("x"), 2.0);
}

TEST(HistoryCsv, ReadErrors) {
  const fs::path dir = fresh_dir("read_errors");
  const auto read = [&](const std::string& text) {
    const std::string p = (dir / "in.csv").string();
    write_bytes(p, text);
    return error_of([&] { History::read_csv(p); });
  };
  const std::string header = read("step,loss\n1,2\n");
  EXPECT_TRUE(contains(header, "ad::report::History::read_csv: ")) << header;
  EXPECT_TRUE(contains(header, "in.csv: line 1: the header starts with 'step', not 'epoch'")) << header;
  EXPECT_TRUE(contains(read(""), "line 0: the file is empty"));
  EXPECT_TRUE(contains(read("epoch,loss,loss\n"), "line 1: bad header"));
  EXPECT_TRUE(contains(read("epoch,loss\n1,0.5\n2,abc\n"), "line 3: the 'loss' cell 'abc' is not a number"));
  EXPECT_TRUE(contains(read("epoch,loss\n1,0.5,7\n"), "line 2: 3 cells, but the header has 2"));
  EXPECT_TRUE(contains(read("epoch,loss\n1.5,0.5\n"), "line 2: epoch '1.5' is not an integer"));
  EXPECT_TRUE(contains(read("epoch,loss\n2,1\n2,1\n"), "line 3: epoch 2 is not after the epoch 2"));
  const std::string missing = error_of([&] { History::read_csv((dir / "nope.csv").string()); });
  EXPECT_TRUE(contains(missing, "cannot read '" + (dir / "nope.csv").string() + "': no such file")) << missing;
  // CRLF line ends and blank lines are fine.
  write_bytes((dir / "crlf.csv").string(), "epoch,loss\r\n\r\n1,0.5\r\n");
  EXPECT_EQ(History::read_csv((dir / "crlf.csv").string()).last("loss"), 0.5);
}

TEST(HistoryCsv, AtomicWrite) {
  const fs::path dir = fresh_dir("atomic");
  // Into a directory that does not exist: an error naming the path, and nothing created.
  const std::string nowhere = (dir / "missing" / "h.csv").string();
  const std::string e = error_of([&] { sample().write_csv(nowhere); });
  EXPECT_TRUE(contains(e, "ad::report::History::write_csv: cannot write '" + nowhere + "'")) << e;
  EXPECT_TRUE(contains(e, "No such file or directory")) << e;
  EXPECT_FALSE(fs::exists(dir / "missing"));
  EXPECT_TRUE(entries(dir).empty());

  // Overwriting replaces the contents and leaves no temporary file.
  const std::string path = (dir / "h.csv").string();
  write_bytes(path, "old contents\n");
  sample().write_csv(path);
  History other;
  other.record(7, {{"loss", 1.0}});
  other.write_csv(path);
  EXPECT_EQ(read_bytes(path), "epoch,loss\n7,1\n");
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"h.csv"}));

  // A failure after the temporary file was written (the rename over a non-empty directory):
  // the temporary file is removed and the target untouched.
  fs::create_directories(dir / "taken.csv");
  write_bytes((dir / "taken.csv" / "inside").string(), "keep");
  const std::string taken = error_of([&] { sample().write_csv((dir / "taken.csv").string()); });
  EXPECT_TRUE(contains(taken, "renaming the temporary file over it failed")) << taken;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"h.csv", "taken.csv"}));
  EXPECT_EQ(read_bytes((dir / "taken.csv" / "inside").string()), "keep");
}

struct Png {
  int width = 0, height = 0;
  std::vector<std::uint32_t> argb;
};

Png read_png(const std::string& path) {
  Png img;
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << path;
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    cairo_surface_flush(s);
    img.width = cairo_image_surface_get_width(s);
    img.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < img.height; ++y)
      for (int x = 0; x < img.width; ++x)
        img.argb.push_back(reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride)[x]);
  }
  cairo_surface_destroy(s);
  return img;
}

// Pixels of x in [x0, x1) that are clearly coloured (not white, grey or black: curves).
int coloured_pixels(const Png& img, int x0, int x1) {
  int n = 0;
  for (int y = 0; y < img.height; ++y)
    for (int x = x0; x < x1; ++x) {
      const std::uint32_t p = img.argb[static_cast<std::size_t>(y * img.width + x)];
      const int r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF;
      n += std::max({r, g, b}) - std::min({r, g, b}) > 80;
    }
  return n;
}

TEST(HistoryPlot, PngWithTwoPanels) {
  History h;
  for (int e = 1; e <= 20; ++e)
    h.record(e, {{"train_loss", 1.0 / e}, {"val_loss", 1.2 / e + 0.05}, {"acc", 1.0 - 0.5 / e}});
  const fs::path dir = fresh_dir("png");
  const std::string path = (dir / "h.png").string();
  h.save_plot(path);
  const Png img = read_png(path);
  EXPECT_EQ(img.width, 2 * 520);  // the loss panel and the accuracy panel
  EXPECT_EQ(img.height, 400);
  EXPECT_GT(coloured_pixels(img, 0, 520), 300);  // curves in both panels
  EXPECT_GT(coloured_pixels(img, 520, 1040), 150);
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"h.png"}));  // no temporary file left

  History loss_only;
  loss_only.record(0, {{"loss", 1.0}});
  loss_only.record(1, {{"loss", 0.5}});
  loss_only.save_plot(path);  // overwritten
  const Png one = read_png(path);
  EXPECT_EQ(one.width, 640);  // one panel
  EXPECT_EQ(one.height, 400);
  loss_only.save_plot(path, "a title");
  EXPECT_GT(read_png(path).height, 400);  // the band of the title
}

TEST(HistoryPlot, SaveWritesTheCsvAndThePng) {
  const fs::path dir = fresh_dir("save");
  sample().save((dir / "run").string(), "a title");
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"run.csv", "run.png"}));
  sample().write_csv((dir / "alone.csv").string());
  EXPECT_EQ(read_bytes((dir / "run.csv").string()), read_bytes((dir / "alone.csv").string()));
  EXPECT_EQ(read_png((dir / "run.png").string()).width, 1040);  // both panels, as save_plot draws them
}

TEST(HistoryPlot, SvgAndErrors) {
  const fs::path dir = fresh_dir("svg");
  const std::string svg = (dir / "h.SVG").string();
  sample().save_plot(svg);
  const std::string text = read_bytes(svg);
  EXPECT_EQ(text.rfind("<?xml", 0), 0u);
  EXPECT_TRUE(contains(text, "<svg"));
  EXPECT_TRUE(contains(text, "</svg>"));

  const std::string jpg = error_of([&] { sample().save_plot((dir / "h.jpg").string()); });
  EXPECT_TRUE(contains(jpg, "ad::report::History::save_plot: '")) << jpg;
  EXPECT_TRUE(contains(jpg, "use .png (raster) or .svg (vector)")) << jpg;
  EXPECT_TRUE(contains(error_of([&] { History().save_plot((dir / "e.png").string()); }), "no metrics"));
  const std::string nowhere = (dir / "missing" / "h.png").string();
  EXPECT_TRUE(contains(error_of([&] { sample().save_plot(nowhere); }), "cannot write '" + nowhere + "'"));
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"h.SVG"}));
}

}  // namespace
