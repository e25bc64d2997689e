// Built when libtorch is not installed: the peer is skipped.
#include <stdexcept>

#include "bench/cnn_common.h"

namespace bench {

bool cnn_have_torch() { return false; }
double cnn_torch(const CnnCase&, int, int) { throw std::logic_error("built without libtorch"); }
double lstm_torch(const LstmCase&, int, int) { throw std::logic_error("built without libtorch"); }

}  // namespace bench
