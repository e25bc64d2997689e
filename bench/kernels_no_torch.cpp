// Built when libtorch is not installed: the peer is skipped.
#include <stdexcept>

#include "bench/kernels_common.h"

namespace bench {

bool have_torch() { return false; }
Timed run_torch(Kernel, int, int) { throw std::logic_error("built without libtorch"); }

}  // namespace bench
