// Built when libtorch is not installed: the peer is skipped.
#include <stdexcept>

#include "bench/mlp_common.h"

namespace bench {

bool have_torch() { return false; }
double run_torch(const MlpCase&, int) { throw std::logic_error("built without libtorch"); }

}  // namespace bench
