#include "plot/plot.h"

#include <cairo-svg.h>
#include <cairo.h>
#include <dlfcn.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <numbers>
#include <utility>

#include "autodiff/grad_mode.h"

namespace plot {

// ================================================================ colours

Color Color::rgb(int r8, int g8, int b8, double alpha) { return {r8 / 255.0, g8 / 255.0, b8 / 255.0, alpha}; }

Color Color::hex(std::string_view code) {
  if (!code.empty() && code.front() == '#') code.remove_prefix(1);
  const auto bad = [&] {
    return ad::Error("plot::Color::hex: '" + std::string(code) + "' is not a colour like \"#1f77b4\" (6 hex digits)");
  };
  if (code.size() != 6) throw bad();
  int ch[3];
  for (int i = 0; i < 3; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = code[static_cast<std::size_t>(2 * i + k)];
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        throw bad();
      v = v * 16 + d;
    }
    ch[i] = v;
  }
  return rgb(ch[0], ch[1], ch[2]);
}

Color Color::lighter(double t) const {
  t = std::clamp(t, 0.0, 1.0);
  return {r + (1 - r) * t, g + (1 - g) * t, b + (1 - b) * t, a};
}

Color Color::darker(double t) const {
  t = std::clamp(t, 0.0, 1.0);
  return {r * (1 - t), g * (1 - t), b * (1 - t), a};
}

Color palette(int i) {
  static const std::array<Color, 10> kPalette = {Color::hex("#1f77b4"), Color::hex("#d62728"), Color::hex("#2ca02c"),
                                                 Color::hex("#ff7f0e"), Color::hex("#9467bd"), Color::hex("#8c564b"),
                                                 Color::hex("#e377c2"), Color::hex("#7f7f7f"), Color::hex("#bcbd22"),
                                                 Color::hex("#17becf")};
  const int n = static_cast<int>(kPalette.size());
  return kPalette[static_cast<std::size_t>(((i % n) + n) % n)];
}

namespace {

Color interpolate(const std::vector<Color>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0);
  const double f = t * static_cast<double>(stops.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(f), stops.size() - 2);
  const double u = f - static_cast<double>(i);
  const Color& a = stops[i];
  const Color& b = stops[i + 1];
  return {a.r + (b.r - a.r) * u, a.g + (b.g - a.g) * u, a.b + (b.b - a.b) * u, 1.0};
}

}  // namespace

Color colormap(Colormap cm, double t) {
  static const std::vector<Color> viridis = {Color::hex("#440154"), Color::hex("#472d7b"), Color::hex("#3b528b"),
                                             Color::hex("#2c728e"), Color::hex("#21918c"), Color::hex("#28ae80"),
                                             Color::hex("#5ec962"), Color::hex("#addc30"), Color::hex("#fde725")};
  static const std::vector<Color> bluered = {Color::hex("#2166ac"), Color::hex("#67a9cf"), Color::hex("#d1e5f0"),
                                             Color::hex("#f7f7f7"), Color::hex("#fddbc7"), Color::hex("#ef8a62"),
                                             Color::hex("#b2182b")};
  static const std::vector<Color> gray = {Color{0, 0, 0, 1}, Color{1, 1, 1, 1}};
  if (std::isnan(t)) t = 0;
  switch (cm) {
    case Colormap::Viridis:
      return interpolate(viridis, t);
    case Colormap::BlueRed:
      return interpolate(bluered, t);
    case Colormap::Gray:
      return interpolate(gray, t);
    case Colormap::Classes:
      return palette(static_cast<int>(std::lround(std::clamp(t, -1e6, 1e6))));
  }
  return Color{};
}

// ================================================================ grids and fields

void GridSpec::validate(const char* op) const {
  if (!(std::isfinite(x0) && std::isfinite(x1) && x0 < x1) || !(std::isfinite(y0) && std::isfinite(y1) && y0 < y1))
    throw ad::Error(std::string(op) + ": the grid needs finite x0 < x1 and y0 < y1, got [" + std::to_string(x0) + ", " +
                    std::to_string(x1) + "] x [" + std::to_string(y0) + ", " + std::to_string(y1) + "]");
  if (nx < 2 || ny < 2)
    throw ad::Error(std::string(op) + ": the grid needs nx, ny >= 2 points per axis, got " + std::to_string(nx) +
                    " x " + std::to_string(ny));
}

GridSpec GridSpec::around(const ad::Tensor& X, double margin, int nx_, int ny_) {
  if (!X.defined() || X.dim() != 2 || X.size(1) < 2 || X.size(0) < 1)
    throw ad::Error("plot::GridSpec::around: expected points X [n, 2] (n >= 1), got " +
                    (X.defined() ? ad::shape_str(X.shape()) : std::string("an undefined tensor")));
  const std::vector<double> v = X.to_vector();
  const auto cols = static_cast<std::size_t>(X.size(1));
  GridSpec g;
  g.x0 = g.y0 = std::numeric_limits<double>::infinity();
  g.x1 = g.y1 = -std::numeric_limits<double>::infinity();
  for (std::size_t r = 0; r * cols < v.size(); ++r) {
    const double x = v[r * cols], y = v[r * cols + 1];
    if (!std::isfinite(x) || !std::isfinite(y)) continue;
    g.x0 = std::min(g.x0, x), g.x1 = std::max(g.x1, x);
    g.y0 = std::min(g.y0, y), g.y1 = std::max(g.y1, y);
  }
  if (!std::isfinite(g.x0)) throw ad::Error("plot::GridSpec::around: X holds no finite point");
  g.x0 -= margin, g.x1 += margin, g.y0 -= margin, g.y1 += margin;
  if (g.x0 >= g.x1) g.x0 -= 0.5, g.x1 += 0.5;
  if (g.y0 >= g.y1) g.y0 -= 0.5, g.y1 += 0.5;
  g.nx = nx_;
  g.ny = ny_;
  g.validate("plot::GridSpec::around");
  return g;
}

ad::Tensor grid_points(const GridSpec& grid) {
  grid.validate("plot::grid_points");
  std::vector<double> v;
  v.reserve(static_cast<std::size_t>(grid.nx) * static_cast<std::size_t>(grid.ny) * 2);
  for (int j = 0; j < grid.ny; ++j)
    for (int i = 0; i < grid.nx; ++i) {
      v.push_back(grid.x(i));
      v.push_back(grid.y(j));
    }
  return ad::tensor(v, {static_cast<std::int64_t>(grid.nx) * grid.ny, 2}, ad::dtype(ad::kFloat64));
}

Field::Field(const GridSpec& g, std::vector<double> values) : grid(g), z(std::move(values)) {
  grid.validate("plot::Field");
  const auto n = static_cast<std::size_t>(grid.nx) * static_cast<std::size_t>(grid.ny);
  if (z.size() != n)
    throw ad::Error("plot::Field: a " + std::to_string(grid.nx) + " x " + std::to_string(grid.ny) + " grid needs " +
                    std::to_string(n) + " values (x fastest), got " + std::to_string(z.size()));
}

Field::Field(const GridSpec& g, const ad::Tensor& values)
    : Field(g, values.defined() ? values.to_vector() : std::vector<double>{}) {}

Field Field::sample(const GridSpec& g, const std::function<double(double, double)>& f) {
  g.validate("plot::Field::sample");
  std::vector<double> z;
  z.reserve(static_cast<std::size_t>(g.nx) * static_cast<std::size_t>(g.ny));
  for (int j = 0; j < g.ny; ++j)
    for (int i = 0; i < g.nx; ++i) z.push_back(f(g.x(i), g.y(j)));
  return Field(g, std::move(z));
}

Field Field::evaluate(const GridSpec& g, const std::function<ad::Tensor(const ad::Tensor&)>& f) {
  ad::NoGradGuard no_grad;
  const ad::Tensor out = f(grid_points(g));
  if (!out.defined()) throw ad::Error("plot::Field::evaluate: the function returned an undefined tensor");
  return Field(g, out);
}

double Field::min() const {
  double m = std::numeric_limits<double>::quiet_NaN();
  for (double v : z)
    if (std::isfinite(v) && !(v >= m)) m = v;
  return m;
}

double Field::max() const {
  double m = std::numeric_limits<double>::quiet_NaN();
  for (double v : z)
    if (std::isfinite(v) && !(v <= m)) m = v;
  return m;
}

std::vector<double> linear_levels(double lo, double hi, int n) {
  if (n < 2 || !(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw ad::Error("plot::linear_levels: need finite lo < hi and n >= 2, got " + std::to_string(lo) + ", " +
                    std::to_string(hi) + ", " + std::to_string(n));
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = lo + (hi - lo) * i / (n - 1);
  return v;
}

std::vector<double> log_levels(double lo, double hi, int n) {
  if (!(lo > 0) || !(lo < hi) || !std::isfinite(hi) || n < 2)
    throw ad::Error("plot::log_levels: need 0 < lo < hi (finite) and n >= 2, got " + std::to_string(lo) + ", " +
                    std::to_string(hi) + ", " + std::to_string(n));
  std::vector<double> v = linear_levels(std::log10(lo), std::log10(hi), n);
  for (double& x : v) x = std::pow(10.0, x);
  return v;
}

std::vector<double> range(std::size_t n, double start, double step) {
  std::vector<double> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<double>(i);
  return v;
}

std::vector<double> values(const ad::Tensor& t) {
  if (!t.defined()) throw ad::Error("plot::values: undefined tensor");
  return t.to_vector();
}

// ================================================================ axes

namespace {

void check_xy(const char* op, const std::vector<double>& xs, const std::vector<double>& ys) {
  if (xs.size() != ys.size())
    throw ad::Error(std::string(op) + ": xs has " + std::to_string(xs.size()) + " values but ys has " +
                    std::to_string(ys.size()) + "; give one x per y");
  if (xs.empty()) throw ad::Error(std::string(op) + ": no data (xs and ys are empty)");
}

void check_field(const char* op, const Field& f) {
  f.grid.validate(op);
  if (f.z.size() != static_cast<std::size_t>(f.grid.nx) * static_cast<std::size_t>(f.grid.ny))
    throw ad::Error(std::string(op) + ": the field has " + std::to_string(f.z.size()) + " values for a " +
                    std::to_string(f.grid.nx) + " x " + std::to_string(f.grid.ny) + " grid");
}

std::vector<int> class_ids(const char* op, const ad::Tensor& y, std::int64_t n) {
  if (y.numel() != n)
    throw ad::Error(std::string(op) + ": X has " + std::to_string(n) + " points but y has shape " +
                    ad::shape_str(y.shape()) + "; give one class id per point");
  std::vector<int> ids;
  ids.reserve(static_cast<std::size_t>(n));
  for (double v : y.to_vector()) ids.push_back(std::isfinite(v) ? static_cast<int>(std::lround(v)) : 0);
  return ids;
}

}  // namespace

Color Axes::next_color() { return palette(color_index_++); }

Axes& Axes::title(std::string text) {
  title_ = std::move(text);
  return *this;
}
Axes& Axes::xlabel(std::string text) {
  xlabel_ = std::move(text);
  return *this;
}
Axes& Axes::ylabel(std::string text) {
  ylabel_ = std::move(text);
  return *this;
}
Axes& Axes::xlim(double lo, double hi) {
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw ad::Error("plot::Axes::xlim: need finite lo < hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
  xlim_ = {lo, hi};
  return *this;
}
Axes& Axes::ylim(double lo, double hi) {
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw ad::Error("plot::Axes::ylim: need finite lo < hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
  ylim_ = {lo, hi};
  return *this;
}
Axes& Axes::log_y(bool on) {
  log_y_ = on;
  return *this;
}
Axes& Axes::legend(Legend where) {
  legend_ = where;
  return *this;
}
Axes& Axes::grid(bool on) {
  grid_ = on;
  return *this;
}
Axes& Axes::equal_aspect(bool on) {
  equal_aspect_ = on;
  return *this;
}

Axes& Axes::line(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                 std::optional<Color> color, double width, bool dashed) {
  check_xy("plot::Axes::line", xs, ys);
  Series s;
  s.kind = Series::Kind::Line;
  s.xs = xs;
  s.ys = ys;
  s.color = color ? *color : next_color();
  s.width = width;
  s.dashed = dashed;
  s.label = label;
  if (!label.empty()) legend_entries_.push_back({LegendEntry::Kind::Line, label, s.color, width, dashed});
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                    std::optional<Color> color, double radius) {
  check_xy("plot::Axes::scatter", xs, ys);
  Series s;
  s.kind = Series::Kind::Scatter;
  s.xs = xs;
  s.ys = ys;
  s.color = color ? *color : next_color();
  s.radius = radius;
  s.label = label;
  if (!label.empty()) legend_entries_.push_back({LegendEntry::Kind::Marker, label, s.color, 0, false});
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<int>& classes,
                    const std::vector<std::string>& class_names, double radius) {
  check_xy("plot::Axes::scatter", xs, ys);
  if (classes.size() != xs.size())
    throw ad::Error("plot::Axes::scatter: " + std::to_string(xs.size()) + " points but " +
                    std::to_string(classes.size()) + " class ids; give one class id per point");
  std::vector<Color> colors;
  colors.reserve(classes.size());
  for (int c : classes) colors.push_back(palette(c));
  scatter(xs, ys, colors, radius);
  for (std::size_t k = 0; k < class_names.size(); ++k)
    if (!class_names[k].empty())
      legend_entries_.push_back({LegendEntry::Kind::Marker, class_names[k], palette(static_cast<int>(k)), 0, false});
  return *this;
}

Axes& Axes::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<Color>& colors,
                    double radius) {
  check_xy("plot::Axes::scatter", xs, ys);
  if (colors.size() != xs.size())
    throw ad::Error("plot::Axes::scatter: " + std::to_string(xs.size()) + " points but " +
                    std::to_string(colors.size()) + " colours; give one colour per point");
  Series s;
  s.kind = Series::Kind::Scatter;
  s.xs = xs;
  s.ys = ys;
  s.colors = colors;
  s.radius = radius;
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::scatter(const ad::Tensor& X, const ad::Tensor& y, const std::vector<std::string>& class_names,
                    double radius) {
  if (!X.defined() || X.dim() != 2 || X.size(1) < 2)
    throw ad::Error("plot::Axes::scatter: expected points X [n, 2], got " +
                    (X.defined() ? ad::shape_str(X.shape()) : std::string("an undefined tensor")));
  const std::int64_t n = X.size(0);
  const std::vector<double> v = X.to_vector();
  const auto cols = static_cast<std::size_t>(X.size(1));
  std::vector<double> xs, ys;
  for (std::size_t r = 0; r < static_cast<std::size_t>(n); ++r) {
    xs.push_back(v[r * cols]);
    ys.push_back(v[r * cols + 1]);
  }
  if (!y.defined()) return scatter(xs, ys, std::string{}, std::nullopt, radius);
  return scatter(xs, ys, class_ids("plot::Axes::scatter", y, n), class_names, radius);
}

Axes& Axes::path(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                 std::optional<Color> color, double width) {
  check_xy("plot::Axes::path", xs, ys);
  Series s;
  s.kind = Series::Kind::Path;
  s.xs = xs;
  s.ys = ys;
  s.color = color ? *color : next_color();
  s.width = width;
  s.label = label;
  if (!label.empty()) legend_entries_.push_back({LegendEntry::Kind::LineMarker, label, s.color, width, false});
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::heatmap(const Field& field, const HeatmapOptions& options) {
  check_field("plot::Axes::heatmap", field);
  if (std::isnan(field.min())) throw ad::Error("plot::Axes::heatmap: the field holds no finite value (empty data)");
  if (std::isfinite(options.vmin) && std::isfinite(options.vmax) && !(options.vmin < options.vmax))
    throw ad::Error("plot::Axes::heatmap: need vmin < vmax, got " + std::to_string(options.vmin) + ", " +
                    std::to_string(options.vmax));
  if (!std::is_sorted(options.levels.begin(), options.levels.end()))
    throw ad::Error("plot::Axes::heatmap: the levels must be increasing");
  Series s;
  s.kind = Series::Kind::Heatmap;
  s.field = field;
  s.heat = options;
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::contour(const Field& field, const std::vector<double>& levels, Color color, double width,
                    const std::string& label, bool dashed) {
  check_field("plot::Axes::contour", field);
  if (levels.empty()) throw ad::Error("plot::Axes::contour: no levels given (e.g. {0.5}, or plot::linear_levels)");
  Series s;
  s.kind = Series::Kind::Contour;
  s.field = field;
  s.levels = levels;
  s.color = color;
  s.width = width;
  s.dashed = dashed;
  s.label = label;
  if (!label.empty()) legend_entries_.push_back({LegendEntry::Kind::Line, label, color, width, dashed});
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::filled_contour(const Field& field, const std::vector<double>& levels, Colormap cmap,
                           const std::string& colorbar_label) {
  if (levels.empty())
    throw ad::Error("plot::Axes::filled_contour: no levels given (e.g. plot::log_levels(lo, hi, 12))");
  std::vector<double> sorted = levels;
  std::sort(sorted.begin(), sorted.end());
  HeatmapOptions o;
  o.cmap = cmap;
  o.levels = sorted;
  o.colorbar_label = colorbar_label;
  heatmap(field, o);
  return contour(field, sorted, Color{0.15, 0.15, 0.15, 0.55}, 0.8);
}

Axes& Axes::decision_boundary(const Field& probability, const ad::Tensor& X, const ad::Tensor& y) {
  HeatmapOptions o;
  o.cmap = Colormap::BlueRed;
  o.vmin = 0.0;
  o.vmax = 1.0;
  o.lighten = 0.45;
  o.colorbar = false;
  heatmap(probability, o);
  contour(probability, {0.5}, Color{0, 0, 0, 1}, 2.0);
  if (X.defined()) scatter(X, y, {}, 3.0);
  return *this;
}

// ================================================================ figure

Figure::Figure(int width, int height) : Figure(1, 1, width, height, true) {}

Figure::Figure(int rows, int cols, int panel_width, int panel_height, bool)
    : rows_(rows), cols_(cols), panel_w_(panel_width), panel_h_(panel_height) {
  if (rows < 1 || cols < 1 || rows > 64 || cols > 64)
    throw ad::Error("plot::Figure: need 1..64 rows and columns of panels, got " + std::to_string(rows) + " x " +
                    std::to_string(cols));
  if (panel_width < 120 || panel_height < 100 || panel_width > 8000 || panel_height > 8000)
    throw ad::Error("plot::Figure: a panel must be 120..8000 pixels wide and 100..8000 high, got " +
                    std::to_string(panel_width) + " x " + std::to_string(panel_height));
  axes_.resize(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
}

Figure Figure::subplots(int rows, int cols, int panel_width, int panel_height) {
  return Figure(rows, cols, panel_width, panel_height, true);
}

Axes& Figure::ax(int row, int col) { return const_cast<Axes&>(std::as_const(*this).ax(row, col)); }

const Axes& Figure::ax(int row, int col) const {
  if (row < 0 || row >= rows_ || col < 0 || col >= cols_)
    throw ad::Error("plot::Figure::ax: panel (" + std::to_string(row) + ", " + std::to_string(col) +
                    ") is out of range for a " + std::to_string(rows_) + " x " + std::to_string(cols_) + " figure");
  return axes_[static_cast<std::size_t>(row * cols_ + col)];
}

Axes& Figure::panel(int index) {
  if (index < 0 || index >= rows_ * cols_)
    throw ad::Error("plot::Figure::panel: index " + std::to_string(index) + " is out of range (" +
                    std::to_string(rows_ * cols_) + " panels)");
  return axes_[static_cast<std::size_t>(index)];
}

Figure& Figure::suptitle(std::string text) {
  suptitle_ = std::move(text);
  return *this;
}

Figure& Figure::title(std::string text) {
  ax().title(std::move(text));
  return *this;
}
Figure& Figure::xlabel(std::string text) {
  ax().xlabel(std::move(text));
  return *this;
}
Figure& Figure::ylabel(std::string text) {
  ax().ylabel(std::move(text));
  return *this;
}
Figure& Figure::xlim(double lo, double hi) {
  ax().xlim(lo, hi);
  return *this;
}
Figure& Figure::ylim(double lo, double hi) {
  ax().ylim(lo, hi);
  return *this;
}
Figure& Figure::log_y(bool on) {
  ax().log_y(on);
  return *this;
}
Figure& Figure::legend(Legend where) {
  ax().legend(where);
  return *this;
}
Figure& Figure::line(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                     std::optional<Color> color, double width, bool dashed) {
  ax().line(xs, ys, label, color, width, dashed);
  return *this;
}
Figure& Figure::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                        std::optional<Color> color, double radius) {
  ax().scatter(xs, ys, label, color, radius);
  return *this;
}
Figure& Figure::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<int>& classes,
                        const std::vector<std::string>& class_names, double radius) {
  ax().scatter(xs, ys, classes, class_names, radius);
  return *this;
}
Figure& Figure::scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<Color>& colors,
                        double radius) {
  ax().scatter(xs, ys, colors, radius);
  return *this;
}
Figure& Figure::scatter(const ad::Tensor& X, const ad::Tensor& y, const std::vector<std::string>& class_names,
                        double radius) {
  ax().scatter(X, y, class_names, radius);
  return *this;
}
Figure& Figure::path(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                     std::optional<Color> color, double width) {
  ax().path(xs, ys, label, color, width);
  return *this;
}
Figure& Figure::heatmap(const Field& field, const HeatmapOptions& options) {
  ax().heatmap(field, options);
  return *this;
}
Figure& Figure::contour(const Field& field, const std::vector<double>& levels, Color color, double width,
                        const std::string& label, bool dashed) {
  ax().contour(field, levels, color, width, label, dashed);
  return *this;
}
Figure& Figure::filled_contour(const Field& field, const std::vector<double>& levels, Colormap cmap,
                               const std::string& colorbar_label) {
  ax().filled_contour(field, levels, cmap, colorbar_label);
  return *this;
}
Figure& Figure::decision_boundary(const Field& probability, const ad::Tensor& X, const ad::Tensor& y) {
  ax().decision_boundary(probability, X, y);
  return *this;
}

namespace {
constexpr int kSuptitleBand = 36;
}

int Figure::height() const { return rows_ * panel_h_ + (suptitle_.empty() ? 0 : kSuptitleBand); }

// ================================================================ painting

namespace {

constexpr double kTitleFont = 14, kLabelFont = 12, kTickFont = 10.5, kLegendFont = 10.5, kSupFont = 16;
constexpr double kTickLen = 5, kPad = 8;
constexpr double kColorbarWidth = 14;
constexpr double kPi = std::numbers::pi;

void set_font(cairo_t* cr, double size, bool bold = false) {
  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                         bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

double font_height(cairo_t* cr) {
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  return fe.ascent + fe.descent;
}

void set_color(cairo_t* cr, const Color& c) { cairo_set_source_rgba(cr, c.r, c.g, c.b, c.a); }

// Text anchored at (x, y): ha 0 left / 0.5 centre / 1 right; va 0 top / 0.5 middle / 1 bottom;
// `angle` rotates around the anchor (-pi/2: reading upwards).
void draw_text(cairo_t* cr, const std::string& s, double x, double y, double ha, double va, double angle = 0) {
  if (s.empty()) return;
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  const double w = text_width(cr, s);
  cairo_save(cr);
  cairo_translate(cr, x, y);
  cairo_rotate(cr, angle);
  cairo_move_to(cr, -ha * w, -va * (fe.ascent + fe.descent) + fe.ascent);
  cairo_show_text(cr, s.c_str());
  cairo_restore(cr);
}

struct Tick {
  double v;
  std::string label;
};

double nice_step(double span, double target) {
  const double raw = span / std::max(target, 1.0);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * mag;
}

std::string format_value(double v, double step) {
  char buf[64];
  const double k = std::floor(std::log10(step) + 1e-9);
  if (std::abs(v) < step * 1e-6) v = 0;
  if (std::abs(v) >= 1e6 || (step < 1e-4 && v != 0))
    std::snprintf(buf, sizeof buf, "%.3g", v);
  else
    std::snprintf(buf, sizeof buf, "%.*f", static_cast<int>(std::max(0.0, -k)), v);
  std::string s = buf;
  if (s == "-0") s = "0";
  return s;
}

std::vector<Tick> linear_ticks(double lo, double hi, double target) {
  std::vector<Tick> t;
  const double step = nice_step(hi - lo, target);
  const double first = std::ceil(lo / step - 1e-9);
  for (int k = 0; k < 200; ++k) {
    const double v = (first + k) * step;
    if (v > hi + step * 1e-9) break;
    t.push_back({v, format_value(v, step)});
  }
  return t;
}

std::string format_power(int k) {
  if (k >= -3 && k <= 4) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.*f", std::max(0, -k), std::pow(10.0, k));
    return buf;
  }
  return "1e" + std::to_string(k);
}

// Ticks of a log axis over [lo, hi] (lo > 0): powers of ten when two or more fall inside,
// else 1-2-5 multiples, else linear ticks. `minor` receives unlabelled ticks (2..9 x 10^k).
std::vector<Tick> log_ticks(double lo, double hi, double target, std::vector<double>* minor) {
  std::vector<Tick> t;
  const int k0 = static_cast<int>(std::ceil(std::log10(lo) - 1e-9));
  const int k1 = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
  if (k1 - k0 + 1 >= 2) {
    const int stride = std::max(1, static_cast<int>(std::ceil((k1 - k0 + 1) / std::max(target, 2.0))));
    for (int k = k0; k <= k1; ++k)
      if ((k - k0) % stride == 0) t.push_back({std::pow(10.0, k), format_power(k)});
    if (stride == 1 && minor)
      for (int k = k0 - 1; k <= k1; ++k)
        for (int m = 2; m <= 9; ++m) {
          const double v = m * std::pow(10.0, k);
          if (v >= lo && v <= hi) minor->push_back(v);
        }
    return t;
  }
  for (int k = k0 - 2; k <= k1 + 1; ++k)
    for (const double m : {1.0, 2.0, 5.0}) {
      const double v = m * std::pow(10.0, k);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", v);
        t.push_back({v, buf});
      }
    }
  if (t.size() >= 3) return t;
  t.clear();
  for (const Tick& x : linear_ticks(lo, hi, target))
    if (x.v > 0) t.push_back(x);
  return t;
}

struct PanelLayout {
  Rect panel, area;
  double xlo = 0, xhi = 1, ylo = 0, yhi = 1;  // data limits (y in data units, also when log)
  bool log_y = false;
  std::vector<Tick> xticks, yticks;
  std::vector<double> yminor;
  const void* cbar_series = nullptr;  // the heatmap series shown in the colour bar
  double vmin = 0, vmax = 1;
  std::vector<Tick> cticks;
  Rect cbar;

  double X(double x) const { return area.x + (x - xlo) / (xhi - xlo) * area.w; }
  double ty(double y) const { return log_y ? std::log10(y) : y; }
  double Y(double y) const { return area.y + area.h - (ty(y) - ty(ylo)) / (ty(yhi) - ty(ylo)) * area.h; }
  double inv_X(double px) const { return xlo + (px - area.x) / area.w * (xhi - xlo); }
  double inv_Y(double py) const {
    const double t = ty(ylo) + (area.y + area.h - py) / area.h * (ty(yhi) - ty(ylo));
    return log_y ? std::pow(10.0, t) : t;
  }
};

}  // namespace

// Lays out and draws one Axes; a friend of Axes.
struct Painter {
  using Series = Axes::Series;

  static PanelLayout layout(cairo_t* cr, const Axes& a, Rect panel);
  static void draw(cairo_t* cr, const Axes& a, const PanelLayout& L, double raster_scale);

 private:
  static void limits(const Axes& a, PanelLayout& L);
  static void heat_range(const Series& s, double& vmin, double& vmax);
  static void draw_heatmap(cairo_t* cr, const Series& s, const PanelLayout& L, double scale);
  static void draw_contour(cairo_t* cr, const Series& s, const PanelLayout& L);
  static void draw_polyline(cairo_t* cr, const Series& s, const PanelLayout& L);
  static void draw_points(cairo_t* cr, const Series& s, const PanelLayout& L);
  static void draw_path(cairo_t* cr, const Series& s, const PanelLayout& L);
  static void draw_colorbar(cairo_t* cr, const Series& s, const PanelLayout& L);
  static void draw_legend(cairo_t* cr, const Axes& a, const PanelLayout& L);
};

void Painter::heat_range(const Series& s, double& vmin, double& vmax) {
  if (!s.heat.levels.empty()) {
    vmin = s.heat.levels.front();
    vmax = s.heat.levels.back();
  } else {
    vmin = std::isfinite(s.heat.vmin) ? s.heat.vmin : s.field->min();
    vmax = std::isfinite(s.heat.vmax) ? s.heat.vmax : s.field->max();
  }
  if (!(vmin < vmax)) {
    const double d = std::max(1.0, std::abs(vmin)) * 0.5;
    vmin -= d, vmax += d;
  }
}

void Painter::limits(const Axes& a, PanelLayout& L) {
  const double inf = std::numeric_limits<double>::infinity();
  double px0 = inf, px1 = -inf, py0 = inf, py1 = -inf;  // points
  double fx0 = inf, fx1 = -inf, fy0 = inf, fy1 = -inf;  // fields
  for (const Series& s : a.series_) {
    if (s.field) {
      const GridSpec& g = s.field->grid;
      fx0 = std::min(fx0, g.x0), fx1 = std::max(fx1, g.x1);
      if (!a.log_y_ || g.y0 > 0) fy0 = std::min(fy0, g.y0), fy1 = std::max(fy1, g.y1);
      continue;
    }
    for (std::size_t i = 0; i < s.xs.size(); ++i) {
      const double x = s.xs[i], y = s.ys[i];
      if (!std::isfinite(x) || !std::isfinite(y) || (a.log_y_ && y <= 0)) continue;
      px0 = std::min(px0, x), px1 = std::max(px1, x), py0 = std::min(py0, y), py1 = std::max(py1, y);
    }
  }
  const auto finish = [&](double p0, double p1, double f0, double f1, bool log, double& lo, double& hi) {
    if (p0 <= p1) {  // pad the points by 5% of their span
      if (log) {
        const double l0 = std::log10(p0), l1 = std::log10(p1), pad = std::max(0.05 * (l1 - l0), 1e-9);
        p0 = std::pow(10.0, l0 - pad), p1 = std::pow(10.0, l1 + pad);
      } else {
        const double pad = 0.05 * (p1 - p0);
        p0 -= pad, p1 += pad;
      }
    }
    lo = std::min(p0, f0), hi = std::max(p1, f1);
    if (!(lo <= hi)) lo = log ? 1 : 0, hi = log ? 10 : 1;
    if (!(lo < hi)) {
      if (log)
        lo /= std::sqrt(10.0), hi *= std::sqrt(10.0);
      else {
        const double d = 0.5 * std::max(1.0, std::abs(lo));
        lo -= d, hi += d;
      }
    }
  };
  finish(px0, px1, fx0, fx1, false, L.xlo, L.xhi);
  finish(py0, py1, fy0, fy1, a.log_y_, L.ylo, L.yhi);
  if (a.xlim_) L.xlo = a.xlim_->first, L.xhi = a.xlim_->second;
  if (a.ylim_) {
    L.ylo = a.ylim_->first, L.yhi = a.ylim_->second;
    if (a.log_y_ && L.ylo <= 0) L.ylo = L.yhi * 1e-6;
  }
}

PanelLayout Painter::layout(cairo_t* cr, const Axes& a, Rect panel) {
  PanelLayout L;
  L.panel = panel;
  L.log_y = a.log_y_;
  limits(a, L);

  // The colour bar: the first heatmap that asks for one.
  const Series* cb = nullptr;
  for (const Series& s : a.series_)
    if (s.kind == Series::Kind::Heatmap && s.heat.colorbar && s.heat.cmap != Colormap::Classes) {
      cb = &s;
      break;
    }

  set_font(cr, kTickFont);
  const double tick_h = font_height(cr);
  set_font(cr, kLabelFont);
  const double label_h = font_height(cr);
  set_font(cr, kTitleFont, true);
  const double title_h = font_height(cr);

  const auto make_ticks = [&](double aw, double ah) {
    L.xticks = linear_ticks(L.xlo, L.xhi, std::clamp(aw / 80.0, 2.0, 9.0));
    L.yminor.clear();
    L.yticks = L.log_y ? log_ticks(L.ylo, L.yhi, std::clamp(ah / 45.0, 2.0, 9.0), &L.yminor)
                       : linear_ticks(L.ylo, L.yhi, std::clamp(ah / 50.0, 2.0, 9.0));
  };
  double cbar_w = 0;
  const auto margins = [&](double& left, double& right, double& top, double& bottom) {
    set_font(cr, kTickFont);
    double yw = 0;
    for (const Tick& t : L.yticks) yw = std::max(yw, text_width(cr, t.label));
    const double last_x = L.xticks.empty() ? 0 : text_width(cr, L.xticks.back().label);
    left = kPad + (a.ylabel_.empty() ? 0 : label_h + 6) + yw + 4 + kTickLen;
    right = std::max(14.0, last_x / 2 + 6);
    if (cb) {
      double cw = 0;
      for (const Tick& t : L.cticks) cw = std::max(cw, text_width(cr, t.label));
      cbar_w = 14 + kColorbarWidth + kTickLen + 3 + cw + (cb->heat.colorbar_label.empty() ? 0 : 6 + label_h) + kPad;
      right = std::max(right, 6.0) + cbar_w - 6;
    }
    top = kPad + (a.title_.empty() ? 4 : title_h + 8);
    bottom = kTickLen + 3 + tick_h + (a.xlabel_.empty() ? 0 : 6 + label_h) + kPad;
  };
  if (cb) {
    heat_range(*cb, L.vmin, L.vmax);
    if (!cb->heat.levels.empty()) {
      const std::size_t n = cb->heat.levels.size();
      const std::size_t stride = std::max<std::size_t>(1, (n + 7) / 8);
      for (std::size_t i = 0; i < n; i += stride) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.3g", cb->heat.levels[i]);
        L.cticks.push_back({static_cast<double>(i), buf});  // v: the level's index
      }
    } else {
      L.cticks = linear_ticks(L.vmin, L.vmax, std::clamp(panel.h / 60.0, 2.0, 8.0));
    }
    L.cbar_series = cb;
  }

  double left, right, top, bottom;
  make_ticks(panel.w - 90, panel.h - 80);
  margins(left, right, top, bottom);
  for (int pass = 0; pass < 2; ++pass) {
    const double aw = panel.w - left - right, ah = panel.h - top - bottom;
    if (pass == 0 && a.equal_aspect_ && !L.log_y && aw > 0 && ah > 0) {
      const double sx = aw / (L.xhi - L.xlo), sy = ah / (L.yhi - L.ylo);
      if (sx > sy) {
        const double c = 0.5 * (L.xlo + L.xhi), half = 0.5 * aw / sy;
        L.xlo = c - half, L.xhi = c + half;
      } else {
        const double c = 0.5 * (L.ylo + L.yhi), half = 0.5 * ah / sx;
        L.ylo = c - half, L.yhi = c + half;
      }
    }
    make_ticks(aw, ah);
    margins(left, right, top, bottom);
  }
  L.area = Rect{std::round(panel.x + left), std::round(panel.y + top), 0, 0};
  L.area.w = std::max(10.0, std::round(panel.x + panel.w - right) - L.area.x);
  L.area.h = std::max(10.0, std::round(panel.y + panel.h - bottom) - L.area.y);
  if (cb) L.cbar = Rect{L.area.x + L.area.w + 14, L.area.y, kColorbarWidth, L.area.h};
  return L;
}

void Painter::draw_heatmap(cairo_t* cr, const Series& s, const PanelLayout& L, double scale) {
  const Field& f = *s.field;
  const GridSpec& g = f.grid;
  double vmin, vmax;
  heat_range(s, vmin, vmax);
  const auto& levels = s.heat.levels;
  const bool nearest = s.heat.cmap == Colormap::Classes;
  const int W = std::max(1, static_cast<int>(std::lround(L.area.w * scale)));
  const int H = std::max(1, static_cast<int>(std::lround(L.area.h * scale)));
  cairo_surface_t* img = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H);
  if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(img);
    throw ad::Error("plot: cannot allocate a " + std::to_string(W) + " x " + std::to_string(H) + " heatmap image");
  }
  cairo_surface_flush(img);
  unsigned char* data = cairo_image_surface_get_data(img);
  const int stride = cairo_image_surface_get_stride(img);
  for (int v = 0; v < H; ++v) {
    const double y = L.inv_Y(L.area.y + (v + 0.5) / scale);
    const double fy = (y - g.y0) / (g.y1 - g.y0) * (g.ny - 1);
    auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<std::ptrdiff_t>(v) * stride);
    for (int u = 0; u < W; ++u) {
      row[u] = 0;
      const double x = L.inv_X(L.area.x + (u + 0.5) / scale);
      const double fx = (x - g.x0) / (g.x1 - g.x0) * (g.nx - 1);
      if (!(fx >= -1e-9 && fx <= g.nx - 1 + 1e-9 && fy >= -1e-9 && fy <= g.ny - 1 + 1e-9)) continue;
      double val;
      if (nearest) {
        val = f.at(static_cast<int>(std::lround(fx)), static_cast<int>(std::lround(fy)));
      } else {
        const int i = std::clamp(static_cast<int>(std::floor(fx)), 0, g.nx - 2);
        const int j = std::clamp(static_cast<int>(std::floor(fy)), 0, g.ny - 2);
        const double tx = std::clamp(fx - i, 0.0, 1.0), tyy = std::clamp(fy - j, 0.0, 1.0);
        const double a00 = f.at(i, j), a10 = f.at(i + 1, j), a01 = f.at(i, j + 1), a11 = f.at(i + 1, j + 1);
        val = (a00 * (1 - tx) + a10 * tx) * (1 - tyy) + (a01 * (1 - tx) + a11 * tx) * tyy;
        if (!std::isfinite(val))  // a NaN corner: fall back to the nearest grid point
          val = f.at(static_cast<int>(std::lround(fx)), static_cast<int>(std::lround(fy)));
      }
      if (std::isnan(val)) continue;
      double t;
      if (nearest)
        t = val;
      else if (!levels.empty())
        t = static_cast<double>(std::upper_bound(levels.begin(), levels.end(), val) - levels.begin()) /
            static_cast<double>(levels.size());
      else
        t = (val - vmin) / (vmax - vmin);
      Color c = colormap(s.heat.cmap, t);
      if (s.heat.lighten > 0) c = c.lighter(s.heat.lighten);
      const auto ch = [](double x8) { return static_cast<std::uint32_t>(std::lround(std::clamp(x8, 0.0, 1.0) * 255)); };
      row[u] = 0xFF000000u | (ch(c.r) << 16) | (ch(c.g) << 8) | ch(c.b);
    }
  }
  cairo_surface_mark_dirty(img);
  cairo_save(cr);
  cairo_rectangle(cr, L.area.x, L.area.y, L.area.w, L.area.h);
  cairo_clip(cr);
  cairo_translate(cr, L.area.x, L.area.y);
  cairo_scale(cr, 1.0 / scale, 1.0 / scale);
  cairo_set_source_surface(cr, img, 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
  cairo_paint(cr);
  cairo_restore(cr);
  cairo_surface_destroy(img);
}

// Marching squares over the grid cells, one level at a time; saddles resolved by the cell mean.
void Painter::draw_contour(cairo_t* cr, const Series& s, const PanelLayout& L) {
  const Field& f = *s.field;
  const GridSpec& g = f.grid;
  cairo_save(cr);
  cairo_rectangle(cr, L.area.x, L.area.y, L.area.w, L.area.h);
  cairo_clip(cr);
  cairo_new_path(cr);
  const auto screen = [&](double x, double y, double& sx, double& sy) {
    sx = L.X(x);
    sy = L.log_y ? (y > 0 ? L.Y(y) : L.area.y + L.area.h + 1e4) : L.Y(y);
  };
  for (const double level : s.levels) {
    for (int j = 0; j + 1 < g.ny; ++j)
      for (int i = 0; i + 1 < g.nx; ++i) {
        const double v[4] = {f.at(i, j), f.at(i + 1, j), f.at(i + 1, j + 1), f.at(i, j + 1)};
        if (!std::isfinite(v[0]) || !std::isfinite(v[1]) || !std::isfinite(v[2]) || !std::isfinite(v[3])) continue;
        const int c = (v[0] > level ? 1 : 0) | (v[1] > level ? 2 : 0) | (v[2] > level ? 4 : 0) | (v[3] > level ? 8 : 0);
        if (c == 0 || c == 15) continue;
        const double cx[4] = {g.x(i), g.x(i + 1), g.x(i + 1), g.x(i)};
        const double cy[4] = {g.y(j), g.y(j), g.y(j + 1), g.y(j + 1)};
        // Edge e joins corners e and (e + 1) % 4: 0 bottom, 1 right, 2 top, 3 left.
        const auto point = [&](int e, double& px, double& py) {
          const int p = e, q = (e + 1) % 4;
          const double t = std::clamp((level - v[p]) / (v[q] - v[p]), 0.0, 1.0);
          screen(cx[p] + (cx[q] - cx[p]) * t, cy[p] + (cy[q] - cy[p]) * t, px, py);
        };
        const auto seg = [&](int e0, int e1) {
          double x0, y0, x1, y1;
          point(e0, x0, y0);
          point(e1, x1, y1);
          cairo_move_to(cr, x0, y0);
          cairo_line_to(cr, x1, y1);
        };
        const bool centre_above = (v[0] + v[1] + v[2] + v[3]) / 4 > level;
        switch (c) {
          case 1:
          case 14:
            seg(3, 0);
            break;
          case 2:
          case 13:
            seg(0, 1);
            break;
          case 3:
          case 12:
            seg(3, 1);
            break;
          case 4:
          case 11:
            seg(1, 2);
            break;
          case 6:
          case 9:
            seg(0, 2);
            break;
          case 7:
          case 8:
            seg(2, 3);
            break;
          case 5:  // corners 0 and 2 above
            if (centre_above)
              seg(0, 1), seg(2, 3);
            else
              seg(3, 0), seg(1, 2);
            break;
          case 10:  // corners 1 and 3 above
            if (centre_above)
              seg(3, 0), seg(1, 2);
            else
              seg(0, 1), seg(2, 3);
            break;
          default:
            break;
        }
      }
  }
  set_color(cr, s.color);
  cairo_set_line_width(cr, s.width);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  if (s.dashed) {
    const double d[2] = {5, 3};
    cairo_set_dash(cr, d, 2, 0);
  }
  cairo_stroke(cr);
  cairo_restore(cr);
}

void Painter::draw_polyline(cairo_t* cr, const Series& s, const PanelLayout& L) {
  cairo_new_path(cr);
  bool pen = false;
  for (std::size_t i = 0; i < s.xs.size(); ++i) {
    const double x = s.xs[i], y = s.ys[i];
    if (!std::isfinite(x) || !std::isfinite(y) || (L.log_y && y <= 0)) {
      pen = false;
      continue;
    }
    if (pen)
      cairo_line_to(cr, L.X(x), L.Y(y));
    else
      cairo_move_to(cr, L.X(x), L.Y(y));
    pen = true;
  }
  set_color(cr, s.color);
  cairo_set_line_width(cr, s.width);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
  if (s.dashed) {
    const double d[2] = {6, 4};
    cairo_set_dash(cr, d, 2, 0);
  } else {
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  cairo_stroke(cr);
  cairo_set_dash(cr, nullptr, 0, 0);
}

void Painter::draw_points(cairo_t* cr, const Series& s, const PanelLayout& L) {
  cairo_set_line_width(cr, 0.7);
  for (std::size_t i = 0; i < s.xs.size(); ++i) {
    const double x = s.xs[i], y = s.ys[i];
    if (!std::isfinite(x) || !std::isfinite(y) || (L.log_y && y <= 0)) continue;
    const Color c = s.colors.empty() ? s.color : s.colors[i];
    cairo_new_path(cr);
    cairo_arc(cr, L.X(x), L.Y(y), s.radius, 0, 2 * kPi);
    set_color(cr, c.with_alpha(c.a * 0.9));
    cairo_fill_preserve(cr);
    set_color(cr, c.darker(0.45));
    cairo_stroke(cr);
  }
}

void Painter::draw_path(cairo_t* cr, const Series& s, const PanelLayout& L) {
  draw_polyline(cr, s, L);
  std::vector<std::size_t> ok;
  for (std::size_t i = 0; i < s.xs.size(); ++i)
    if (std::isfinite(s.xs[i]) && std::isfinite(s.ys[i]) && !(L.log_y && s.ys[i] <= 0)) ok.push_back(i);
  if (ok.empty()) return;
  set_color(cr, s.color);
  if (ok.size() <= 60)
    for (std::size_t i : ok) {
      cairo_new_path(cr);
      cairo_arc(cr, L.X(s.xs[i]), L.Y(s.ys[i]), std::max(2.0, s.width + 0.8), 0, 2 * kPi);
      cairo_fill(cr);
    }
  // Start: hollow ring; end: filled dot with a white rim.
  const std::size_t a = ok.front(), b = ok.back();
  cairo_new_path(cr);
  cairo_arc(cr, L.X(s.xs[a]), L.Y(s.ys[a]), 5.5, 0, 2 * kPi);
  set_color(cr, Color{1, 1, 1, 1});
  cairo_fill_preserve(cr);
  set_color(cr, s.color);
  cairo_set_line_width(cr, 2);
  cairo_stroke(cr);
  cairo_new_path(cr);
  cairo_arc(cr, L.X(s.xs[b]), L.Y(s.ys[b]), 5.5, 0, 2 * kPi);
  cairo_fill_preserve(cr);
  set_color(cr, Color{1, 1, 1, 1});
  cairo_set_line_width(cr, 1.5);
  cairo_stroke(cr);
}

void Painter::draw_colorbar(cairo_t* cr, const Series& s, const PanelLayout& L) {
  const Rect& r = L.cbar;
  const auto& levels = s.heat.levels;
  if (!levels.empty()) {  // bands: below the first level, between levels, above the last
    const std::size_t nb = levels.size() + 1;
    for (std::size_t b = 0; b < nb; ++b) {
      Color c = colormap(s.heat.cmap, static_cast<double>(b) / static_cast<double>(levels.size()));
      if (s.heat.lighten > 0) c = c.lighter(s.heat.lighten);
      const double y1 = r.y + r.h - r.h * static_cast<double>(b) / static_cast<double>(nb);
      const double y0 = r.y + r.h - r.h * static_cast<double>(b + 1) / static_cast<double>(nb);
      cairo_rectangle(cr, r.x, y0, r.w, y1 - y0 + 0.5);
      set_color(cr, c);
      cairo_fill(cr);
    }
  } else {
    const int n = std::max(2, static_cast<int>(r.h));
    for (int k = 0; k < n; ++k) {
      Color c = colormap(s.heat.cmap, (k + 0.5) / n);
      if (s.heat.lighten > 0) c = c.lighter(s.heat.lighten);
      cairo_rectangle(cr, r.x, r.y + r.h - r.h * (k + 1) / n, r.w, r.h / n + 0.6);
      set_color(cr, c);
      cairo_fill(cr);
    }
  }
  cairo_rectangle(cr, r.x + 0.5, r.y + 0.5, r.w - 1, r.h - 1);
  set_color(cr, Color{0.25, 0.25, 0.25, 1});
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  set_font(cr, kTickFont);
  double lw = 0;
  for (const Tick& t : L.cticks) {
    double y;
    if (!levels.empty())  // level i sits between band i and band i + 1
      y = r.y + r.h - r.h * (t.v + 1) / static_cast<double>(levels.size() + 1);
    else
      y = r.y + r.h - (t.v - L.vmin) / (L.vmax - L.vmin) * r.h;
    y = std::round(y) + 0.5;
    cairo_move_to(cr, r.x + r.w, y);
    cairo_line_to(cr, r.x + r.w + kTickLen, y);
    cairo_stroke(cr);
    draw_text(cr, t.label, r.x + r.w + kTickLen + 3, y, 0, 0.5);
    lw = std::max(lw, text_width(cr, t.label));
  }
  if (!s.heat.colorbar_label.empty()) {
    set_font(cr, kLabelFont);
    draw_text(cr, s.heat.colorbar_label, r.x + r.w + kTickLen + 3 + lw + 6, r.y + r.h / 2, 0.5, 0, -kPi / 2);
  }
}

void Painter::draw_legend(cairo_t* cr, const Axes& a, const PanelLayout& L) {
  if (a.legend_ == Legend::None || a.legend_entries_.empty()) return;
  set_font(cr, kLegendFont);
  const double row_h = std::max(font_height(cr), 12.0) + 3, sample_w = 24, pad = 6;
  double tw = 0;
  for (const auto& e : a.legend_entries_) tw = std::max(tw, text_width(cr, e.label));
  const double w = pad + sample_w + 6 + tw + pad;
  const double h = pad + row_h * static_cast<double>(a.legend_entries_.size()) + pad - 3;
  const auto corner = [&](Legend where) {
    const bool right = where == Legend::UpperRight || where == Legend::LowerRight;
    const bool upper = where == Legend::UpperRight || where == Legend::UpperLeft;
    return Rect{right ? L.area.x + L.area.w - 8 - w : L.area.x + 8, upper ? L.area.y + 8 : L.area.y + L.area.h - 8 - h,
                w, h};
  };
  Legend where = a.legend_;
  if (where == Legend::Best) {
    // Screen samples of what is drawn: scatter points, and polylines every ~6 pixels.
    std::vector<std::pair<double, double>> pts;
    const auto ok = [&](double x, double y) { return std::isfinite(x) && std::isfinite(y) && !(L.log_y && y <= 0); };
    for (const Series& s : a.series_) {
      if (s.field) continue;
      for (std::size_t i = 0; i < s.xs.size(); ++i) {
        if (!ok(s.xs[i], s.ys[i])) continue;
        const double x1 = L.X(s.xs[i]), y1 = L.Y(s.ys[i]);
        pts.emplace_back(x1, y1);
        if (s.kind == Series::Kind::Scatter || i == 0 || !ok(s.xs[i - 1], s.ys[i - 1])) continue;
        const double x0 = L.X(s.xs[i - 1]), y0 = L.Y(s.ys[i - 1]);
        const int steps = std::min(200, static_cast<int>(std::hypot(x1 - x0, y1 - y0) / 6));
        for (int k = 1; k < steps; ++k) {
          const double t = static_cast<double>(k) / steps;
          pts.emplace_back(x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        }
      }
    }
    std::size_t best = std::numeric_limits<std::size_t>::max();
    for (const Legend c : {Legend::UpperRight, Legend::UpperLeft, Legend::LowerLeft, Legend::LowerRight}) {
      const Rect r = corner(c);
      std::size_t n = 0;
      for (const auto& [px, py] : pts)
        if (px >= r.x - 4 && px <= r.x + r.w + 4 && py >= r.y - 4 && py <= r.y + r.h + 4) ++n;
      if (n < best) best = n, where = c;
    }
  }
  const Rect box = corner(where);
  const double x = box.x, y = box.y;
  cairo_rectangle(cr, std::round(x) + 0.5, std::round(y) + 0.5, std::round(w), std::round(h));
  set_color(cr, Color{1, 1, 1, 0.85});
  cairo_fill_preserve(cr);
  set_color(cr, Color{0.7, 0.7, 0.7, 1});
  cairo_set_line_width(cr, 1);
  cairo_stroke(cr);
  double cy = y + pad + (row_h - 3) / 2;
  for (const auto& e : a.legend_entries_) {
    const double sx = x + pad;
    if (e.kind != Axes::LegendEntry::Kind::Marker) {
      cairo_move_to(cr, sx, cy);
      cairo_line_to(cr, sx + sample_w, cy);
      set_color(cr, e.color);
      cairo_set_line_width(cr, std::min(e.width, 4.0));
      if (e.dashed) {
        const double d[2] = {5, 3};
        cairo_set_dash(cr, d, 2, 0);
      }
      cairo_stroke(cr);
      cairo_set_dash(cr, nullptr, 0, 0);
    }
    if (e.kind != Axes::LegendEntry::Kind::Line) {
      cairo_new_path(cr);
      cairo_arc(cr, sx + sample_w / 2, cy, 4, 0, 2 * kPi);
      set_color(cr, e.color);
      cairo_fill_preserve(cr);
      set_color(cr, e.color.darker(0.45));
      cairo_set_line_width(cr, 0.7);
      cairo_stroke(cr);
    }
    set_color(cr, Color{0.1, 0.1, 0.1, 1});
    draw_text(cr, e.label, sx + sample_w + 6, cy, 0, 0.5);
    cy += row_h;
  }
}

void Painter::draw(cairo_t* cr, const Axes& a, const PanelLayout& L, double raster_scale) {
  const Rect& A = L.area;
  const Color ink{0.15, 0.15, 0.15, 1};

  // Grid lines, then fields, then the other series in order, all clipped to the data area.
  cairo_save(cr);
  cairo_rectangle(cr, A.x, A.y, A.w, A.h);
  cairo_clip(cr);
  if (a.grid_) {
    set_color(cr, Color{0.88, 0.88, 0.88, 1});
    cairo_set_line_width(cr, 1);
    for (const Tick& t : L.xticks) {
      const double x = std::round(L.X(t.v)) + 0.5;
      cairo_move_to(cr, x, A.y);
      cairo_line_to(cr, x, A.y + A.h);
    }
    for (const Tick& t : L.yticks) {
      const double y = std::round(L.Y(t.v)) + 0.5;
      cairo_move_to(cr, A.x, y);
      cairo_line_to(cr, A.x + A.w, y);
    }
    cairo_stroke(cr);
  }
  for (const Series& s : a.series_)
    if (s.kind == Series::Kind::Heatmap) draw_heatmap(cr, s, L, raster_scale);
  for (const Series& s : a.series_) {
    switch (s.kind) {
      case Series::Kind::Line:
        draw_polyline(cr, s, L);
        break;
      case Series::Kind::Scatter:
        draw_points(cr, s, L);
        break;
      case Series::Kind::Path:
        draw_path(cr, s, L);
        break;
      case Series::Kind::Contour:
        draw_contour(cr, s, L);
        break;
      case Series::Kind::Heatmap:
        break;
    }
  }
  cairo_restore(cr);

  // Frame and ticks.
  set_color(cr, ink);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, A.x + 0.5, A.y + 0.5, A.w - 1, A.h - 1);
  cairo_stroke(cr);
  set_font(cr, kTickFont);
  for (const Tick& t : L.xticks) {
    const double x = std::round(L.X(t.v)) + 0.5;
    cairo_move_to(cr, x, A.y + A.h);
    cairo_line_to(cr, x, A.y + A.h + kTickLen);
    cairo_stroke(cr);
    draw_text(cr, t.label, x, A.y + A.h + kTickLen + 3, 0.5, 0);
  }
  double yw = 0;
  for (const Tick& t : L.yticks) {
    const double y = std::round(L.Y(t.v)) + 0.5;
    cairo_move_to(cr, A.x, y);
    cairo_line_to(cr, A.x - kTickLen, y);
    cairo_stroke(cr);
    draw_text(cr, t.label, A.x - kTickLen - 4, y, 1, 0.5);
    yw = std::max(yw, text_width(cr, t.label));
  }
  for (const double v : L.yminor) {
    const double y = std::round(L.Y(v)) + 0.5;
    cairo_move_to(cr, A.x, y);
    cairo_line_to(cr, A.x - kTickLen * 0.6, y);
  }
  cairo_stroke(cr);
  const double tick_h = font_height(cr);

  // Titles.
  set_font(cr, kLabelFont);
  if (!a.xlabel_.empty()) draw_text(cr, a.xlabel_, A.x + A.w / 2, A.y + A.h + kTickLen + 3 + tick_h + 6, 0.5, 0);
  if (!a.ylabel_.empty()) draw_text(cr, a.ylabel_, L.panel.x + kPad, A.y + A.h / 2, 0.5, 0, -kPi / 2);
  if (!a.title_.empty()) {
    set_font(cr, kTitleFont, true);
    draw_text(cr, a.title_, A.x + A.w / 2, A.y - 8, 0.5, 1);
  }
  if (L.cbar_series) {
    set_color(cr, ink);
    draw_colorbar(cr, *static_cast<const Series*>(L.cbar_series), L);
  }
  draw_legend(cr, a, L);
}

// ================================================================ save

#if defined(__SANITIZE_ADDRESS__)
#define PLOT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PLOT_UNDER_ASAN 1
#endif
#endif

namespace {

// Fontconfig, which cairo uses to find fonts, keeps caches until exit that LeakSanitizer reports
// as leaks. In sanitizer builds, free them at exit (after every figure is gone): cairo's static
// data, then fontconfig (looked up at run time: the library is loaded by cairo, not linked here).
#ifdef PLOT_UNDER_ASAN
void release_font_caches() {
  cairo_debug_reset_static_data();
  if (void* fini = dlsym(RTLD_DEFAULT, "FcFini")) reinterpret_cast<void (*)()>(fini)();
}
void release_font_caches_at_exit() {
  static const bool registered = [] { return std::atexit(release_font_caches) == 0; }();
  (void)registered;
}
#else
void release_font_caches_at_exit() {}
#endif

struct CairoDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, CairoDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, CairoDeleter>;

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

std::string lower_extension(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
  std::string e = path.substr(dot);
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out)
    throw ad::Error("plot::Figure::save: cannot open '" + path + "' for writing (" + std::strerror(errno) +
                    "); check that the directory exists and is writable");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw ad::Error("plot::Figure::save: writing '" + path + "' failed (" + std::strerror(errno) + ")");
}

Rect panel_rect(int r, int c, int pw, int ph, int top) {
  return Rect{static_cast<double>(c * pw), static_cast<double>(top + r * ph), static_cast<double>(pw),
              static_cast<double>(ph)};
}

}  // namespace

Rect Figure::plot_area(int row, int col) const {
  const Axes& a = ax(row, col);
  release_font_caches_at_exit();
  SurfacePtr s(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1));
  ContextPtr cr(cairo_create(s.get()));
  const int top = suptitle_.empty() ? 0 : kSuptitleBand;
  return Painter::layout(cr.get(), a, panel_rect(row, col, panel_w_, panel_h_, top)).area;
}

void Figure::save(const std::string& path) const {
  const std::string ext = lower_extension(path);
  const bool png = ext == ".png", svg = ext == ".svg";
  if (!png && !svg)
    throw ad::Error("plot::Figure::save: unknown file extension '" + ext + "' in '" + path +
                    "'; use .png (raster) or .svg (vector)");
  release_font_caches_at_exit();
  const int W = width(), H = height();
  std::string bytes;
  SurfacePtr surface(png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H)
                         : cairo_svg_surface_create_for_stream(append_bytes, &bytes, W, H));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    throw ad::Error(std::string("plot::Figure::save: cairo cannot create the surface: ") +
                    cairo_status_to_string(cairo_surface_status(surface.get())));
  {
    ContextPtr cr(cairo_create(surface.get()));
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    const int top = suptitle_.empty() ? 0 : kSuptitleBand;
    if (!suptitle_.empty()) {
      set_font(cr.get(), kSupFont, true);
      cairo_set_source_rgb(cr.get(), 0.1, 0.1, 0.1);
      draw_text(cr.get(), suptitle_, W / 2.0, kSuptitleBand / 2.0 + 4, 0.5, 0.5);
    }
    for (int r = 0; r < rows_; ++r)
      for (int c = 0; c < cols_; ++c) {
        const Axes& a = axes_[static_cast<std::size_t>(r * cols_ + c)];
        cairo_save(cr.get());
        const PanelLayout L = Painter::layout(cr.get(), a, panel_rect(r, c, panel_w_, panel_h_, top));
        Painter::draw(cr.get(), a, L, png ? 1.0 : 2.0);
        cairo_restore(cr.get());
      }
    if (cairo_status(cr.get()) != CAIRO_STATUS_SUCCESS)
      throw ad::Error(std::string("plot::Figure::save: drawing failed: ") +
                      cairo_status_to_string(cairo_status(cr.get())));
  }
  if (png) {
    const cairo_status_t st = cairo_surface_write_to_png_stream(surface.get(), append_bytes, &bytes);
    if (st != CAIRO_STATUS_SUCCESS)
      throw ad::Error(std::string("plot::Figure::save: PNG encoding failed: ") + cairo_status_to_string(st));
  } else {
    cairo_surface_finish(surface.get());
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
      throw ad::Error(std::string("plot::Figure::save: SVG output failed: ") +
                      cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  write_file(path, bytes);
}

}  // namespace plot
