#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/grad_mode.h"
#include "adgraph/plot/detail.h"
#include "adgraph/plot/plot.h"

namespace ad::plot {

using detail::draw_text;
using detail::kLabelFont;
using detail::kPi;
using detail::kTickFont;
using detail::kTickLen;
using detail::PanelLayout;
using detail::set_color;
using detail::set_font;
using detail::text_width;
using detail::Tick;

// ================================================================ colours

Color Color::rgb(int r8, int g8, int b8, double alpha) { return {r8 / 255.0, g8 / 255.0, b8 / 255.0, alpha}; }

Color Color::hex(std::string_view code) {
  if (!code.empty() && code.front() == '#') code.remove_prefix(1);
  const auto bad = [&] {
    return ad::Error("ad::plot::Color::hex: '" + std::string(code) +
                     "' is not a colour like \"#1f77b4\" (6 hex digits)");
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
    throw ad::Error("ad::plot::GridSpec::around: expected points X [n, 2] (n >= 1), got " +
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
  if (!std::isfinite(g.x0)) throw ad::Error("ad::plot::GridSpec::around: X holds no finite point");
  g.x0 -= margin, g.x1 += margin, g.y0 -= margin, g.y1 += margin;
  if (g.x0 >= g.x1) g.x0 -= 0.5, g.x1 += 0.5;
  if (g.y0 >= g.y1) g.y0 -= 0.5, g.y1 += 0.5;
  g.nx = nx_;
  g.ny = ny_;
  g.validate("ad::plot::GridSpec::around");
  return g;
}

ad::Tensor grid_points(const GridSpec& grid) {
  grid.validate("ad::plot::grid_points");
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
  grid.validate("ad::plot::Field");
  const auto n = static_cast<std::size_t>(grid.nx) * static_cast<std::size_t>(grid.ny);
  if (z.size() != n)
    throw ad::Error("ad::plot::Field: a " + std::to_string(grid.nx) + " x " + std::to_string(grid.ny) + " grid needs " +
                    std::to_string(n) + " values (x fastest), got " + std::to_string(z.size()));
}

Field::Field(const GridSpec& g, const ad::Tensor& values)
    : Field(g, values.defined() ? values.to_vector() : std::vector<double>{}) {}

Field Field::sample(const GridSpec& g, const std::function<double(double, double)>& f) {
  g.validate("ad::plot::Field::sample");
  std::vector<double> z;
  z.reserve(static_cast<std::size_t>(g.nx) * static_cast<std::size_t>(g.ny));
  for (int j = 0; j < g.ny; ++j)
    for (int i = 0; i < g.nx; ++i) z.push_back(f(g.x(i), g.y(j)));
  return Field(g, std::move(z));
}

Field Field::evaluate(const GridSpec& g, const std::function<ad::Tensor(const ad::Tensor&)>& f) {
  ad::NoGradGuard no_grad;
  const ad::Tensor out = f(grid_points(g));
  if (!out.defined()) throw ad::Error("ad::plot::Field::evaluate: the function returned an undefined tensor");
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
    throw ad::Error("ad::plot::linear_levels: need finite lo < hi and n >= 2, got " + std::to_string(lo) + ", " +
                    std::to_string(hi) + ", " + std::to_string(n));
  std::vector<double> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = lo + (hi - lo) * i / (n - 1);
  return v;
}

std::vector<double> log_levels(double lo, double hi, int n) {
  if (!(lo > 0) || !(lo < hi) || !std::isfinite(hi) || n < 2)
    throw ad::Error("ad::plot::log_levels: need 0 < lo < hi (finite) and n >= 2, got " + std::to_string(lo) + ", " +
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
  if (!t.defined()) throw ad::Error("ad::plot::values: undefined tensor");
  return t.to_vector();
}

// ================================================================ painting fields

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

}  // namespace ad::plot
