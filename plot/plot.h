#pragma once
// Small plotting library on cairo: line plots (loss curves, optionally log-scale y), scatter
// plots by class, heatmaps and decision boundaries, filled contours with iso-lines for loss
// surfaces plus an optimizer's path, several panels side by side. save() writes PNG or SVG,
// chosen by the file extension.
//
//   ad::plot::Figure fig;                                   // one 640 x 480 panel
//   fig.ax().title("training").xlabel("epoch").ylabel("loss").log_y();
//   fig.ax().line(ad::plot::range(losses.size()), losses, "train");
//   fig.save("out/loss.png");
//
//   ad::plot::GridSpec g = ad::plot::GridSpec::around(X, 0.5);   // X [n, 2]
//   ad::plot::Field p = ad::plot::Field::evaluate(g, [&](const ad::Tensor& pts) { return model(pts).sigmoid(); });
//   ad::plot::Figure f2 = ad::plot::Figure::subplots(2, 3);      // six 360 x 320 panels
//   f2.panel(0).title("hidden = 1").decision_boundary(p, X, y);
//   f2.save("out/boundaries.svg");
//
// Every error (mismatched lengths, empty data, bad grids, unknown extension, unwritable path)
// throws ad::Error naming the call and the fix.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adgraph/autodiff/tensor.h"

namespace ad::plot {

// ---------------------------------------------------------------- colours

struct Color {
  double r = 0, g = 0, b = 0, a = 1;  // each in [0, 1]

  static Color rgb(int r8, int g8, int b8, double alpha = 1.0);  // 0-255 channels
  static Color hex(std::string_view code);                       // "#1f77b4" or "1f77b4"
  Color with_alpha(double alpha) const { return {r, g, b, alpha}; }
  Color lighter(double t) const;  // mixed with white: t = 0 unchanged, 1 white
  Color darker(double t) const;   // mixed with black
  bool operator==(const Color&) const = default;
};

// Colour i of the class/series palette (cycles after 10): blue, red, green, orange, purple,
// brown, pink, grey, olive, cyan. Class 0 is blue and class 1 red, like the BlueRed map's ends.
Color palette(int i);

enum class Colormap {
  Viridis,  // perceptual dark purple -> yellow (loss surfaces)
  BlueRed,  // diverging blue -> white -> red (probabilities: 0 blue, 0.5 white, 1 red)
  Gray,     // black -> white
  Classes,  // value rounded to an integer k -> palette(k) (decision regions of k classes)
};
// The colour of t in [0, 1] (clamped); for Classes, t is the class id.
Color colormap(Colormap cm, double t);

// ---------------------------------------------------------------- grids of values

// A regular grid over [x0, x1] x [y0, y1]: nx points along x (including both ends), ny along y.
struct GridSpec {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  int nx = 150, ny = 150;

  double x(int i) const { return nx == 1 ? x0 : x0 + (x1 - x0) * i / (nx - 1); }
  double y(int j) const { return ny == 1 ? y0 : y0 + (y1 - y0) * j / (ny - 1); }
  void validate(const char* op) const;  // throws ad::Error unless x0 < x1, y0 < y1, nx, ny >= 2
  // The bounding box of the first two columns of X [n, >= 2], widened by `margin` on each side.
  static GridSpec around(const ad::Tensor& X, double margin = 0.5, int nx = 150, int ny = 150);
};

// The grid points as a Float64 tensor [ny * nx, 2]; row j * nx + i is (x(i), y(j)) (x fastest),
// the order Field expects its values in: feed it to a model, pass the output to Field.
ad::Tensor grid_points(const GridSpec& grid);

// Values on a grid: z[j * nx + i] is the value at (x(i), y(j)). NaN values are left blank.
struct Field {
  GridSpec grid;
  std::vector<double> z;

  Field() = default;
  Field(const GridSpec& g, std::vector<double> values);  // throws unless values.size() == nx * ny
  Field(const GridSpec& g, const ad::Tensor& values);    // any shape with nx * ny elements
  // f(x, y) at every grid point.
  static Field sample(const GridSpec& g, const std::function<double(double, double)>& f);
  // f(grid_points(g)) under NoGradGuard; f returns nx * ny values ([N] or [N, 1]).
  static Field evaluate(const GridSpec& g, const std::function<ad::Tensor(const ad::Tensor&)>& f);

  double at(int i, int j) const {
    return z[static_cast<std::size_t>(j) * static_cast<std::size_t>(grid.nx) + static_cast<std::size_t>(i)];
  }
  double min() const;  // over the finite values (NaN when none)
  double max() const;
};

// n evenly spaced values from lo to hi (both included); n >= 2.
std::vector<double> linear_levels(double lo, double hi, int n);
// n values from lo to hi (0 < lo < hi) evenly spaced in log scale (loss surfaces).
std::vector<double> log_levels(double lo, double hi, int n);
// start, start + step, ... (n values): the x of a curve given per epoch / step.
std::vector<double> range(std::size_t n, double start = 0.0, double step = 1.0);
// The values of a tensor (any dtype), row-major.
std::vector<double> values(const ad::Tensor& t);

// ---------------------------------------------------------------- axes

// Where the legend box goes inside the data area. Best: the corner covering the fewest drawn
// points and line samples (ties: upper right, upper left, lower left, lower right).
enum class Legend { Best, UpperRight, UpperLeft, LowerLeft, LowerRight, None };

struct HeatmapOptions {
  Colormap cmap = Colormap::Viridis;
  double vmin = std::numeric_limits<double>::quiet_NaN();  // NaN: the field's finite min
  double vmax = std::numeric_limits<double>::quiet_NaN();  // NaN: the field's finite max
  std::vector<double> levels;  // non-empty: filled contours, one flat colour per band between levels
  double lighten = 0.0;        // mix the colours with white (0..1), e.g. under scatter points
  bool colorbar = true;        // a colour scale at the right of the panel (not for Classes)
  std::string colorbar_label;
};

// Pixel rectangle (figure coordinates, origin top-left).
struct Rect {
  double x = 0, y = 0, w = 0, h = 0;
};

class Axes {
 public:
  // ---- decoration
  Axes& title(std::string text);
  Axes& xlabel(std::string text);
  Axes& ylabel(std::string text);
  Axes& xlim(double lo, double hi);  // fixed limits (default: fitted to the data)
  Axes& ylim(double lo, double hi);
  Axes& log_y(bool on = true);         // log10 y axis: non-positive y values are left out
  Axes& legend(Legend where);          // default Best; shown when some series has a label
  Axes& grid(bool on = true);          // light grid lines at the ticks (default on)
  Axes& equal_aspect(bool on = true);  // one unit in x spans as many pixels as in y

  // ---- series; `color` unset takes the next palette colour
  // A polyline; non-finite points break it. Throws when xs and ys differ in length or are empty.
  Axes& line(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
             std::optional<Color> color = {}, double width = 2.0, bool dashed = false);
  // Points of one colour.
  Axes& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
                std::optional<Color> color = {}, double radius = 3.5);
  // Points coloured by class id (palette(id)); `class_names` (when given) label the legend.
  Axes& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<int>& classes,
                const std::vector<std::string>& class_names = {}, double radius = 3.5);
  // Points with one colour each.
  Axes& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<Color>& colors,
                double radius = 3.5);
  // X [n, 2] (float) coloured by y (class ids [n], Int64 or 0/1 floats, also [n, 1]).
  Axes& scatter(const ad::Tensor& X, const ad::Tensor& y, const std::vector<std::string>& class_names = {},
                double radius = 3.5);
  // A polyline with a marker at each point (up to 60 points), a hollow circle at the start and
  // a filled one at the end: an optimizer's trajectory.
  Axes& path(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
             std::optional<Color> color = {}, double width = 1.5);

  // Colours a field over its grid (bilinear between grid points). Drawn below every other series.
  Axes& heatmap(const Field& field, const HeatmapOptions& options = {});
  // Iso-lines of a field at `levels` (marching squares). Throws when levels is empty.
  Axes& contour(const Field& field, const std::vector<double>& levels, Color color = Color{0, 0, 0, 0.8},
                double width = 1.0, const std::string& label = {}, bool dashed = false);
  // Filled contours: heatmap with one colour per band between `levels`, plus iso-lines at them.
  Axes& filled_contour(const Field& field, const std::vector<double>& levels, Colormap cmap = Colormap::Viridis,
                       const std::string& colorbar_label = {});
  // A binary classifier's picture: P(class 1) over the grid in light BlueRed (0 blue, 1 red),
  // the 0.5 contour in black, and the points X [n, 2] coloured by y on top (when X is defined).
  Axes& decision_boundary(const Field& probability, const ad::Tensor& X = {}, const ad::Tensor& y = {});

  bool empty() const { return series_.empty(); }

 private:
  friend struct Painter;
  struct Series {
    enum class Kind { Line, Scatter, Path, Heatmap, Contour } kind = Kind::Line;
    std::vector<double> xs, ys;
    std::vector<Color> colors;  // scatter: per point (empty: `color`)
    Color color;
    double width = 2, radius = 3.5;
    bool dashed = false;
    std::string label;
    std::optional<Field> field;
    HeatmapOptions heat;
    std::vector<double> levels;
  };
  struct LegendEntry {
    enum class Kind { Line, Marker, LineMarker } kind = Kind::Line;
    std::string label;
    Color color;
    double width = 2;
    bool dashed = false;
  };
  Color next_color();

  std::string title_, xlabel_, ylabel_;
  std::optional<std::pair<double, double>> xlim_, ylim_;
  bool log_y_ = false, grid_ = true, equal_aspect_ = false;
  Legend legend_ = Legend::Best;
  std::vector<Series> series_;
  std::vector<LegendEntry> legend_entries_;
  int color_index_ = 0;
};

// ---------------------------------------------------------------- figure

class Figure {
 public:
  // One panel of width x height pixels (PNG) or points (SVG).
  explicit Figure(int width = 640, int height = 480);
  // rows x cols panels of panel_width x panel_height each, filled row by row.
  static Figure subplots(int rows, int cols, int panel_width = 360, int panel_height = 320);

  Axes& ax(int row = 0, int col = 0);  // throws ad::Error when out of range
  const Axes& ax(int row = 0, int col = 0) const;
  Axes& panel(int index);  // row-major: panel(i) = ax(i / cols, i % cols)
  int rows() const { return rows_; }
  int cols() const { return cols_; }
  int width() const { return cols_ * panel_w_; }
  int height() const;  // panels plus the suptitle band
  Figure& suptitle(std::string text);

  // Single-panel shorthands: each calls the Axes method of the same name on ax(0, 0) and
  // returns the figure, so `fig.title("loss").log_y().line(xs, ys, "train")` works.
  Figure& title(std::string text);
  Figure& xlabel(std::string text);
  Figure& ylabel(std::string text);
  Figure& xlim(double lo, double hi);
  Figure& ylim(double lo, double hi);
  Figure& log_y(bool on = true);
  Figure& legend(Legend where);
  Figure& line(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
               std::optional<Color> color = {}, double width = 2.0, bool dashed = false);
  Figure& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
                  std::optional<Color> color = {}, double radius = 3.5);
  Figure& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<int>& classes,
                  const std::vector<std::string>& class_names = {}, double radius = 3.5);
  Figure& scatter(const std::vector<double>& xs, const std::vector<double>& ys, const std::vector<Color>& colors,
                  double radius = 3.5);
  Figure& scatter(const ad::Tensor& X, const ad::Tensor& y, const std::vector<std::string>& class_names = {},
                  double radius = 3.5);
  Figure& path(const std::vector<double>& xs, const std::vector<double>& ys, const std::string& label = {},
               std::optional<Color> color = {}, double width = 1.5);
  Figure& heatmap(const Field& field, const HeatmapOptions& options = {});
  Figure& contour(const Field& field, const std::vector<double>& levels, Color color = Color{0, 0, 0, 0.8},
                  double width = 1.0, const std::string& label = {}, bool dashed = false);
  Figure& filled_contour(const Field& field, const std::vector<double>& levels, Colormap cmap = Colormap::Viridis,
                         const std::string& colorbar_label = {});
  Figure& decision_boundary(const Field& probability, const ad::Tensor& X = {}, const ad::Tensor& y = {});

  // Writes the picture: ".png" (cairo image surface) or ".svg" (cairo SVG surface), by the
  // extension (any case). Throws ad::Error on another extension or when the file cannot be written.
  void save(const std::string& path) const;
  // The pixel rectangle of a panel's data area (inside the frame), as drawn by save().
  Rect plot_area(int row = 0, int col = 0) const;

 private:
  Figure(int rows, int cols, int panel_width, int panel_height, bool);
  int rows_ = 1, cols_ = 1, panel_w_ = 640, panel_h_ = 480;
  std::string suptitle_;
  std::vector<Axes> axes_;
};

}  // namespace ad::plot
