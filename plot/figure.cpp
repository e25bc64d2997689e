#include <cairo-svg.h>
#include <cairo.h>
#include <dlfcn.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "adgraph/autodiff/file.h"
#include "adgraph/plot/detail.h"
#include "adgraph/plot/plot.h"

namespace ad::plot {

using detail::draw_text;
using detail::kSupFont;
using detail::PanelLayout;
using detail::set_font;

// ================================================================ figure

Figure::Figure(int width, int height) : Figure(1, 1, width, height, true) {}

Figure::Figure(int rows, int cols, int panel_width, int panel_height, bool)
    : rows_(rows), cols_(cols), panel_w_(panel_width), panel_h_(panel_height) {
  if (rows < 1 || cols < 1 || rows > 64 || cols > 64)
    throw ad::Error("ad::plot::Figure: need 1..64 rows and columns of panels, got " + std::to_string(rows) + " x " +
                    std::to_string(cols));
  if (panel_width < 120 || panel_height < 100 || panel_width > 8000 || panel_height > 8000)
    throw ad::Error("ad::plot::Figure: a panel must be 120..8000 pixels wide and 100..8000 high, got " +
                    std::to_string(panel_width) + " x " + std::to_string(panel_height));
  axes_.resize(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
}

Figure Figure::subplots(int rows, int cols, int panel_width, int panel_height) {
  return Figure(rows, cols, panel_width, panel_height, true);
}

Axes& Figure::ax(int row, int col) { return const_cast<Axes&>(std::as_const(*this).ax(row, col)); }

const Axes& Figure::ax(int row, int col) const {
  if (row < 0 || row >= rows_ || col < 0 || col >= cols_)
    throw ad::Error("ad::plot::Figure::ax: panel (" + std::to_string(row) + ", " + std::to_string(col) +
                    ") is out of range for a " + std::to_string(rows_) + " x " + std::to_string(cols_) + " figure");
  return axes_[static_cast<std::size_t>(row * cols_ + col)];
}

Axes& Figure::panel(int index) {
  if (index < 0 || index >= rows_ * cols_)
    throw ad::Error("ad::plot::Figure::panel: index " + std::to_string(index) + " is out of range (" +
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
    throw ad::Error("ad::plot::Figure::save: unknown file extension '" + ext + "' in '" + path +
                    "'; use .png (raster) or .svg (vector)");
  release_font_caches_at_exit();
  const int W = width(), H = height();
  std::string bytes;
  SurfacePtr surface(png ? cairo_image_surface_create(CAIRO_FORMAT_ARGB32, W, H)
                         : cairo_svg_surface_create_for_stream(append_bytes, &bytes, W, H));
  if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
    throw ad::Error(std::string("ad::plot::Figure::save: cairo cannot create the surface: ") +
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
      throw ad::Error(std::string("ad::plot::Figure::save: drawing failed: ") +
                      cairo_status_to_string(cairo_status(cr.get())));
  }
  if (png) {
    const cairo_status_t st = cairo_surface_write_to_png_stream(surface.get(), append_bytes, &bytes);
    if (st != CAIRO_STATUS_SUCCESS)
      throw ad::Error(std::string("ad::plot::Figure::save: PNG encoding failed: ") + cairo_status_to_string(st));
  } else {
    cairo_surface_finish(surface.get());
    if (cairo_surface_status(surface.get()) != CAIRO_STATUS_SUCCESS)
      throw ad::Error(std::string("ad::plot::Figure::save: SVG output failed: ") +
                      cairo_status_to_string(cairo_surface_status(surface.get())));
  }
  ad::replace_file(path, bytes, "ad::plot::Figure::save");
}

}  // namespace ad::plot
