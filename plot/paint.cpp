#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/plot/detail.h"
#include "adgraph/plot/plot.h"

namespace ad::plot {

using detail::draw_text;
using detail::font_height;
using detail::kLabelFont;
using detail::kLegendFont;
using detail::kPad;
using detail::kPi;
using detail::kTickFont;
using detail::kTickLen;
using detail::kTitleFont;
using detail::PanelLayout;
using detail::set_color;
using detail::set_font;
using detail::text_width;
using detail::Tick;

// ================================================================ text

namespace detail {

void set_font(cairo_t* cr, double size, bool bold) {
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

void draw_text(cairo_t* cr, const std::string& s, double x, double y, double ha, double va, double angle) {
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

}  // namespace detail

// ================================================================ painting a panel

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

}  // namespace ad::plot
