#include <algorithm>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/plot/detail.h"
#include "adgraph/plot/plot.h"

namespace ad::plot {

using detail::font_height;
using detail::kColorbarWidth;
using detail::kLabelFont;
using detail::kPad;
using detail::kTickFont;
using detail::kTickLen;
using detail::kTitleFont;
using detail::PanelLayout;
using detail::set_font;
using detail::text_width;
using detail::Tick;

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
    throw ad::Error("ad::plot::Axes::xlim: need finite lo < hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
  xlim_ = {lo, hi};
  return *this;
}
Axes& Axes::ylim(double lo, double hi) {
  if (!(lo < hi) || !std::isfinite(lo) || !std::isfinite(hi))
    throw ad::Error("ad::plot::Axes::ylim: need finite lo < hi, got " + std::to_string(lo) + ", " + std::to_string(hi));
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
  check_xy("ad::plot::Axes::line", xs, ys);
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
  check_xy("ad::plot::Axes::scatter", xs, ys);
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
  check_xy("ad::plot::Axes::scatter", xs, ys);
  if (classes.size() != xs.size())
    throw ad::Error("ad::plot::Axes::scatter: " + std::to_string(xs.size()) + " points but " +
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
  check_xy("ad::plot::Axes::scatter", xs, ys);
  if (colors.size() != xs.size())
    throw ad::Error("ad::plot::Axes::scatter: " + std::to_string(xs.size()) + " points but " +
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
    throw ad::Error("ad::plot::Axes::scatter: expected points X [n, 2], got " +
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
  return scatter(xs, ys, class_ids("ad::plot::Axes::scatter", y, n), class_names, radius);
}

Axes& Axes::path(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label,
                 std::optional<Color> color, double width) {
  check_xy("ad::plot::Axes::path", xs, ys);
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
  check_field("ad::plot::Axes::heatmap", field);
  if (std::isnan(field.min())) throw ad::Error("ad::plot::Axes::heatmap: the field holds no finite value (empty data)");
  if (std::isfinite(options.vmin) && std::isfinite(options.vmax) && !(options.vmin < options.vmax))
    throw ad::Error("ad::plot::Axes::heatmap: need vmin < vmax, got " + std::to_string(options.vmin) + ", " +
                    std::to_string(options.vmax));
  if (!std::is_sorted(options.levels.begin(), options.levels.end()))
    throw ad::Error("ad::plot::Axes::heatmap: the levels must be increasing");
  Series s;
  s.kind = Series::Kind::Heatmap;
  s.field = field;
  s.heat = options;
  series_.push_back(std::move(s));
  return *this;
}

Axes& Axes::contour(const Field& field, const std::vector<double>& levels, Color color, double width,
                    const std::string& label, bool dashed) {
  check_field("ad::plot::Axes::contour", field);
  if (levels.empty())
    throw ad::Error("ad::plot::Axes::contour: no levels given (e.g. {0.5}, or ad::plot::linear_levels)");
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
    throw ad::Error("ad::plot::Axes::filled_contour: no levels given (e.g. ad::plot::log_levels(lo, hi, 12))");
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

// ================================================================ ticks and layout

namespace {

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

}  // namespace

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

}  // namespace ad::plot
