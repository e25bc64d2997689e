// EarlyStopping on scripted metric sequences.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "adgraph/autodiff/dtype.h"
#include "adgraph/optim/early_stopping.h"
#include "tests/test_util.h"

namespace {

using ad::testing::contains;
using ad::testing::error_of;

// Feeds metrics until step() says stop; returns the epoch (0-based) at which it did, or -1.
std::int64_t stop_epoch(ad::optim::EarlyStopping& es, const std::vector<double>& metrics) {
  for (std::size_t i = 0; i < metrics.size(); ++i)
    if (es.step(metrics[i])) return static_cast<std::int64_t>(i);
  return -1;
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovementByMinDelta) {
  ad::optim::EarlyStopping es(2, 0.1);
  // improved means m < best - 0.1:
  // e0 1.0 best; e1 0.8 < 0.9 best; e2 0.75 >= 0.7: wait 1; e3 0.72: wait 2 = patience -> stop
  EXPECT_EQ(stop_epoch(es, {1.0, 0.8, 0.75, 0.72, 0.1}), 3);
  EXPECT_TRUE(es.should_stop());
  EXPECT_EQ(es.best(), 0.8);
  EXPECT_EQ(es.best_epoch(), 1);
  EXPECT_EQ(es.epochs_without_improvement(), 2);
  EXPECT_EQ(es.epoch(), 4);
}

TEST(EarlyStopping, AnImprovementResetsTheWait) {
  ad::optim::EarlyStopping es(2, 0.1);
  // e0 1.0 best; e1 0.95 (not < 0.9) wait 1; e2 0.85 < 0.9 best, wait 0; e3 0.84 (not < 0.75) wait 1;
  // e4 0.7 < 0.75 best; e5 0.71 wait 1; e6 0.69 (not < 0.6) wait 2 -> stop
  EXPECT_EQ(stop_epoch(es, {1.0, 0.95, 0.85, 0.84, 0.7, 0.71, 0.69, 0.0}), 6);
  EXPECT_EQ(es.best(), 0.7);
  EXPECT_EQ(es.best_epoch(), 4);
}

TEST(EarlyStopping, MaxModeForAccuracies) {
  ad::optim::EarlyStopping es(3, 0.0, ad::optim::Mode::Max);
  // e0 0.5; e1 0.6; e2 0.6 (not > 0.6) wait 1; e3 0.7 best; e4..e6 lower: wait 3 -> stop at e6
  EXPECT_EQ(stop_epoch(es, {0.5, 0.6, 0.6, 0.7, 0.65, 0.69, 0.7, 0.9}), 6);
  EXPECT_EQ(es.best(), 0.7);
  EXPECT_EQ(es.best_epoch(), 3);
}

TEST(EarlyStopping, PatienceZeroStopsAtTheFirstEpochWithoutImprovement) {
  ad::optim::EarlyStopping es(0);
  EXPECT_FALSE(es.step(3.0));
  EXPECT_FALSE(es.step(2.0));
  EXPECT_TRUE(es.step(2.0));  // equal is not an improvement
  EXPECT_TRUE(es.step(1.0));  // once stopped, stays stopped (best still advances)
  EXPECT_EQ(es.best(), 1.0);
}

TEST(EarlyStopping, NaNNeverImprovesAndResetStartsOver) {
  ad::optim::EarlyStopping es(2);
  EXPECT_FALSE(es.step(std::nan("")));
  EXPECT_EQ(es.best_epoch(), -1);
  EXPECT_FALSE(es.step(1.0));
  EXPECT_FALSE(es.step(std::nan("")));
  EXPECT_TRUE(es.step(std::nan("")));
  es.reset();
  EXPECT_FALSE(es.should_stop());
  EXPECT_EQ(es.epoch(), 0);
  EXPECT_TRUE(std::isinf(es.best()));
  EXPECT_FALSE(es.step(5.0));
  EXPECT_EQ(es.best_epoch(), 0);
}

TEST(EarlyStopping, RejectsBadOptions) {
  EXPECT_TRUE(contains(error_of([] { ad::optim::EarlyStopping(-1); }), "EarlyStopping: patience must be >= 0, got -1"));
  EXPECT_TRUE(contains(error_of([] { ad::optim::EarlyStopping(1, -0.5); }),
                       "EarlyStopping: min_delta must be finite and >= 0, got -0.5"));
}

}  // namespace
