// Plotting: PNG and SVG files that are valid (read back with cairo), pixels where the series
// should be (lines inside the axes, heatmap colours, contours, log scale, panels), and the
// errors of bad input.
#include <cairo/cairo.h>
#include <gtest/gtest.h>
#include <unistd.h>  // getpid

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "adgraph/autodiff/autodiff.h"
#include "adgraph/plot/plot.h"
#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;
using ad::testing::contains;
using ad::testing::error_of;

// Pictures go to a per-process directory (tests may run in parallel), removed at the end
// unless AD_KEEP_TEST_PLOTS is set (then look at them: the path is printed).
fs::path out_dir() {
  static const fs::path d = [] {
    const fs::path p = fs::temp_directory_path() / ("ad_plot_tests_" + std::to_string(::getpid()));
    fs::create_directories(p);
    return p;
  }();
  return d;
}

class CleanUp : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ec;
    if (!fs::exists(out_dir(), ec)) return;
    if (std::getenv("AD_KEEP_TEST_PLOTS"))
      std::printf("test pictures kept in %s\n", out_dir().c_str());
    else
      fs::remove_all(out_dir(), ec);
  }
};
const auto* const kCleanUp = ::testing::AddGlobalTestEnvironment(new CleanUp);

std::string out(const std::string& name) { return (out_dir() / name).string(); }

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Rgb {
  int r, g, b;
};

// A PNG read back by cairo, as 0-255 channels (the pictures are opaque).
struct Image {
  int width = 0, height = 0;
  std::vector<std::uint32_t> argb;
  Rgb at(int x, int y) const {
    const std::uint32_t p = argb[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + x];
    return {static_cast<int>((p >> 16) & 0xFF), static_cast<int>((p >> 8) & 0xFF), static_cast<int>(p & 0xFF)};
  }
};

Image read_png(const std::string& path) {
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  Image img;
  EXPECT_EQ(cairo_surface_status(s), CAIRO_STATUS_SUCCESS) << path;
  if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
    img.width = cairo_image_surface_get_width(s);
    img.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    for (int y = 0; y < img.height; ++y) {
      const auto* row = reinterpret_cast<const std::uint32_t*>(data + static_cast<std::ptrdiff_t>(y) * stride);
      img.argb.insert(img.argb.end(), row, row + img.width);
    }
  }
  cairo_surface_destroy(s);
  return img;
}

bool is_png(const std::string& path) {
  const std::string b = read_bytes(path);
  return b.size() > 8 && b.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0;
}

bool near(const Rgb& p, const ad::plot::Color& c, int tol = 40) {
  return std::abs(p.r - static_cast<int>(std::lround(c.r * 255))) <= tol &&
         std::abs(p.g - static_cast<int>(std::lround(c.g * 255))) <= tol &&
         std::abs(p.b - static_cast<int>(std::lround(c.b * 255))) <= tol;
}

bool is_white(const Rgb& p) { return p.r >= 250 && p.g >= 250 && p.b >= 250; }

// Pixels of `img` inside `r` (shrunk by `inset`) close to colour c.
int count_near(const Image& img, const ad::plot::Rect& r, const ad::plot::Color& c, int inset = 2, int tol = 40) {
  int n = 0;
  for (int y = static_cast<int>(r.y) + inset; y < static_cast<int>(r.y + r.h) - inset; ++y)
    for (int x = static_cast<int>(r.x) + inset; x < static_cast<int>(r.x + r.w) - inset; ++x)
      if (near(img.at(x, y), c, tol)) ++n;
  return n;
}

const ad::plot::Color kGreen{0, 0.8, 0, 1};

// ---------------------------------------------------------------- files

TEST(PlotFiles, PngIsValidAndHasTheFigureSize) {
  ad::plot::Figure fig(500, 360);
  fig.title("loss").xlabel("epoch").ylabel("value").line({0, 1, 2, 3}, {3, 1, 0.5, 0.2}, "train");
  const std::string path = out("valid.png");
  fig.save(path);
  ASSERT_TRUE(fs::is_regular_file(path));
  EXPECT_TRUE(is_png(path));
  const Image img = read_png(path);
  EXPECT_EQ(img.width, 500);
  EXPECT_EQ(img.height, 360);
  EXPECT_EQ(fig.width(), 500);
  EXPECT_EQ(fig.height(), 360);
}

TEST(PlotFiles, ExtensionIsCaseInsensitive) {
  ad::plot::Figure fig;
  fig.line({0, 1}, {0, 1});
  const std::string path = out("upper.PNG");
  fig.save(path);
  EXPECT_TRUE(is_png(path));
}

TEST(PlotFiles, SvgIsValid) {
  ad::plot::Figure fig;
  fig.title("svg").line({0, 1, 2}, {1, 4, 9}, "squares").scatter({0, 1, 2}, {1, 4, 9});
  const std::string path = out("valid.svg");
  fig.save(path);
  const std::string s = read_bytes(path);
  EXPECT_EQ(s.rfind("<?xml", 0), 0u) << s.substr(0, 40);
  EXPECT_TRUE(contains(s, "<svg"));
  EXPECT_TRUE(contains(s, "</svg>"));
  EXPECT_TRUE(contains(s, "width=\"640pt\""));
}

TEST(PlotFiles, HeatmapSvgEmbedsTheImage) {
  ad::plot::Figure fig;
  fig.heatmap(ad::plot::Field::sample({0, 1, 0, 1, 10, 10}, [](double x, double y) { return x * y; }));
  const std::string path = out("heat.svg");
  fig.save(path);
  const std::string s = read_bytes(path);
  EXPECT_TRUE(contains(s, "<svg"));
  EXPECT_TRUE(contains(s, "image")) << "the raster of the heatmap";
}

// ---------------------------------------------------------------- pixels

TEST(PlotPixels, LineDrawsInsideTheAxesArea) {
  ad::plot::Figure fig;
  fig.line({0, 1, 2, 3, 4}, {0, 1, 0, 1, 0}, "zigzag", kGreen, 3.0);
  const std::string path = out("line.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  EXPECT_GT(a.x, 20);
  EXPECT_GT(a.y, 5);
  EXPECT_LT(a.x + a.w, 640);
  EXPECT_LT(a.y + a.h, 480);
  EXPECT_GT(a.w, 400);
  EXPECT_GT(a.h, 300);
  // Many green pixels inside the data area, and none left of it (the tick labels' margin).
  EXPECT_GT(count_near(img, a, kGreen), 500);
  EXPECT_EQ(count_near(img, ad::plot::Rect{0, 0, a.x - 1, 480}, kGreen, 0), 0);
  // The data area is not blank, while the far corner of the figure is background.
  EXPECT_TRUE(is_white(img.at(2, 2)));
  // The line passes through the middle of the area at x = 2 (y = 0 at the bottom).
  int green_in_column = 0;
  const int cx = static_cast<int>(a.x + a.w / 2);
  for (int y = static_cast<int>(a.y); y < static_cast<int>(a.y + a.h); ++y)
    if (near(img.at(cx, y), kGreen)) ++green_in_column;
  EXPECT_GT(green_in_column, 0);
}

TEST(PlotPixels, EmptyAxesDrawOnlyTheFrame) {
  ad::plot::Figure fig;
  fig.title("nothing");
  const std::string path = out("empty_axes.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  EXPECT_EQ(count_near(img, a, kGreen), 0);
  EXPECT_FALSE(is_white(img.at(static_cast<int>(a.x), static_cast<int>(a.y + a.h / 2))));  // the frame
}

TEST(PlotPixels, HeatmapLeftHalfZeroRightHalfOne) {
  ad::plot::Figure fig;
  const ad::plot::GridSpec g{0, 1, 0, 1, 40, 40};
  ad::plot::HeatmapOptions o;
  o.cmap = ad::plot::Colormap::Viridis;
  fig.heatmap(ad::plot::Field::sample(g, [](double x, double) { return x < 0.5 ? 0.0 : 1.0; }), o);
  const std::string path = out("heat_halves.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  const int y = static_cast<int>(a.y + a.h / 2);
  const Rgb left = img.at(static_cast<int>(a.x + 0.15 * a.w), y);
  const Rgb right = img.at(static_cast<int>(a.x + 0.85 * a.w), y);
  EXPECT_TRUE(near(left, ad::plot::colormap(ad::plot::Colormap::Viridis, 0.0), 12))
      << left.r << " " << left.g << " " << left.b;
  EXPECT_TRUE(near(right, ad::plot::colormap(ad::plot::Colormap::Viridis, 1.0), 12))
      << right.r << " " << right.g << " " << right.b;
  EXPECT_GT(std::abs(left.r - right.r) + std::abs(left.g - right.g) + std::abs(left.b - right.b), 200);
  // The field fills the whole area: its four corners are coloured.
  for (const auto& [fx, fy] : {std::pair{0.02, 0.02}, {0.98, 0.02}, {0.02, 0.98}, {0.98, 0.98}})
    EXPECT_FALSE(is_white(img.at(static_cast<int>(a.x + fx * a.w), static_cast<int>(a.y + fy * a.h))));
}

TEST(PlotPixels, ContourAtHalfOnAStepSitsInTheMiddle) {
  ad::plot::Figure fig;
  const ad::plot::GridSpec g{-1, 1, -1, 1, 41, 41};
  const ad::plot::Field p = ad::plot::Field::sample(g, [](double x, double) { return 1 / (1 + std::exp(-8 * x)); });
  fig.ax().decision_boundary(p);
  const std::string path = out("contour_mid.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  const int y = static_cast<int>(a.y + a.h / 2);
  int dark_col = -1;
  for (int x = static_cast<int>(a.x) + 3; x < static_cast<int>(a.x + a.w) - 3; ++x) {
    const Rgb q = img.at(x, y);
    if (q.r < 60 && q.g < 60 && q.b < 60) {
      dark_col = x;
      break;
    }
  }
  EXPECT_NEAR(dark_col, a.x + a.w / 2, 3);
  // Left is bluish (p near 0), right reddish (p near 1).
  const Rgb left = img.at(static_cast<int>(a.x + 0.1 * a.w), y), right = img.at(static_cast<int>(a.x + 0.9 * a.w), y);
  EXPECT_GT(left.b, left.r);
  EXPECT_GT(right.r, right.b);
}

TEST(PlotPixels, ContourOfACircle) {
  ad::plot::Figure fig(500, 500);
  const ad::plot::GridSpec g{-2, 2, -2, 2, 81, 81};
  fig.xlim(-2, 2).ylim(-2, 2);
  fig.contour(ad::plot::Field::sample(g, [](double x, double y) { return x * x + y * y; }), {1.0}, kGreen, 2.0);
  const std::string path = out("circle.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  const auto px = [&](double x) { return static_cast<int>(a.x + (x + 2) / 4 * a.w); };
  const auto py = [&](double y) { return static_cast<int>(a.y + (2 - y) / 4 * a.h); };
  const auto green_near = [&](int x, int y) {
    for (int dy = -2; dy <= 2; ++dy)
      for (int dx = -2; dx <= 2; ++dx)
        if (near(img.at(x + dx, y + dy), kGreen, 60)) return true;
    return false;
  };
  EXPECT_TRUE(green_near(px(1), py(0)));
  EXPECT_TRUE(green_near(px(-1), py(0)));
  EXPECT_TRUE(green_near(px(0), py(1)));
  EXPECT_TRUE(green_near(px(std::sqrt(0.5)), py(-std::sqrt(0.5))));
  EXPECT_FALSE(green_near(px(0), py(0)));
  EXPECT_FALSE(green_near(px(1.6), py(1.6)));
}

TEST(PlotPixels, LogScalePlacesDecadesEvenly) {
  ad::plot::Figure fig;
  fig.log_y().ylim(1e-4, 1e2).xlim(0, 1);
  fig.line({0, 1}, {1e-2, 1e-2}, "", kGreen, 2.0);                     // 2 of 6 decades above the bottom
  fig.line({0, 0.5, 1}, {1, -1, 1}, "", ad::plot::Color{0, 0, 1, 1});  // non-positive y is left out
  const std::string path = out("logy.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  const int x = static_cast<int>(a.x + 0.3 * a.w);
  int row = -1;
  for (int y = static_cast<int>(a.y); y < static_cast<int>(a.y + a.h); ++y)
    if (near(img.at(x, y), kGreen)) {
      row = y;
      break;
    }
  EXPECT_NEAR(row, a.y + a.h * (1 - 2.0 / 6.0), 3);
}

TEST(PlotPixels, ScatterColoursByClass) {
  ad::plot::Figure fig;
  fig.xlim(0, 1).ylim(0, 1);
  fig.scatter({0.25, 0.75}, {0.5, 0.5}, std::vector<int>{0, 1}, {"zero", "one"}, 8.0);
  const std::string path = out("scatter_classes.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  const int y = static_cast<int>(a.y + a.h / 2);
  EXPECT_TRUE(near(img.at(static_cast<int>(a.x + 0.25 * a.w), y), ad::plot::palette(0), 30));
  EXPECT_TRUE(near(img.at(static_cast<int>(a.x + 0.75 * a.w), y), ad::plot::palette(1), 30));
}

TEST(PlotPixels, PanelsSideBySide) {
  ad::plot::Figure fig = ad::plot::Figure::subplots(2, 3, 300, 260);
  fig.suptitle("hidden sizes");
  EXPECT_EQ(fig.width(), 900);
  EXPECT_EQ(fig.height(), 2 * 260 + 36);
  const ad::plot::GridSpec g{-1, 1, -1, 1, 30, 30};
  const ad::Tensor X = ad::tensor({-0.5, 0.5, 0.5, -0.5}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::Tensor y = ad::index_tensor({0, 1}, {2});
  const int sizes[6] = {1, 2, 4, 10, 20, 50};
  for (int i = 0; i < 6; ++i) {
    const double k = sizes[i];
    fig.panel(i)
        .title("hidden = " + std::to_string(sizes[i]))
        .decision_boundary(
            ad::plot::Field::sample(g, [k](double a, double b) { return 1 / (1 + std::exp(-k * (a - b))); }), X, y);
  }
  const std::string path = out("panels.png");
  fig.save(path);
  fig.save(out("panels.svg"));
  const Image img = read_png(path);
  EXPECT_EQ(img.width, 900);
  EXPECT_EQ(img.height, 2 * 260 + 36);
  for (int r = 0; r < 2; ++r)
    for (int c = 0; c < 3; ++c) {
      const ad::plot::Rect a = fig.plot_area(r, c);
      EXPECT_GE(a.x, c * 300);
      EXPECT_LE(a.x + a.w, (c + 1) * 300);
      EXPECT_GE(a.y, 36 + r * 260);
      EXPECT_LE(a.y + a.h, 36 + (r + 1) * 260);
      // Every panel is painted: its centre is not background.
      EXPECT_FALSE(is_white(img.at(static_cast<int>(a.x + a.w * 0.9), static_cast<int>(a.y + a.h * 0.9))));
    }
}

TEST(PlotPixels, FilledContourAndPath) {
  ad::plot::Figure fig;
  const ad::plot::GridSpec g{-2, 2, -2, 2, 60, 60};
  const ad::plot::Field loss = ad::plot::Field::sample(g, [](double w, double b) { return w * w + 2 * b * b + 0.01; });
  fig.title("loss surface").xlabel("w").ylabel("b");
  fig.filled_contour(loss, ad::plot::log_levels(0.02, 10, 8), ad::plot::Colormap::Viridis, "loss");
  fig.path({1.5, 0.8, 0.3, 0.1, 0.0}, {1.5, -0.6, 0.25, -0.1, 0.0}, "GD", kGreen);
  const std::string path = out("surface.png");
  fig.save(path);
  const Image img = read_png(path);
  const ad::plot::Rect a = fig.plot_area();
  EXPECT_GT(count_near(img, a, kGreen), 50);
  // The colour bar sits right of the data area and stays inside the figure.
  const Rgb bar_low = img.at(static_cast<int>(a.x + a.w + 20), static_cast<int>(a.y + a.h - 5));
  EXPECT_TRUE(near(bar_low, ad::plot::colormap(ad::plot::Colormap::Viridis, 0), 12));
  EXPECT_LT(a.x + a.w + 20, 640);
}

// ---------------------------------------------------------------- helpers

TEST(PlotHelpers, Colours) {
  const ad::plot::Color c = ad::plot::Color::hex("#1f77b4");
  EXPECT_NEAR(c.r, 0x1f / 255.0, 1e-12);
  EXPECT_NEAR(c.b, 0xb4 / 255.0, 1e-12);
  EXPECT_EQ(ad::plot::Color::hex("ff0000"), (ad::plot::Color{1, 0, 0, 1}));
  EXPECT_EQ(ad::plot::palette(0), ad::plot::palette(10));
  EXPECT_EQ(ad::plot::palette(-1), ad::plot::palette(9));
  EXPECT_NE(ad::plot::palette(0), ad::plot::palette(1));
  EXPECT_TRUE(near(Rgb{255, 255, 255}, ad::plot::Color{0, 0, 0, 1}.lighter(1.0), 0));
  EXPECT_EQ(ad::plot::colormap(ad::plot::Colormap::Gray, 0), (ad::plot::Color{0, 0, 0, 1}));
  EXPECT_EQ(ad::plot::colormap(ad::plot::Colormap::Gray, 2.0), (ad::plot::Color{1, 1, 1, 1}));  // clamped
  EXPECT_EQ(ad::plot::colormap(ad::plot::Colormap::Classes, 3), ad::plot::palette(3));
  EXPECT_TRUE(contains(error_of([] { ad::plot::Color::hex("#12"); }), "6 hex digits"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::Color::hex("#12345g"); }), "6 hex digits"));
}

TEST(PlotHelpers, GridPointsAndFields) {
  const ad::plot::GridSpec g{0, 2, 10, 11, 3, 2};
  const ad::Tensor pts = ad::plot::grid_points(g);
  EXPECT_EQ(pts.shape(), (ad::Shape{6, 2}));
  EXPECT_EQ(pts.to_vector(), (std::vector<double>{0, 10, 1, 10, 2, 10, 0, 11, 1, 11, 2, 11}));
  const ad::plot::Field f = ad::plot::Field::evaluate(g, [](const ad::Tensor& p) {
    return ad::sum(p, {1}, true);  // [6, 1]: x + y
  });
  EXPECT_EQ(f.z, (std::vector<double>{10, 11, 12, 11, 12, 13}));
  EXPECT_EQ(f.at(2, 1), 13);
  EXPECT_EQ(f.min(), 10);
  EXPECT_EQ(f.max(), 13);
  const ad::plot::Field s = ad::plot::Field::sample(g, [](double x, double y) { return x * y; });
  EXPECT_EQ(s.at(1, 1), 11);

  const ad::Tensor X = ad::tensor({0, 0, 2, 1}, {2, 2}, ad::dtype(ad::kFloat64));
  const ad::plot::GridSpec around = ad::plot::GridSpec::around(X, 0.5, 20, 10);
  EXPECT_EQ(around.x0, -0.5);
  EXPECT_EQ(around.x1, 2.5);
  EXPECT_EQ(around.y0, -0.5);
  EXPECT_EQ(around.y1, 1.5);
  EXPECT_EQ(around.nx, 20);

  EXPECT_EQ(ad::plot::linear_levels(0, 1, 3), (std::vector<double>{0, 0.5, 1}));
  const auto lv = ad::plot::log_levels(0.01, 100, 5);
  EXPECT_NEAR(lv[0], 0.01, 1e-15);
  EXPECT_NEAR(lv[2], 1, 1e-12);
  EXPECT_NEAR(lv[4], 100, 1e-9);
  EXPECT_EQ(ad::plot::range(3, 1), (std::vector<double>{1, 2, 3}));
}

// ---------------------------------------------------------------- errors

TEST(PlotErrors, MismatchedLengths) {
  ad::plot::Figure fig;
  std::string msg = error_of([&] { fig.line({0, 1, 2}, {0, 1}); });
  EXPECT_TRUE(contains(msg, "line")) << msg;
  EXPECT_TRUE(contains(msg, "3 values") && contains(msg, "2")) << msg;
  msg = error_of([&] { fig.scatter({0, 1}, {0}); });
  EXPECT_TRUE(contains(msg, "scatter")) << msg;
  msg = error_of([&] { fig.scatter({0, 1}, {0, 1}, std::vector<int>{0}); });
  EXPECT_TRUE(contains(msg, "class id")) << msg;
  msg = error_of([&] { fig.scatter({0, 1}, {0, 1}, std::vector<ad::plot::Color>{ad::plot::palette(0)}); });
  EXPECT_TRUE(contains(msg, "colour")) << msg;
  msg = error_of([&] { fig.ax().scatter(ad::zeros({3, 2}, ad::dtype(ad::kFloat64)), ad::index_tensor({0, 1}, {2})); });
  EXPECT_TRUE(contains(msg, "3 points")) << msg;
  EXPECT_TRUE(contains(error_of([&] { fig.path({0}, {0, 1}); }), "path"));
}

TEST(PlotErrors, EmptyData) {
  ad::plot::Figure fig;
  EXPECT_TRUE(contains(error_of([&] { fig.line({}, {}); }), "no data"));
  EXPECT_TRUE(contains(error_of([&] { fig.scatter(std::vector<double>{}, std::vector<double>{}); }), "no data"));
  const ad::plot::GridSpec g{0, 1, 0, 1, 2, 2};
  const double nan = std::nan("");
  EXPECT_TRUE(contains(error_of([&] {
                         fig.heatmap(ad::plot::Field(g, std::vector<double>{nan, nan, nan, nan}));
                       }),
                       "no finite value"));
  EXPECT_TRUE(contains(error_of([&] {
                         fig.contour(ad::plot::Field(g, std::vector<double>{0, 1, 2, 3}), {});
                       }),
                       "no levels"));
  EXPECT_TRUE(fig.ax().empty());
}

TEST(PlotErrors, BadGridsAndFields) {
  EXPECT_TRUE(contains(error_of([] {
                         ad::plot::Field(ad::plot::GridSpec{0, 1, 0, 1, 3, 3}, std::vector<double>(8));
                       }),
                       "needs 9 values"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::grid_points(ad::plot::GridSpec{1, 0, 0, 1, 3, 3}); }), "x0 < x1"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::grid_points(ad::plot::GridSpec{0, 1, 0, 1, 1, 3}); }), "nx, ny >= 2"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::log_levels(0, 1, 3); }), "0 < lo"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::GridSpec::around(ad::zeros({3})); }), "[n, 2]"));
}

TEST(PlotErrors, UnknownExtension) {
  ad::plot::Figure fig;
  fig.line({0, 1}, {0, 1});
  std::string msg = error_of([&] { fig.save(out("picture.jpg")); });
  EXPECT_TRUE(contains(msg, "'.jpg'")) << msg;
  EXPECT_TRUE(contains(msg, ".png") && contains(msg, ".svg")) << msg;
  msg = error_of([&] { fig.save(out("no_extension")); });
  EXPECT_TRUE(contains(msg, "unknown file extension")) << msg;
  EXPECT_FALSE(fs::exists(out("picture.jpg")));
}

TEST(PlotErrors, UnwritablePath) {
  ad::plot::Figure fig;
  fig.line({0, 1}, {0, 1});
  for (const std::string path : {"/nonexistent_dir_for_plot_test/x.png", "/nonexistent_dir_for_plot_test/x.svg"}) {
    const std::string msg = error_of([&] { fig.save(path); });
    EXPECT_TRUE(contains(msg, path)) << msg;
    EXPECT_TRUE(contains(msg, "cannot write")) << msg;
    EXPECT_TRUE(contains(msg, "check that the directory exists")) << msg;
  }
  const fs::path dir = out_dir() / "a_directory.png";
  fs::create_directories(dir);
  EXPECT_TRUE(contains(error_of([&] { fig.save(dir.string()); }), "renaming the temporary file over it failed"));
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(PlotErrors, FigureAndAxesArguments) {
  EXPECT_TRUE(contains(error_of([] { ad::plot::Figure(10, 10); }), "120..8000"));
  EXPECT_TRUE(contains(error_of([] { ad::plot::Figure::subplots(0, 2); }), "rows and columns"));
  ad::plot::Figure fig = ad::plot::Figure::subplots(1, 2);
  EXPECT_TRUE(contains(error_of([&] { fig.ax(1, 0); }), "out of range"));
  EXPECT_TRUE(contains(error_of([&] { fig.panel(2); }), "out of range"));
  EXPECT_TRUE(contains(error_of([&] { fig.ax().xlim(1, 0); }), "lo < hi"));
  ad::plot::HeatmapOptions o;
  o.vmin = 1;
  o.vmax = 0;
  EXPECT_TRUE(
      contains(error_of([&] {
                 fig.ax().heatmap(ad::plot::Field::sample({0, 1, 0, 1, 2, 2}, [](double, double) { return 0.0; }), o);
               }),
               "vmin < vmax"));
}

}  // namespace
