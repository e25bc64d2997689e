// History as a picture: the loss curves in one panel, the other metrics in a second one.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "adgraph/autodiff/dtype.h"  // ad::Error
#include "adgraph/plot/plot.h"
#include "adgraph/report/history.h"

namespace ad::report {
namespace {

// One panel alone is wider, so that a title above it has room.
constexpr int kPanelWidth = 520, kSinglePanelWidth = 640, kPanelHeight = 400;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_loss(const std::string& name) { return lower(name).find("loss") != std::string::npos; }

// One curve per name; a curve with a single finite point gets a marker (a line needs two).
void draw_curves(ad::plot::Axes& ax, const History& h, const std::vector<std::string>& names) {
  std::vector<double> xs;
  for (const std::int64_t e : h.epochs()) xs.push_back(static_cast<double>(e));
  for (std::size_t i = 0; i < names.size(); ++i) {
    const std::vector<double> ys = h.values(names[i]);
    const ad::plot::Color color = ad::plot::palette(static_cast<int>(i));
    ax.line(xs, ys, names[i], color);
    const auto finite = std::count_if(ys.begin(), ys.end(), [](double y) { return std::isfinite(y); });
    if (finite == 1) ax.scatter(xs, ys, {}, color);
  }
}

}  // namespace

void History::save_plot(const std::string& path, const std::string& title) const {
  const char* op = "ad::report::History::save_plot";
  if (names_.empty())
    throw ad::Error(std::string(op) + ": nothing to draw into '" + path +
                    "': the history has no metrics (record some first)");
  const std::string ext = lower(std::filesystem::path(path).extension().string());
  if (ext != ".png" && ext != ".svg")
    throw ad::Error(std::string(op) + ": '" + path + "' ends in '" + ext + "'; use .png (raster) or .svg (vector)");
  std::vector<std::string> losses, others;
  for (const auto& n : names_) (is_loss(n) ? losses : others).push_back(n);

  const int panels = (losses.empty() ? 0 : 1) + (others.empty() ? 0 : 1);
  ad::plot::Figure fig =
      ad::plot::Figure::subplots(1, panels, panels == 1 ? kSinglePanelWidth : kPanelWidth, kPanelHeight);
  if (!title.empty()) fig.suptitle(title);
  int panel = 0;
  if (!losses.empty()) {
    ad::plot::Axes& ax = fig.panel(panel++).title("loss").xlabel("epoch").ylabel("loss");
    draw_curves(ax, *this, losses);
  }
  if (!others.empty()) {
    const bool accuracies =
        std::all_of(others.begin(), others.end(), [](const std::string& n) { return lower(n).find("acc") != n.npos; });
    ad::plot::Axes& ax = fig.panel(panel++)
                             .title(accuracies ? "accuracy" : "metrics")
                             .xlabel("epoch")
                             .ylabel(accuracies ? "accuracy" : "value");
    draw_curves(ax, *this, others);
  }
  try {
    fig.save(path);  // atomic: a failed save leaves the old picture
  } catch (const ad::Error& e) {
    throw ad::Error(std::string(op) + ": " + e.what());
  }
}

void History::save(const std::string& stem, const std::string& title) const {
  write_csv(stem + ".csv");
  save_plot(stem + ".png", title);
}

}  // namespace ad::report
