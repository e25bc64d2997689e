#pragma once
// The MLP training benchmark, shared by our implementation and the libtorch peer: same shapes,
// same data, same optimizer settings; each returns milliseconds per training step.
#include <cstdint>
#include <vector>

namespace bench {

struct MlpCase {
  const char* name;
  std::vector<std::int64_t> sizes;  // layer widths, e.g. {64, 256, 256, 10}
  std::int64_t batch;
  std::int64_t steps;           // training steps timed
  std::vector<float> x;         // [samples, sizes.front()], row-major
  std::vector<std::int64_t> y;  // [samples] class indices
};

// ms per step (forward, softmax cross-entropy, backward, Adam step) over case.steps steps,
// cycling through the samples in order; best of `reps` runs.
double run_ours(const MlpCase& c, int reps);
double run_torch(const MlpCase& c, int reps);  // only when built with libtorch
bool have_torch();

}  // namespace bench
