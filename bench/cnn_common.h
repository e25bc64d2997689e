#pragma once
// The CNN training benchmark, shared by our implementation and the libtorch peer: LeNet-style
// (conv 6@5x5, ReLU, max-pool 2, conv 16@5x5, ReLU, max-pool 2, 256-120-84-10 with ReLU), Adam
// (lr 1e-3), softmax cross-entropy, float32, on the same random batches.
#include <cstdint>
#include <vector>

namespace bench {

struct CnnCase {
  std::int64_t batch = 64;
  std::int64_t steps = 20;      // training steps timed
  std::vector<float> x;         // [batch, 1, 28, 28]
  std::vector<std::int64_t> y;  // [batch] class indices
};

// ms per step (forward, loss, backward, Adam step); best of `reps` runs on `threads` threads.
double cnn_ours(const CnnCase& c, int reps, int threads);
double cnn_torch(const CnnCase& c, int reps, int threads);  // only when built with libtorch
bool cnn_have_torch();

}  // namespace bench
