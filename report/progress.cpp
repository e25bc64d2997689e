#include "adgraph/report/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <ostream>

#include "adgraph/autodiff/dtype.h"  // ad::Error

namespace ad::report {
namespace {

// The file descriptor behind the standard streams; -1 for any other stream.
int fd_of(const std::ostream* out) {
  if (out == &std::cout) return STDOUT_FILENO;
  if (out == &std::cerr || out == &std::clog) return STDERR_FILENO;
  return -1;
}

bool is_terminal(const std::ostream* out) {
  const int fd = fd_of(out);
  return fd >= 0 && ::isatty(fd) == 1;
}

// The terminal's number of columns, 0 when unknown.
int terminal_columns(const std::ostream* out) {
  winsize ws{};
  if (!is_terminal(out) || ::ioctl(fd_of(out), TIOCGWINSZ, &ws) != 0) return 0;
  return ws.ws_col;
}

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// floor(count / total * scale) for 0 <= count <= total, exact unless count * scale overflows.
std::int64_t part(std::int64_t count, std::int64_t total, std::int64_t scale) {
  if (count <= std::numeric_limits<std::int64_t>::max() / std::max<std::int64_t>(scale, 1))
    return count * scale / total;
  return std::min(scale, static_cast<std::int64_t>(static_cast<double>(count) / static_cast<double>(total) * scale));
}

std::string str(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds > 9.0e15) return "-:--";
  const auto s = static_cast<long long>(std::floor(std::max(seconds, 0.0)));
  char buf[48];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

Progress::Progress(std::string label, std::int64_t total, ProgressOptions options)
    : label_(std::move(label)), total_(total), options_(std::move(options)) {
  const std::string op = "ad::report::Progress::Progress: ";
  if (total < 1)
    throw ad::Error(op + "total is " + std::to_string(total) +
                    "; it must be >= 1 (the number of epochs or steps the loop runs)");
  if (options_.out == nullptr)
    throw ad::Error(op + "options.out is null; pass a stream (e.g. &std::cerr), or mode Display::Never");
  if (!std::isfinite(options_.min_interval) || options_.min_interval < 0)
    throw ad::Error(op + "min_interval is " + str(options_.min_interval) +
                    "; it must be a finite number of seconds >= 0 (0 draws every update)");
  if (options_.bar_width < 0 || options_.max_width < 0)
    throw ad::Error(op + "bar_width is " + std::to_string(options_.bar_width) + " and max_width " +
                    std::to_string(options_.max_width) + "; both must be >= 0 (0: no bar, no width limit)");
  if (!options_.clock) options_.clock = steady_seconds;
  switch (options_.mode) {
    case Display::Auto:
      enabled_ = is_terminal(options_.out);
      break;
    case Display::Always:
      enabled_ = true;
      break;
    case Display::Never:
      enabled_ = false;
      break;
  }
  max_width_ = options_.max_width > 0 ? options_.max_width : (enabled_ ? terminal_columns(options_.out) : 0);
  start_ = now_ = options_.clock();
}

Progress::~Progress() {
  if (!drawn_ || finished_) return;
  try {
    finish();
  } catch (...) {  // a failing stream must not terminate the program from a destructor
  }
}

void Progress::update(std::int64_t count, const Metrics& metrics) {
  advance("ad::report::Progress::update", count, metrics);
}

void Progress::step(const Metrics& metrics) { advance("ad::report::Progress::step", count_ + 1, metrics); }

void Progress::advance(const char* op, std::int64_t count, const Metrics& metrics) {
  const std::string where = std::string(op) + ": ";
  if (finished_)
    throw ad::Error(where + "the line '" + label_ + "' is already finished (count " + std::to_string(count_) + " of " +
                    std::to_string(total_) + "); start a new Progress for another run");
  if (count < count_)
    throw ad::Error(where + "count " + std::to_string(count) + " is below the previous count " +
                    std::to_string(count_) + "; counts only go forward (pass the number of steps done so far)");
  if (count > total_)
    throw ad::Error(where + "count " + std::to_string(count) + " is past the total " + std::to_string(total_) +
                    "; pass at most " + std::to_string(total_) + ", or construct the Progress with the real total");
  count_ = count;
  if (!metrics.empty()) metrics_ = metrics;
  now_ = options_.clock();
  pending_ = true;
  if (count_ == total_) {
    finish();
    return;
  }
  // Written so that a NaN clock draws rather than never drawing again.
  if (enabled_ && (!drawn_ || !(now_ - last_draw_ < options_.min_interval))) draw();
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (!enabled_) return;
  if (pending_ || !drawn_) draw();
  *options_.out << '\n' << std::flush;
}

std::string Progress::line() const {
  std::string s = label_.empty() ? std::string() : label_ + ' ';
  if (options_.bar_width > 0) {
    const auto width = static_cast<std::size_t>(options_.bar_width);
    const auto filled = static_cast<std::size_t>(part(count_, total_, options_.bar_width));
    s += '[' + std::string(filled, '#') + std::string(width - filled, '-') + "] ";
  }
  std::int64_t percent = part(count_, total_, 100);
  if (count_ < total_) percent = std::min<std::int64_t>(percent, 99);  // 100% only when done
  const std::string total = std::to_string(total_);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%3lld%%  %*lld/%s", static_cast<long long>(percent), static_cast<int>(total.size()),
                static_cast<long long>(count_), total.c_str());
  s += buf;
  const double elapsed = now_ - start_;
  s += "  " + format_duration(elapsed);
  if (count_ < total_) {
    const double left = static_cast<double>(total_ - count_);
    s += " eta " + (count_ > 0 ? format_duration(elapsed / static_cast<double>(count_) * left) : "-:--");
  }
  if (!metrics_.empty()) s += "  " + format_metrics(metrics_);
  return s;
}

void Progress::draw() {
  std::string text = line();
  if (max_width_ > 0 && text.size() >= static_cast<std::size_t>(max_width_))
    text.resize(static_cast<std::size_t>(max_width_ - 1));  // the last column would wrap on some terminals
  std::ostream& out = *options_.out;
  out << '\r' << text;
  if (text.size() < last_length_) out << std::string(last_length_ - text.size(), ' ');  // blank the old rest
  out << std::flush;
  last_length_ = text.size();
  last_draw_ = now_;
  drawn_ = true;
  pending_ = false;
}

}  // namespace ad::report
