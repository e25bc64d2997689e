#pragma once
// The training benchmarks of bench_cnn, shared by our implementation and the libtorch peer, in
// float32, Adam (lr 1e-3), softmax cross-entropy, on the same random batches:
//   CNN: LeNet-style (conv 6@5x5, ReLU, max-pool 2, conv 16@5x5, ReLU, max-pool 2, 256-120-84-10
//        with ReLU);
//   LSTM: a 2-layer LSTM (PyTorch's layout [seq, batch, input]), then a Linear to the classes on
//        the last time step's output.
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

struct LstmCase {
  std::int64_t seq = 32, batch = 32, input = 32, hidden = 128, layers = 2, classes = 10;
  std::int64_t steps = 10;      // training steps timed
  std::vector<float> x;         // [seq, batch, input]
  std::vector<std::int64_t> y;  // [batch] class indices
};

// ms per step (forward, loss, backward, Adam step); best of `reps` runs on `threads` threads.
double lstm_ours(const LstmCase& c, int reps, int threads);
double lstm_torch(const LstmCase& c, int reps, int threads);  // only when built with libtorch

}  // namespace bench
