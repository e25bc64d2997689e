// Progress: the exact line drawn for a fake clock (bar, percent, ETA), in-place redrawing with
// blanking, rate limiting, when it draws at all (Auto / Always / Never), finishing, and the errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <sstream>
#include <string>

#include "adgraph/report/progress.h"
#include "tests/test_util.h"

namespace {

using ad::report::Display;
using ad::report::Progress;
using ad::report::ProgressOptions;
using ad::testing::contains;
using ad::testing::error_of;

// A clock the test moves by hand.
struct FakeClock {
  double t = 0;
  std::function<double()> fn() {
    return [this] { return t; };
  }
};

// Options drawing into `os` on every update unless `interval` says otherwise.
ProgressOptions to(std::ostringstream& os, FakeClock& clock, int bar = 10, double interval = 0.1) {
  return {.out = &os, .mode = Display::Always, .min_interval = interval, .bar_width = bar, .clock = clock.fn()};
}

TEST(Progress, DrawsTheExactLine) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("train", 10, to(os, clock));
  EXPECT_TRUE(p.enabled());
  EXPECT_EQ(os.str(), "");  // nothing before the first update
  clock.t = 8;
  p.update(4, {{"loss", 0.4312}, {"acc", 0.912}});
  // 4 of 10: 4 of 10 bar cells, 40%; 8 s for 4 steps = 2 s a step, 6 steps left: 12 s.
  const std::string first = "train [####------]  40%   4/10  0:08 eta 0:12  loss 0.4312  acc 0.912";
  EXPECT_EQ(p.line(), first);
  EXPECT_EQ(os.str(), "\r" + first);

  clock.t = 20;
  p.update(10, {{"loss", 0.1}});
  // The final line has no ETA; it is shorter, so the rest of the old one is blanked, then '\n'.
  const std::string last = "train [##########] 100%  10/10  0:20  loss 0.1";
  ASSERT_LT(last.size(), first.size());
  EXPECT_EQ(os.str(), "\r" + first + "\r" + last + std::string(first.size() - last.size(), ' ') + "\n");
  EXPECT_TRUE(p.finished());
}

TEST(Progress, EtaInHoursAndUnknownAtZero) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("", 100, to(os, clock, /*bar=*/0));
  clock.t = 5;
  p.update(0);
  EXPECT_EQ(p.line(), "  0%    0/100  0:05 eta -:--");  // no step done: no mean time per step yet
  clock.t = 60;
  p.update(1);
  // 60 s a step, 99 steps left: 5940 s = 1 h 39 min.
  EXPECT_EQ(p.line(), "  1%    1/100  1:00 eta 1:39:00");
  clock.t = 61;
  p.update(99);  // 99.x% shows as 99, never 100 before the end
  EXPECT_TRUE(contains(p.line(), " 99%   99/100"));
}

TEST(Progress, RateLimited) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("r", 10, to(os, clock, 0));  // at most every 0.1 s
  p.update(1);                            // t = 0: the first update draws
  const std::string after_first = os.str();
  EXPECT_EQ(after_first, "\rr  10%   1/10  0:00 eta 0:00");
  clock.t = 0.05;
  p.update(2);
  clock.t = 0.0999;
  p.update(3);
  EXPECT_EQ(os.str(), after_first);  // within 0.1 s of the last drawing: nothing
  clock.t = 0.1;
  p.update(4);  // 0.1 s later: drawn
  EXPECT_EQ(os.str(), after_first + "\rr  40%   4/10  0:00 eta 0:00");
  const std::string after_second = os.str();
  clock.t = 0.15;
  p.update(5);
  EXPECT_EQ(os.str(), after_second);
  clock.t = 0.16;
  p.update(10);  // the final update is drawn however soon it comes
  const std::string last = "r 100%  10/10  0:00", before = "r  40%   4/10  0:00 eta 0:00";
  EXPECT_EQ(os.str(), after_second + "\r" + last + std::string(before.size() - last.size(), ' ') + "\n");
}

TEST(Progress, ZeroIntervalDrawsEveryUpdate) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("z", 3, to(os, clock, 0, 0.0));
  p.step();
  p.step();
  EXPECT_EQ(os.str(), "\rz  33%  1/3  0:00 eta 0:00\rz  66%  2/3  0:00 eta 0:00");
  EXPECT_EQ(p.count(), 2);
}

TEST(Progress, FinishDrawsThePendingStateOnce) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("f", 10, to(os, clock, 0));
  p.update(1);
  clock.t = 0.01;
  p.update(2, {{"loss", 0.5}});  // not drawn: too soon
  p.finish();
  EXPECT_EQ(os.str(), "\rf  10%   1/10  0:00 eta 0:00\rf  20%   2/10  0:00 eta 0:00  loss 0.5\n");
  p.finish();  // nothing more
  EXPECT_EQ(os.str(), "\rf  10%   1/10  0:00 eta 0:00\rf  20%   2/10  0:00 eta 0:00  loss 0.5\n");
  EXPECT_TRUE(contains(error_of([&] { p.update(3); }), "already finished"));
}

TEST(Progress, DestructorEndsADrawnLine) {
  std::ostringstream os;
  FakeClock clock;
  {
    Progress p("d", 5, to(os, clock, 0));
    p.update(1);
    clock.t = 0.01;
    p.update(2);  // pending
  }               // e.g. an early stop: the latest state is drawn and the line ended
  EXPECT_EQ(os.str(), "\rd  20%  1/5  0:00 eta 0:00\rd  40%  2/5  0:00 eta 0:00\n");

  std::ostringstream quiet;
  { Progress p("never drawn", 5, to(quiet, clock)); }
  EXPECT_EQ(quiet.str(), "");  // nothing drawn: nothing to end
}

TEST(Progress, MetricsStayUntilReplaced) {
  std::ostringstream os;
  FakeClock clock;
  Progress p("m", 4, to(os, clock, 0, 0.0));
  p.update(1, {{"loss", 1.0}});
  p.update(2);
  EXPECT_TRUE(contains(p.line(), "  loss 1"));
  p.update(3, {{"acc", 0.5}});
  EXPECT_FALSE(contains(p.line(), "loss"));
  EXPECT_TRUE(contains(p.line(), "  acc 0.5"));
}

TEST(Progress, CutToMaxWidth) {
  std::ostringstream os;
  FakeClock clock;
  ProgressOptions o = to(os, clock);
  o.max_width = 20;
  Progress p("a long label", 10, o);
  p.update(1);
  const std::string drawn = os.str();
  ASSERT_EQ(drawn.size(), 20u);
  EXPECT_EQ(drawn[0], '\r');
  EXPECT_EQ(drawn.substr(1), p.line().substr(0, 19));
}

TEST(Progress, AutoDrawsOnlyOnATerminal) {
  std::ostringstream os;
  Progress p("auto", 3, {.out = &os});  // Auto: an ostringstream is no terminal
  EXPECT_FALSE(p.enabled());
  p.update(1, {{"loss", 1.0}});
  p.update(3);
  EXPECT_EQ(os.str(), "");
  EXPECT_TRUE(p.finished());  // counting works the same
  EXPECT_EQ(p.count(), 3);
}

TEST(Progress, NeverDrawsAndCountsTheSame) {
  std::ostringstream os;
  Progress p("never", 2, {.out = &os, .mode = Display::Never});
  p.step();
  p.step();
  EXPECT_EQ(os.str(), "");
  // The errors do not depend on the mode either.
  EXPECT_TRUE(contains(error_of([&] { p.step(); }), "already finished"));
}

TEST(Progress, Errors) {
  std::ostringstream os;
  const std::string total = error_of([&] { Progress p("x", 0, {.out = &os}); });
  EXPECT_TRUE(contains(total, "ad::report::Progress::Progress: total is 0")) << total;
  EXPECT_TRUE(contains(total, ">= 1")) << total;

  const std::string nan =
      error_of([&] { Progress p("x", 3, {.out = &os, .min_interval = std::numeric_limits<double>::quiet_NaN()}); });
  EXPECT_TRUE(contains(nan, "ad::report::Progress::Progress: min_interval is nan")) << nan;
  EXPECT_TRUE(contains(nan, "finite number of seconds >= 0")) << nan;
  EXPECT_TRUE(contains(error_of([&] { Progress p("x", 3, {.out = nullptr}); }), "options.out is null"));
  EXPECT_TRUE(contains(error_of([&] { Progress p("x", 3, {.out = &os, .bar_width = -1}); }), "bar_width is -1"));

  Progress p("x", 10, {.out = &os});
  p.update(5);
  const std::string back = error_of([&] { p.update(3); });
  EXPECT_TRUE(contains(back, "ad::report::Progress::update: count 3 is below the previous count 5")) << back;
  EXPECT_TRUE(contains(back, "counts only go forward")) << back;
  const std::string past = error_of([&] { p.update(11); });
  EXPECT_TRUE(contains(past, "ad::report::Progress::update: count 11 is past the total 10; pass at most 10")) << past;
  EXPECT_EQ(p.count(), 5);  // unchanged by the failed calls
  p.update(9);
  p.step();
  const std::string step = error_of([&] { p.step(); });
  EXPECT_TRUE(contains(step, "ad::report::Progress::step: the line 'x' is already finished (count 10 of 10)")) << step;
}

TEST(Progress, StepPastTotalNamesStep) {
  std::ostringstream os;
  Progress p("s", 1, {.out = &os});
  p.finish();  // finished early
  EXPECT_TRUE(contains(error_of([&] { p.step(); }), "ad::report::Progress::step"));
}

TEST(Format, Durations) {
  using ad::report::format_duration;
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(7.9), "0:07");  // whole seconds
  EXPECT_EQ(format_duration(754), "12:34");
  EXPECT_EQ(format_duration(3599.99), "59:59");
  EXPECT_EQ(format_duration(3600), "1:00:00");
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(100 * 3600 + 5), "100:00:05");
  EXPECT_EQ(format_duration(-3), "0:00");
  EXPECT_EQ(format_duration(std::nan("")), "-:--");
  EXPECT_EQ(format_duration(std::numeric_limits<double>::infinity()), "-:--");
}

TEST(Format, Metrics) {
  using ad::report::format_value;
  EXPECT_EQ(format_value(0.4312), "0.4312");
  EXPECT_EQ(format_value(0.912), "0.912");
  EXPECT_EQ(format_value(0.123456), "0.1235");
  EXPECT_EQ(format_value(12346.0), "1.235e+04");
  EXPECT_EQ(format_value(2.0), "2");
  EXPECT_EQ(format_value(std::nan("")), "nan");
  EXPECT_EQ(ad::report::format_metrics({{"loss", 0.4312}, {"acc", 0.912}}), "loss 0.4312  acc 0.912");
  EXPECT_EQ(ad::report::format_metrics({}), "");
}

}  // namespace
