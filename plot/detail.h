#pragma once
// Private to the plot library: declarations shared by plot/*.cpp (not installed, not for callers).
//   field.cpp   colours, colormaps, GridSpec, Field, levels; heatmaps, contours, colour bars
//   axes.cpp    the Axes API; ticks, data limits and the panel layout
//   paint.cpp   text helpers; lines, scatter points, paths, legend, frame and titles of a panel
//   figure.cpp  the Figure API, cairo surfaces, save()
#include <cairo.h>

#include <cmath>
#include <numbers>
#include <string>
#include <vector>

#include "adgraph/plot/plot.h"

namespace ad::plot {
namespace detail {

inline constexpr double kTitleFont = 14, kLabelFont = 12, kTickFont = 10.5, kLegendFont = 10.5, kSupFont = 16;
inline constexpr double kTickLen = 5, kPad = 8;
inline constexpr double kColorbarWidth = 14;
inline constexpr double kPi = std::numbers::pi;

// Text (paint.cpp).
void set_font(cairo_t* cr, double size, bool bold = false);
double text_width(cairo_t* cr, const std::string& s);
double font_height(cairo_t* cr);
void set_color(cairo_t* cr, const Color& c);
// Text anchored at (x, y): ha 0 left / 0.5 centre / 1 right; va 0 top / 0.5 middle / 1 bottom;
// `angle` rotates around the anchor (-pi/2: reading upwards).
void draw_text(cairo_t* cr, const std::string& s, double x, double y, double ha, double va, double angle = 0);

struct Tick {
  double v;
  std::string label;
};

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

}  // namespace detail

// Lays out and draws one Axes; a friend of Axes.
struct Painter {
  using Series = Axes::Series;

  static detail::PanelLayout layout(cairo_t* cr, const Axes& a, Rect panel);
  static void draw(cairo_t* cr, const Axes& a, const detail::PanelLayout& L, double raster_scale);

 private:
  static void limits(const Axes& a, detail::PanelLayout& L);
  static void heat_range(const Series& s, double& vmin, double& vmax);
  static void draw_heatmap(cairo_t* cr, const Series& s, const detail::PanelLayout& L, double scale);
  static void draw_contour(cairo_t* cr, const Series& s, const detail::PanelLayout& L);
  static void draw_polyline(cairo_t* cr, const Series& s, const detail::PanelLayout& L);
  static void draw_points(cairo_t* cr, const Series& s, const detail::PanelLayout& L);
  static void draw_path(cairo_t* cr, const Series& s, const detail::PanelLayout& L);
  static void draw_colorbar(cairo_t* cr, const Series& s, const detail::PanelLayout& L);
  static void draw_legend(cairo_t* cr, const Axes& a, const detail::PanelLayout& L);
};

}  // namespace ad::plot
